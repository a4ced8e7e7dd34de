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
 * In their own modules: byte values' encoding without msgpackr (bytes-encoding.ts),
 * EncodedValue and the slabs byte values share (value-slabs.ts), and the memory
 * estimate of a stored value (value-memory-size.ts).
 *
 * The pure-JS msgpackr build is imported on purpose (msgpackr/pack, msgpackr/unpack):
 * the package has an optional native accelerator and this store ships no native code.
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { InvalidValueError, ValueTooLargeError } from '../errors.js';
import { assert } from '../util/assert.js';
import { bytesEncodingSizeBytes, bytesStart, bytesStartIn, decodeBytes, decodeBytesIn, encodeBytes, writeBytesEncoding } from './bytes-encoding.js';
import { encodedStringSizeBytes } from './msgpack-string.js';
import { COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, commitSlabPool, EncodedValue, ValueSlabs } from './value-slabs.js';
import { checkValueShape } from './value-shape.js';
import { intrinsicLength, isDetached } from './intrinsic-length.js';

const packOptions = { useRecords: false, moreTypes: true } as const;
const packer = new Packr(packOptions);
// copyBuffers: msgpackr otherwise returns a bin (a Buffer) as a view into the bytes it
// decodes, so a caller writing into a Buffer it read (top level or nested) wrote into
// the memtable's encoding or a cached run block.
const unpacker = new Unpackr({ ...packOptions, copyBuffers: true });

/** What the memory index holds for a live version: the value itself, or its encoding. */
export type StoredValue = string | number | boolean | bigint | null | EncodedValue;

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
    refuseDetached(value);
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
  if (!isImmutable(value) && checkDecodable(encoded) === undefined) {
    // toJSON returned undefined or a function, which msgpackr writes as undefined: it would
    // read back as an absent key's answer, so it is refused as undefined itself is.
    throw new InvalidValueError('value encodes as undefined (its toJSON returned undefined or a function); use delete to remove a key');
  }
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
  refuseDetached(value);
  const isBuffer = Buffer.isBuffer(value);
  const sizeBytes = bytesEncodingSizeBytes(intrinsicLength(value), isBuffer);
  if (sizeBytes > maxBytes) throw new ValueTooLargeError(sizeBytes, maxBytes);
  const stored = commitSlabs.reserve(sizeBytes);
  const written = writeBytesEncoding(value, isBuffer, stored.source, stored.start);
  assert(written === sizeBytes, 'a byte value fills its reserved range');
  return stored;
}

/** A detached Uint8Array has no bytes to store: refused, as msgpackr refuses one nested in a value. */
function refuseDetached(value: Uint8Array): void {
  if (intrinsicLength(value) === 0 && isDetached(value)) {
    throw new InvalidValueError('value is a Uint8Array whose ArrayBuffer was detached (transferred): its bytes are gone');
  }
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
 * put would make every later read of it, and the next open, fail. Returns the decoded value.
 */
function checkDecodable(encoded: Uint8Array): unknown {
  try {
    return unpacker.unpack(encoded);
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

/** The commit path's slabs: the encodings of byte values put (storedBytesValue), reused once released (slab-pool.ts). */
const commitSlabs = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, commitSlabPool);

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
