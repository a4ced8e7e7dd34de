/**
 * Keys: validation and the internal key form.
 *
 * Keys are strings or Uint8Arrays, ordered by their UTF-8 bytes. Internally every
 * key is a "byte string": a JS string with one char (0..255) per key byte, so that
 * JS string comparison is byte comparison and a Map lookup needs no hashing of
 * our own. ASCII strings are their own byte string, so the common case costs one
 * scan of the key and no allocation.
 *
 * Invariants: an internal key is non-empty, at most KEY_BYTES_MAX chars, every
 * char below 256; stringKey(internalKey(s)) === s for every well-formed string s.
 * A key returned to a caller reads back as the same key: with keyEncoding 'utf8',
 * a binary key whose bytes are not valid UTF-8 has no such string, so externalKey
 * throws KeyEncodingError for it instead of returning U+FFFD.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { types } from 'node:util';
import { InvalidKeyError, KeyEncodingError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { intrinsicLength } from './intrinsic-length.js';

export type Key = string | Uint8Array;
export type KeyEncoding = 'utf8' | 'binary';

/** Matches a lone surrogate (a well-formed pair is one code point under the u flag). */
const LONE_SURROGATE = /\p{Cs}/u;

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    if (text.charCodeAt(index) > 0x7f) return false;
  }
  return true;
}

/**
 * Buffer#latin1Slice, the native step under Buffer#toString('latin1'): one char per
 * byte, straight from the bytes of any Uint8Array (a Buffer or not), into a flat
 * one-byte string. String.fromCharCode.apply first copied the bytes into an
 * arguments array (garbage per key, issue 7) and took 91-109 ns per 16-byte key
 * against 53-59 (busy machine); toString('latin1') adds argument checks.
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
assert(typeof latin1Slice === 'function', 'Buffer#latin1Slice exists (every supported Node release has it)');

/** The byte string of `bytes`: one char per byte. */
function byteString(bytes: Uint8Array): string {
  return latin1Slice.call(bytes, 0, bytes.length);
}

function checkLength(lengthBytes: number): void {
  if (lengthBytes === 0) throw new InvalidKeyError('empty', 'key must not be empty');
  if (lengthBytes > KEY_BYTES_MAX) {
    throw new InvalidKeyError('too-long', `key is ${lengthBytes} bytes, over the limit of ${KEY_BYTES_MAX} bytes`);
  }
}

/** Validates a caller's key and returns its internal byte string. Throws InvalidKeyError. */
export function internalKey(key: unknown): string {
  if (typeof key === 'string') {
    if (isAscii(key)) {
      checkLength(key.length);
      return key;
    }
    if (LONE_SURROGATE.test(key)) {
      throw new InvalidKeyError('malformed', 'key string contains a lone surrogate and has no UTF-8 form');
    }
    const bytes = Buffer.from(key, 'utf8');
    checkLength(bytes.length);
    return bytes.toString('latin1');
  }
  // types.isUint8Array, a brand check: a Uint8Array from another realm (a vm context, a
  // test environment's globals, where a Buffer of node's own realm is foreign) is bytes
  // too, as values.ts takes it; a Proxy of one passes instanceof but is not (its copy
  // threw a bare TypeError). Measured by its intrinsic length, which no own property hides.
  if (types.isUint8Array(key)) {
    const length = intrinsicLength(key);
    checkLength(length);
    return latin1Slice.call(key, 0, length);
  }
  const shown = key === null ? 'null' : typeof key;
  throw new InvalidKeyError('type', `key must be a string or Uint8Array, got ${shown}`);
}

/**
 * The UTF-8 string a byte string stands for, for messages only: binary keys that
 * are not UTF-8 get U+FFFD. What reads return goes through externalKey.
 */
export function stringKey(internal: string): string {
  if (isAscii(internal)) return internal;
  return Buffer.from(internal, 'latin1').toString('utf8');
}

/** The string key of a byte string; KeyEncodingError when its bytes are not valid UTF-8. */
function utf8Key(internal: string): string {
  if (isAscii(internal)) return internal;
  const bytes = Buffer.from(internal, 'latin1');
  if (!isUtf8(bytes)) throw new KeyEncodingError(Uint8Array.prototype.slice.call(bytes));
  return bytes.toString('utf8');
}

/**
 * Keys up to this long are copied one char at a time into a Buffer from Node's pool:
 * Buffer.from(internal, 'latin1') dispatched on the encoding and called into C++ to
 * write 16 bytes (a scan returns one per entry).
 */
const KEY_BYTES_COPIED_BY_LOOP_MAX = 64;

/** The key's bytes, as stored in the WAL. */
export function keyBytes(internal: string): Buffer {
  const length = internal.length;
  if (length > KEY_BYTES_COPIED_BY_LOOP_MAX) return Buffer.from(internal, 'latin1');
  const bytes = Buffer.allocUnsafe(length);
  for (let index = 0; index < length; index++) bytes[index] = internal.charCodeAt(index);
  return bytes;
}

/** An internal key from bytes read back from disk. */
export function internalKeyFromBytes(bytes: Uint8Array): string {
  return byteString(bytes);
}

/**
 * The internal key of bytes start..end of a larger array (a WAL segment image at
 * replay), without a view of its own (issue 7: replay made two views per operation).
 */
export function internalKeyFromRange(bytes: Uint8Array, start: number, end: number): string {
  assert(start >= 0 && start <= end && end <= bytes.length, 'a key range lies inside its bytes');
  return latin1Slice.call(bytes, start, end);
}

/** The key as a read returns it: bytes for 'binary'; for 'utf8' its string, or KeyEncodingError. */
export function externalKey(internal: string, encoding: KeyEncoding): string | Uint8Array {
  return encoding === 'binary' ? keyBytes(internal) : utf8Key(internal);
}

/** The key as an error names it: as a read returns it, or its bytes when it has no form in `encoding`. */
export function externalKeyForError(internal: string, encoding: KeyEncoding): string | Uint8Array {
  try {
    return externalKey(internal, encoding);
  } catch {
    return keyBytes(internal);
  }
}
