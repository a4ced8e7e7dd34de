/**
 * Byte values' encoding: a Buffer or a plain Uint8Array, the common case of a binary
 * store, is encoded and decoded without msgpackr, in exactly msgpackr's bytes
 * (test/values-bytes.test.ts compares them across every header size), so a byte
 * value reads back the same whichever path wrote it, now and after a reopen:
 * - a Buffer is a msgpack bin (c4 u8 / c5 u16 / c6 u32 length, big-endian);
 * - a plain Uint8Array is msgpackr's typed-array extension, always an ext 8/16/32
 *   (c7 / c8 / c9; the length counts the subtype byte) of type 0x74, subtype 1.
 *
 * Invariants: writeBytesEncoding writes exactly bytesEncodingSizeBytes bytes;
 * bytesStartIn accepts a range only when its header accounts for every byte of it
 * (else -1, and the caller decodes with msgpackr); a decoded value is always a fresh
 * copy, never a view of the encoding (a memtable's slab, a cached run block).
 */
import { Buffer } from 'node:buffer';
import { intrinsicLength } from './intrinsic-length.js';

const BIN_8 = 0xc4;
const BIN_16 = 0xc5;
const BIN_32 = 0xc6;
const EXT_8 = 0xc7;
const EXT_16 = 0xc8;
const EXT_32 = 0xc9;
const TYPED_ARRAY_EXTENSION = 0x74;
const TYPED_ARRAY_UINT8 = 1;

/** Bytes of msgpackr's encoding of a Buffer (`isBuffer`) or a plain Uint8Array of `length` bytes. */
export function bytesEncodingSizeBytes(length: number, isBuffer: boolean): number {
  const dataLength = isBuffer ? length : length + 1;
  const sizeBytes = dataLength < 0x100 ? 1 : dataLength < 0x10000 ? 2 : 4;
  return 1 + sizeBytes + (isBuffer ? 0 : 2) + length;
}

/** Writes msgpackr's encoding of a Buffer or a plain Uint8Array at `offset` of `out`; returns its size. */
export function writeBytesEncoding(value: Uint8Array, isBuffer: boolean, out: Uint8Array, offset: number): number {
  const length = intrinsicLength(value);
  const dataLength = isBuffer ? length : length + 1;
  const sizeBytes = dataLength < 0x100 ? 1 : dataLength < 0x10000 ? 2 : 4;
  const headerBytes = 1 + sizeBytes + (isBuffer ? 0 : 2);
  if (sizeBytes === 1) {
    out[offset] = isBuffer ? BIN_8 : EXT_8;
    out[offset + 1] = dataLength;
  } else if (sizeBytes === 2) {
    out[offset] = isBuffer ? BIN_16 : EXT_16;
    out[offset + 1] = dataLength >>> 8;
    out[offset + 2] = dataLength & 0xff;
  } else {
    out[offset] = isBuffer ? BIN_32 : EXT_32;
    out[offset + 1] = dataLength >>> 24;
    out[offset + 2] = (dataLength >>> 16) & 0xff;
    out[offset + 3] = (dataLength >>> 8) & 0xff;
    out[offset + 4] = dataLength & 0xff;
  }
  if (!isBuffer) {
    out[offset + 1 + sizeBytes] = TYPED_ARRAY_EXTENSION;
    out[offset + 2 + sizeBytes] = TYPED_ARRAY_UINT8;
  }
  out.set(value, offset + headerBytes);
  return headerBytes + length;
}

/** msgpackr's encoding of a Buffer or a plain Uint8Array, written directly into a Buffer of its own. */
export function encodeBytes(value: Uint8Array, isBuffer: boolean): Uint8Array {
  const out = Buffer.allocUnsafe(bytesEncodingSizeBytes(intrinsicLength(value), isBuffer));
  writeBytesEncoding(value, isBuffer, out, 0);
  return out;
}

/**
 * Where the array's bytes start when `encoded` is exactly a bin or a Uint8Array
 * extension (the module header's two forms), else -1.
 */
export function bytesStart(encoded: Uint8Array): number {
  return bytesStartIn(encoded, 0, encoded.length);
}

/** bytesStart of the encoding at from..to of `bytes` (relative to `from`), without a view of it. */
export function bytesStartIn(bytes: Uint8Array, from: number, to: number): number {
  const first = bytes[from];
  const length = to - from;
  let dataLength: number;
  let start: number;
  if (first === BIN_8 || first === EXT_8) {
    if (length < 2) return -1;
    dataLength = bytes[from + 1]!;
    start = 2;
  } else if (first === BIN_16 || first === EXT_16) {
    if (length < 3) return -1;
    dataLength = (bytes[from + 1]! << 8) | bytes[from + 2]!;
    start = 3;
  } else if (first === BIN_32 || first === EXT_32) {
    if (length < 5) return -1;
    dataLength = ((bytes[from + 1]! << 24) | (bytes[from + 2]! << 16) | (bytes[from + 3]! << 8) | bytes[from + 4]!) >>> 0;
    start = 5;
  } else {
    return -1;
  }
  if (first === BIN_8 || first === BIN_16 || first === BIN_32) return start + dataLength === length ? start : -1;
  // Extension: the type byte, then dataLength bytes (the subtype, then the array's bytes).
  if (dataLength < 1 || start + 1 + dataLength !== length) return -1;
  if (bytes[from + start] !== TYPED_ARRAY_EXTENSION || bytes[from + start + 1] !== TYPED_ARRAY_UINT8) return -1;
  return start + 2;
}

/**
 * Byte values up to this long are copied one byte at a time into a Buffer from
 * Node's pool (what Buffer.from gives for them too): no view of the source made
 * first and no Buffer.from dispatch. A transaction's two 8-byte reads spent about
 * as long copying their values as finding them (issue 12 profile).
 */
const BYTES_COPIED_BY_LOOP_MAX = 64;

/** A fresh copy of the bytes `encoded` holds in one of the two byte forms; undefined otherwise. */
export function decodeBytes(encoded: Uint8Array): Uint8Array | undefined {
  return decodeBytesIn(encoded, 0, encoded.length);
}

/** decodeBytes of the encoding at from..to of `bytes` (an EncodedValue's range of its source). */
export function decodeBytesIn(bytes: Uint8Array, from: number, to: number): Uint8Array | undefined {
  const start = bytesStartIn(bytes, from, to);
  if (start < 0) return undefined;
  const first = bytes[from];
  const isBuffer = first === BIN_8 || first === BIN_16 || first === BIN_32;
  const dataStart = from + start;
  const lengthBytes = to - dataStart;
  if (isBuffer && lengthBytes <= BYTES_COPIED_BY_LOOP_MAX) {
    const copy = Buffer.allocUnsafe(lengthBytes);
    for (let index = 0; index < lengthBytes; index++) copy[index] = bytes[dataStart + index]!;
    return copy;
  }
  // A view made by the constructor (subarray's species lookup costs more), copied into
  // a Buffer from Node's pool: Buffer.from(view) dispatched on the argument's kind first.
  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart, lengthBytes);
  if (!isBuffer) return new Uint8Array(data);
  const copy = Buffer.allocUnsafe(lengthBytes);
  copy.set(data);
  return copy;
}
