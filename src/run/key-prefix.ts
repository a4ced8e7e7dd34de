/**
 * The first four bytes of an internal key as a u32: the order-preserving number a point
 * read compares before a key's bytes (a run's key range and its top-level index's last
 * keys, run-point-lookup.ts and run-partitions.ts), computed once per read (KeyProbe,
 * bloom-filter.ts) rather than once per run asked.
 *
 * Invariant: keyPrefix(a) < keyPrefix(b) implies a < b (and > implies >); equal prefixes
 * say nothing, so the keys themselves decide a tie.
 */
import { assert } from '../util/assert.js';

/**
 * The first four chars of an internal key (chars below 256: its bytes) as a big-endian
 * u32, missing chars as 0. Order-preserving: keyPrefix(a) < keyPrefix(b) implies a < b
 * (and > implies >), since a padding 0 sorts like the end of a shorter key.
 */
export function keyPrefix(key: string): number {
  const length = key.length;
  const first = length > 0 ? key.charCodeAt(0) : 0;
  const second = length > 1 ? key.charCodeAt(1) : 0;
  const third = length > 2 ? key.charCodeAt(2) : 0;
  const fourth = length > 3 ? key.charCodeAt(3) : 0;
  assert((first | second | third | fourth) < 256, 'internal keys hold chars below 256');
  return ((first << 24) | (second << 16) | (third << 8) | fourth) >>> 0;
}

/** The top bit of a u32, as an int32 (-2^31). */
const TOP_BIT = 0x80000000 | 0;

/**
 * A keyPrefix with its top bit flipped, as an int32: the same order (u32 order with the
 * top bit flipped is int32 order), compared as small integers. A u32 prefix above 2^31
 * is no small integer to V8: a search over such numbers compared doubles and kept its
 * bounds in floating point (issue 7: the top-level search of every run a read asks).
 */
export function signedPrefix(prefix: number): number {
  return prefix ^ TOP_BIT;
}

/** signedPrefix(keyPrefix(key)). */
export function signedKeyPrefix(key: string): number {
  return keyPrefix(key) ^ TOP_BIT;
}
