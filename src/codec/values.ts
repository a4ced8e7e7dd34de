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
import { InvalidValueError, ValueTooLargeError } from '../errors.js';
import {
  MEMORY_BYTES_ENCODED_VALUE,
  MEMORY_BYTES_HEAP_ALIGNMENT,
  MEMORY_BYTES_HEAP_NUMBER,
  MEMORY_BYTES_PACK_BUFFER,
  MEMORY_BYTES_PACK_BUFFER_TAIL,
  MEMORY_BYTES_STRING_HEADER,
} from '../limits.js';
import { checkValueShape } from './value-shape.js';

const packOptions = { useRecords: false, moreTypes: true } as const;
const packer = new Packr(packOptions);
const unpacker = new Unpackr(packOptions);

/** What the memory index holds for a live version: the value itself, or its encoding. */
export type StoredValue = string | number | boolean | bigint | null | EncodedValue;

/** Encoded bytes of a mutable value (object, array, Uint8Array, Date, ...). */
export class EncodedValue {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
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
  const type = typeof value;
  if (value === undefined || type === 'function' || type === 'symbol') {
    throw new InvalidValueError(`value of type ${type} cannot be stored (use delete to remove a key)`);
  }
  // Before encoding: msgpackr's recursion must never meet a value deeper than the limit.
  checkValueShape(value, maxBytes);
  const encoded = encode(value);
  if (encoded.length > maxBytes) throw new ValueTooLargeError(encoded.length, maxBytes);
  if (isImmutable(value)) {
    // msgpack writes -0 as the integer 0; keep memory equal to what recovery reads back.
    return { encoded, stored: Object.is(value, -0) ? 0 : value };
  }
  // A top-level byte array is one msgpack bin (or typed-array extension): always decodable.
  if (!(value instanceof Uint8Array)) checkDecodable(encoded);
  return { encoded, stored: new EncodedValue(encoded) };
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
  const value: unknown = unpacker.unpack(encoded);
  // Uint8Array#slice copies; Buffer#slice would be a view keeping the whole image alive.
  return isImmutable(value) ? value : new EncodedValue(Uint8Array.prototype.slice.call(encoded));
}

/** The caller-facing value of a stored one (a fresh copy for mutable values). */
export function readStored(stored: StoredValue): unknown {
  return stored instanceof EncodedValue ? unpacker.unpack(stored.bytes) : stored;
}

/**
 * Heap bytes a stored value holds, for the memory estimate (the measured figures
 * are in limits.ts, next to MEMORY_BYTES_PER_KEY). A value shared with the caller
 * (a string it still holds) is counted all the same.
 */
export function storedSizeBytes(stored: StoredValue): number {
  if (stored instanceof EncodedValue) return MEMORY_BYTES_ENCODED_VALUE + packedBytes(stored.bytes.length);
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
  return unpacker.unpack(encoded);
}
