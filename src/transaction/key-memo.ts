/**
 * The internal form of the last few keys one transaction attempt encoded, so a key
 * it reads and then writes (a read-modify-write, the common transaction) is encoded
 * once: the put gets the very string the get made. That saves the encoding (a native
 * call and a string per key) and, since V8 keeps a string's hash in the string, the
 * hashing of a fresh string by every Map the write passes through (the write set's
 * compare, the conflict log's key index, the memtable's Map) (issue 12).
 *
 * A caller's key is matched by identity. A string is immutable, so the same string has
 * the same internal form. A Uint8Array can change between two calls: its bytes are
 * compared with the remembered form (one char per byte), and only the same bytes reuse
 * it; anything else is encoded again, so the answer is always internalKey(key) now.
 *
 * Invariants: every remembered pair (given, internal) had internal === internalKey(given)
 * when remembered (only keys internalKey accepted are remembered); at most
 * KEY_MEMO_SLOTS pairs, the oldest replaced first. Four slots in fields, not arrays:
 * no array per transaction.
 */
import { internalKey } from '../codec/keys.js';
import { intrinsicLength } from '../codec/intrinsic-length.js';

/** Keys remembered: a transfer reads two and writes both. */
export const KEY_MEMO_SLOTS = 4;

/**
 * True when `bytes` are the bytes of byte string `internal` (one char per byte). Measured
 * as internalKey measures it (intrinsicLength): a `length` property may lie, and a key
 * over a resizable buffer grows under it, so a lying length matched a longer key's prefix.
 */
function sameBytes(bytes: Uint8Array, internal: string): boolean {
  const length = intrinsicLength(bytes);
  if (length !== internal.length) return false;
  for (let index = 0; index < length; index++) {
    if (bytes[index] !== internal.charCodeAt(index)) return false;
  }
  return true;
}

/** The remembered internal form when `given` is the caller's key `key` (as it is now), else undefined. */
function matches(key: unknown, given: unknown, internal: string): string | undefined {
  // `given` is undefined only in a slot not yet used (internalKey refuses undefined).
  if (key !== given || given === undefined) return undefined;
  if (typeof key === 'string') return internal;
  return sameBytes(key as Uint8Array, internal) ? internal : undefined;
}

export class KeyMemo {
  #given0: unknown;
  #given1: unknown;
  #given2: unknown;
  #given3: unknown;
  #internal0 = '';
  #internal1 = '';
  #internal2 = '';
  #internal3 = '';
  /** The slot the next new key goes to (round robin: the oldest). */
  #next = 0;

  /** internalKey(key): the remembered form when this same key was encoded lately, else encoded now (and remembered). Throws as internalKey does. */
  internal(key: unknown): string {
    const found = matches(key, this.#given0, this.#internal0)
      ?? matches(key, this.#given1, this.#internal1)
      ?? matches(key, this.#given2, this.#internal2)
      ?? matches(key, this.#given3, this.#internal3);
    if (found !== undefined) return found;
    const internal = internalKey(key);
    this.#remember(key, internal);
    return internal;
  }

  #remember(given: unknown, internal: string): void {
    switch (this.#next) {
      case 0: this.#given0 = given; this.#internal0 = internal; break;
      case 1: this.#given1 = given; this.#internal1 = internal; break;
      case 2: this.#given2 = given; this.#internal2 = internal; break;
      default: this.#given3 = given; this.#internal3 = internal; break;
    }
    this.#next = (this.#next + 1) % KEY_MEMO_SLOTS;
  }
}
