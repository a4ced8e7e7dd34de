/**
 * Values: validation, msgpackr encoding, and the form kept in memory.
 *
 * Every value is encoded once, at validation, before it enters the commit path:
 * that is where an unencodable or oversized value is refused, with nothing
 * stored. The encoded bytes go into the WAL record. In memory, immutable values
 * (strings, numbers, booleans, null, bigints) are kept as themselves, so a hot
 * `get` returns them without decoding; everything else is kept as its encoded
 * bytes and decoded on each read, so a caller mutating an object it wrote (or
 * read) never changes what the store holds.
 *
 * Invariant: every accepted value reads back equal to what was written, now and
 * after a reopen, on any thread: before encoding, checkValueShape (value-shape.ts)
 * refuses nesting deeper than VALUE_NESTING_DEPTH_MAX, own "__proto__" keys and
 * strings with lone surrogates anywhere in the value; after encoding, a value that
 * does not decode back is refused.
 *
 * The pure-JS msgpackr build is imported on purpose (msgpackr/pack, msgpackr/unpack):
 * the package has an optional native accelerator and this store ships no native code.
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { InvalidValueError, ValueTooLargeError } from '../errors.js';
import {
  MEMORY_BYTES_BYTES_VALUE,
  MEMORY_BYTES_ENCODED_VALUE,
  MEMORY_BYTES_HEAP_ALIGNMENT,
  MEMORY_BYTES_HEAP_NUMBER,
  MEMORY_BYTES_PACK_BUFFER,
  MEMORY_BYTES_PACK_BUFFER_TAIL,
  MEMORY_BYTES_STRING_HEADER,
  REPLAY_VALUE_SLAB_BYTES,
} from '../limits.js';
import { assert } from '../util/assert.js';
import { encodedStringSizeBytes } from './msgpack-string.js';
import { checkValueShape } from './value-shape.js';

const packOptions = { useRecords: false, moreTypes: true } as const;
const packer = new Packr(packOptions);
// copyBuffers: msgpackr otherwise returns a bin (a Buffer) as a view into the bytes it
// decodes, so a caller writing into a Buffer it read (top level or nested) wrote into
// the memtable's encoding or a cached run block.
const unpacker = new Unpackr({ ...packOptions, copyBuffers: true });

/*
 * Byte values, the common case of a binary store, skip msgpackr both ways. The bytes
 * are exactly msgpackr's (test/values-bytes.test.ts compares them across every header
 * size): a Buffer is a msgpack bin (c4 u8 / c5 u16 / c6 u32 length, big-endian); a
 * plain Uint8Array is msgpackr's typed-array extension, always an ext 8/16/32
 * (c7 / c8 / c9; the length counts the subtype byte) of type 0x74, subtype 1.
 */
const BIN_8 = 0xc4;
const BIN_16 = 0xc5;
const BIN_32 = 0xc6;
const EXT_8 = 0xc7;
const EXT_16 = 0xc8;
const EXT_32 = 0xc9;
const TYPED_ARRAY_EXTENSION = 0x74;
const TYPED_ARRAY_UINT8 = 1;

/** Bytes of msgpackr's encoding of a Buffer (`isBuffer`) or a plain Uint8Array of `length` bytes. */
function bytesEncodingSizeBytes(length: number, isBuffer: boolean): number {
  const dataLength = isBuffer ? length : length + 1;
  const sizeBytes = dataLength < 0x100 ? 1 : dataLength < 0x10000 ? 2 : 4;
  return 1 + sizeBytes + (isBuffer ? 0 : 2) + length;
}

/** Writes msgpackr's encoding of a Buffer or a plain Uint8Array at `offset` of `out`; returns its size. */
function writeBytesEncoding(value: Uint8Array, isBuffer: boolean, out: Uint8Array, offset: number): number {
  const length = value.length;
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
function encodeBytes(value: Uint8Array, isBuffer: boolean): Uint8Array {
  const out = Buffer.allocUnsafe(bytesEncodingSizeBytes(value.length, isBuffer));
  writeBytesEncoding(value, isBuffer, out, 0);
  return out;
}

/**
 * Where the array's bytes start when `encoded` is exactly a bin or a Uint8Array
 * extension (the two forms above), else -1.
 */
function bytesStart(encoded: Uint8Array): number {
  return bytesStartIn(encoded, 0, encoded.length);
}

/** bytesStart of the encoding at from..to of `bytes` (relative to `from`), without a view of it. */
function bytesStartIn(bytes: Uint8Array, from: number, to: number): number {
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
function decodeBytes(encoded: Uint8Array): Uint8Array | undefined {
  return decodeBytesIn(encoded, 0, encoded.length);
}

/** decodeBytes of the encoding at from..to of `bytes` (an EncodedValue's range of its source). */
function decodeBytesIn(bytes: Uint8Array, from: number, to: number): Uint8Array | undefined {
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
  // Buffer.from and new Uint8Array copy (a slice of a Buffer would be a Buffer: species).
  const data = bytes.subarray(dataStart, to);
  return isBuffer ? Buffer.from(data) : new Uint8Array(data);
}

/** What the memory index holds for a live version: the value itself, or its encoding. */
export type StoredValue = string | number | boolean | bigint | null | EncodedValue;

/**
 * Encoded bytes of a mutable value (object, array, Uint8Array, Date, ...): the range
 * start..start+length of `source`, which is either the encoding's own array (a
 * msgpackr encoding, a value read from a run) or, for a byte value written by a
 * commit or kept at replay, a slab shared with other values (ValueSlabs). A slab
 * value is one object of three fields (48 B) where a view of its own and this object
 * took 120 B: it lives in a memtable until the flush, so V8's scavenger copied those
 * bytes twice per put (issue 12).
 */
export class EncodedValue {
  readonly source: Uint8Array;
  readonly start: number;
  readonly length: number;
  constructor(source: Uint8Array, start = 0, length = source.length) {
    this.source = source;
    this.start = start;
    this.length = length;
  }

  /**
   * The encoding: `source` itself when it is exactly that, else a view of it made per
   * call (a slab is a plain Uint8Array: the constructor, not subarray, whose species
   * lookup took 2-6 times as long per view, measured; the WAL and a flush take one per value).
   */
  get bytes(): Uint8Array {
    const source = this.source;
    const start = this.start;
    const length = this.length;
    return start === 0 && length === source.length ? source : new Uint8Array(source.buffer, source.byteOffset + start, length);
  }

  /** True when the encoding lies in an array shared with other values (a slab). */
  get inSlab(): boolean {
    return this.length !== this.source.length;
  }
}

export interface PreparedValue {
  /** The msgpack encoding written to the WAL. */
  encoded: Uint8Array;
  /** What the memory index keeps (see the module header). */
  stored: StoredValue;
}

function isImmutable(value: unknown): value is string | number | boolean | bigint | null {
  const type = typeof value;
  return value === null || type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint';
}

function encode(value: unknown): Uint8Array {
  try {
    return packer.pack(value);
  } catch (error) {
    throw new InvalidValueError(`value cannot be encoded: ${(error as Error).message}`, { cause: error });
  }
}

/** Validates and encodes a caller's value. Throws InvalidValueError or ValueTooLargeError. */
export function prepareValue(value: unknown, maxBytes: number): PreparedValue {
  const encoded = encodeValue(value, maxBytes);
  return { encoded, stored: storedValue(value, encoded) };
}

/**
 * The msgpack encoding of a caller's value, with every check of prepareValue
 * (shape, size, decodable). With storedValue it is prepareValue without the
 * PreparedValue pair: a batch's put makes no object per value beyond what the
 * memory index keeps (issue 7, garbage per put). Throws InvalidValueError or
 * ValueTooLargeError.
 */
export function encodeValue(value: unknown, maxBytes: number): Uint8Array {
  // types.isUint8Array, not instanceof: a Uint8Array from another realm (vm, a test
  // environment's globals) or a subclass is bytes too. msgpackr wrote the first as a map
  // of indices and the second as a typed array it cannot decode; both are stored as a
  // plain Uint8Array (read back as one, same bytes).
  if (types.isUint8Array(value)) {
    // No shape to check (bytes hold no strings or children) and nothing to decode back.
    const encoded = encodeBytes(value, Buffer.isBuffer(value));
    if (encoded.length > maxBytes) throw new ValueTooLargeError(encoded.length, maxBytes);
    return encoded;
  }
  const type = typeof value;
  if (value === undefined || type === 'function' || type === 'symbol') {
    throw new InvalidValueError(`value of type ${type} cannot be stored (use delete to remove a key)`);
  }
  // Before encoding: msgpackr's recursion must never meet a value deeper than the limit.
  checkValueShape(value, maxBytes);
  const encoded = encode(value);
  if (encoded.length > maxBytes) throw new ValueTooLargeError(encoded.length, maxBytes);
  if (!isImmutable(value)) checkDecodable(encoded);
  return encoded;
}

/**
 * A byte value (a Uint8Array, of any realm or subclass) as the memory index keeps it:
 * its encoding (exactly encodeValue's bytes) written into the commit path's shared
 * slabs, as one EncodedValue and no array of its own; its `bytes` view is what the
 * WAL encoder writes. Undefined when `value` is not bytes. Throws ValueTooLargeError.
 */
export function storedBytesValue(value: unknown, maxBytes: number): EncodedValue | undefined {
  if (!types.isUint8Array(value)) return undefined;
  const isBuffer = Buffer.isBuffer(value);
  const sizeBytes = bytesEncodingSizeBytes(value.length, isBuffer);
  if (sizeBytes > maxBytes) throw new ValueTooLargeError(sizeBytes, maxBytes);
  const stored = commitSlabs.reserve(sizeBytes);
  const written = writeBytesEncoding(value, isBuffer, stored.source, stored.start);
  assert(written === sizeBytes, 'a byte value fills its reserved range');
  return stored;
}

/**
 * Checks a string value as encodeValue does (no lone surrogate, encoding within
 * maxBytes) without encoding it: the WAL encoder writes its msgpack bytes straight
 * into the record (codec/msgpack-string.ts). Returns the encoding's size in bytes.
 */
export function checkStringValue(text: string, maxBytes: number): number {
  checkValueShape(text, maxBytes);
  const sizeBytes = encodedStringSizeBytes(text);
  if (sizeBytes > maxBytes) throw new ValueTooLargeError(sizeBytes, maxBytes);
  return sizeBytes;
}

/**
 * What the memory index keeps for `value`, given encoded = encodeValue(value):
 * an immutable value as itself (-0 as 0: msgpack writes -0 as the integer 0, and
 * memory must equal what recovery reads back), anything else (bytes included) as
 * its encoding.
 */
export function storedValue(value: unknown, encoded: Uint8Array): StoredValue {
  if (isImmutable(value)) return Object.is(value, -0) ? 0 : value;
  return new EncodedValue(encoded);
}

/**
 * Some values encode but cannot be decoded (a Map with object keys, for one).
 * Decoding once here keeps every value in the WAL readable: otherwise one accepted
 * put would make every later read of it, and the next open, fail.
 */
function checkDecodable(encoded: Uint8Array): void {
  try {
    unpacker.unpack(encoded);
  } catch (error) {
    throw new InvalidValueError(`value encodes but cannot be decoded back: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The memory form of a value read back from the WAL during recovery. `encoded` may
 * be a view into a large read buffer: it is copied only when it is kept.
 */
export function storedFromEncoded(encoded: Uint8Array): StoredValue {
  // Bytes are mutable: kept encoded, without decoding them here only to learn that.
  if (bytesStart(encoded) >= 0) return new EncodedValue(Uint8Array.prototype.slice.call(encoded));
  const value: unknown = unpacker.unpack(encoded);
  // Uint8Array#slice copies; Buffer#slice would be a view keeping the whole image alive.
  return isImmutable(value) ? value : new EncodedValue(Uint8Array.prototype.slice.call(encoded));
}

/**
 * Copies of value bytes kept at WAL replay, carved from shared slabs of
 * REPLAY_VALUE_SLAB_BYTES (8-byte aligned; a value over half a slab gets its own
 * array), as the commit path's byte values share Node's 8 KiB pool: one typed array
 * per value and no ArrayBuffer of its own (Uint8Array#slice made one per value, issue 7).
 * A slab lives as long as any value in it: values replayed together live in one
 * memtable and leave it together.
 */
export class ValueSlabs {
  #slab = new Uint8Array(0);
  #usedBytes = 0;

  /**
   * A copy of bytes start..end of `source`, as a plain Uint8Array: for a byte value,
   * which reads decode through decodeBytes into a fresh array of the right type.
   */
  copy(source: Uint8Array, start: number, end: number): Uint8Array {
    return this.copyValue(source, start, end).bytes;
  }

  /** The same copy as an EncodedValue over the slab (no view of its own). */
  copyValue(source: Uint8Array, start: number, end: number): EncodedValue {
    const lengthBytes = end - start;
    assert(start >= 0 && lengthBytes >= 0 && end <= source.length, 'a value range lies inside its bytes');
    const stored = this.reserve(lengthBytes);
    stored.source.set(new Uint8Array(source.buffer, source.byteOffset + start, lengthBytes), stored.start);
    return stored;
  }

  /**
   * `lengthBytes` of a slab for the caller to fill, as the EncodedValue over them: in
   * the current slab (a new one when it has too little left), or in an array of its
   * own over half a slab.
   */
  reserve(lengthBytes: number): EncodedValue {
    if (lengthBytes > REPLAY_VALUE_SLAB_BYTES / 2) return new EncodedValue(new Uint8Array(lengthBytes));
    if (this.#usedBytes + lengthBytes > this.#slab.length) {
      this.#slab = new Uint8Array(REPLAY_VALUE_SLAB_BYTES);
      this.#usedBytes = 0;
    }
    const offset = this.#usedBytes;
    this.#usedBytes = Math.ceil((offset + lengthBytes) / MEMORY_BYTES_HEAP_ALIGNMENT) * MEMORY_BYTES_HEAP_ALIGNMENT;
    return new EncodedValue(this.#slab, offset, lengthBytes);
  }

  /**
   * The same copy as a Buffer, for an encoding msgpackr decodes: it returns a nested
   * bin as a slice of its source, so the source must be a Buffer (as the commit path's
   * encodings are) for a nested Buffer to read back as a Buffer.
   */
  copyAsBuffer(source: Uint8Array, start: number, end: number): Buffer {
    const copied = this.copy(source, start, end);
    return Buffer.from(copied.buffer, copied.byteOffset, copied.length);
  }
}

/** The commit path's slabs: the encodings of byte values put (storedBytesValue). */
const commitSlabs = new ValueSlabs();

/**
 * A byte value whose encoding lies in a slab (commit path, replay): the EncodedValue
 * object alone (three fields, 48 B), bytes not included. Measured as limits.ts'
 * figures are (heap plus ArrayBuffer bytes after a forced GC, 200k values).
 */
export const MEMORY_BYTES_SLAB_VALUE = 48;

/**
 * storedFromEncoded for the encoding at start..end of a larger array (a WAL segment
 * image at replay): kept bytes are copied through `slabs`, and a byte value makes no
 * view of its own range. A value that is not bytes is decoded here, as before: a
 * checksum-valid record with an undecodable value must fail the open (wal-recovery.ts).
 */
export function storedFromEncodedRange(bytes: Uint8Array, start: number, end: number, slabs: ValueSlabs): StoredValue {
  if (bytesStartIn(bytes, start, end) >= 0) return slabs.copyValue(bytes, start, end);
  const value: unknown = unpacker.unpack(bytes.subarray(start, end));
  return isImmutable(value) ? value : new EncodedValue(slabs.copyAsBuffer(bytes, start, end));
}

/** The caller-facing value of a stored one (a fresh copy for mutable values). */
export function readStored(stored: StoredValue): unknown {
  if (!(stored instanceof EncodedValue)) return stored;
  const start = stored.start;
  return decodeBytesIn(stored.source, start, start + stored.length) ?? unpacker.unpack(stored.bytes);
}

/**
 * Heap bytes a stored value holds, for the memory estimate (the measured figures
 * are in limits.ts, next to MEMORY_BYTES_PER_KEY). A value shared with the caller
 * (a string it still holds) is counted all the same.
 */
export function storedSizeBytes(stored: StoredValue): number {
  if (stored instanceof EncodedValue) {
    const length = stored.length;
    if (bytesStartIn(stored.source, stored.start, stored.start + length) >= 0) {
      return (stored.inSlab ? MEMORY_BYTES_SLAB_VALUE : MEMORY_BYTES_BYTES_VALUE) + alignToHeap(length);
    }
    return MEMORY_BYTES_ENCODED_VALUE + packedBytes(length);
  }
  switch (typeof stored) {
    case 'string':
      return stringSizeBytes(stored);
    case 'number':
      return isSmallInteger(stored) ? 0 : MEMORY_BYTES_HEAP_NUMBER;
    case 'bigint':
      return MEMORY_BYTES_HEAP_NUMBER + 8 * Math.ceil(Math.max(1, (stored < 0n ? -stored : stored).toString(16).length) / 16);
    default:
      return 0; // booleans and null are shared oddballs
  }
}

/** Chars that need V8's two-byte representation (any char above U+00FF). */
const TWO_BYTE_CHAR = /[^\u0000-\u00ff]/;

/** Heap bytes of a flat V8 string: one byte per char if every char fits Latin-1, else two. */
export function stringSizeBytes(text: string): number {
  const charBytes = TWO_BYTE_CHAR.test(text) ? 2 : 1;
  return alignToHeap(MEMORY_BYTES_STRING_HEADER + charBytes * text.length);
}

/** Heap bytes of a flat V8 one-byte string of `length` chars (an internal key). */
export function oneByteStringSizeBytes(length: number): number {
  return alignToHeap(MEMORY_BYTES_STRING_HEADER + length);
}

function alignToHeap(sizeBytes: number): number {
  return Math.ceil(sizeBytes / MEMORY_BYTES_HEAP_ALIGNMENT) * MEMORY_BYTES_HEAP_ALIGNMENT;
}

/** V8 keeps integers in [-2^31, 2^31) inline (Smi); anything else is a heap number. */
function isSmallInteger(value: number): boolean {
  return Number.isInteger(value) && value >= -0x8000_0000 && value < 0x8000_0000 && !Object.is(value, -0);
}

/**
 * Bytes an encoding keeps alive in msgpackr's shared output buffers: word-aligned,
 * plus its share of the tail lost when a buffer is left with less than
 * MEMORY_BYTES_PACK_BUFFER_TAIL (a buffer is used up to between its size minus the
 * tail and that plus about half a value). A value too large for one buffer gets its
 * own, with on average half a tail lost.
 */
function packedBytes(lengthBytes: number): number {
  const aligned = alignToHeap(lengthBytes);
  const usedBytes = MEMORY_BYTES_PACK_BUFFER - MEMORY_BYTES_PACK_BUFFER_TAIL + aligned / 2;
  if (aligned >= MEMORY_BYTES_PACK_BUFFER - MEMORY_BYTES_PACK_BUFFER_TAIL) return aligned + MEMORY_BYTES_PACK_BUFFER_TAIL / 2;
  return Math.ceil((aligned * MEMORY_BYTES_PACK_BUFFER) / usedBytes);
}

/**
 * The msgpack bytes of a stored value (a flush writes them into a run). Encoded
 * values are their own bytes; immutable ones are encoded again, exactly as at put.
 */
export function encodeStored(stored: StoredValue): Uint8Array {
  return stored instanceof EncodedValue ? stored.bytes : packer.pack(stored);
}

/** The caller-facing value of encoded bytes read from a run (a fresh object each call). */
export function decodeValue(encoded: Uint8Array): unknown {
  return decodeBytes(encoded) ?? unpacker.unpack(encoded);
}
