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

/** Bytes a stored value accounts for in the memory estimate. */
export function storedSizeBytes(stored: StoredValue): number {
  if (stored instanceof EncodedValue) return stored.bytes.length;
  if (typeof stored === 'string') return stored.length * 2;
  return 8;
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
