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
 * The pure-JS msgpackr build is imported on purpose (msgpackr/pack, msgpackr/unpack):
 * the package has an optional native accelerator and this store ships no native code.
 */
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { Buffer } from 'node:buffer';
import { InvalidValueError, ValueTooLargeError } from '../errors.js';

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
  const encoded = encode(value);
  if (encoded.length > maxBytes) throw new ValueTooLargeError(encoded.length, maxBytes);
  if (isImmutable(value)) {
    // msgpack writes -0 as the integer 0; keep memory equal to what recovery reads back.
    return { encoded, stored: Object.is(value, -0) ? 0 : value };
  }
  // A top-level byte array is one msgpack bin (or typed-array extension): always decodable.
  if (!(value instanceof Uint8Array)) checkDecodable(encoded, value);
  return { encoded, stored: new EncodedValue(encoded) };
}

/**
 * Some values encode but cannot be decoded (a Map with object keys, for one).
 * Decoding once here keeps every value in the WAL readable: otherwise one accepted
 * put would make every later read of it, and the next open, fail.
 */
function checkDecodable(encoded: Uint8Array, value: unknown): void {
  try {
    unpacker.unpack(encoded);
  } catch (error) {
    throw new InvalidValueError(`value encodes but cannot be decoded back: ${(error as Error).message}`, { cause: error });
  }
  // msgpackr renames an own "__proto__" key on decode (its prototype-pollution guard),
  // so such a value would read back changed. The byte search is cheap; the walk runs
  // only when the name appears at all (it may just be a string value).
  const bytes = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.length);
  if (bytes.includes(PROTO_KEY) && hasProtoKey(value, 0)) {
    throw new InvalidValueError('an object with an own "__proto__" key cannot be stored faithfully (msgpack decoding renames it)');
  }
}

const PROTO_KEY = Buffer.from('__proto__', 'latin1');
const PROTO_SEARCH_DEPTH_MAX = 1000;

function hasProtoKey(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object' || depth > PROTO_SEARCH_DEPTH_MAX) return false;
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  const children = value instanceof Map ? [...value.keys(), ...value.values()] : Object.values(value);
  return children.some((child) => hasProtoKey(child, depth + 1));
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
