/**
 * How level keys map onto store keys (docs: README "Using it with level").
 *
 * Level allows the empty key; the store refuses it, and its key limit
 * (KEY_BYTES_MAX, 1,024 bytes) is part of the run and WAL formats. A one-byte
 * prefix would cost users a byte of that limit, and no order-preserving one-to-one
 * map from keys of 0..1,024 bytes onto keys of 1..1,024 bytes exists (there is one
 * key too many). So two level keys share one store key: the empty key and the
 * one-byte key 0x00, which are neighbours in byte order (nothing sorts between
 * them), both live in the store key 0x00, the "pair slot". Every other level key
 * is its own store key, byte for byte.
 *
 * Invariants: the pair slot's value is always a PairValue, [emptyKeyValue,
 * zeroKeyValue] with null for an absent one, and never [null, null] (that pair is
 * a delete); every other store key written by the adapter holds a Uint8Array.
 * Reads of the pair slot expand it into 0, 1 or 2 level entries, in key order.
 * A value the adapter did not write (through `db.store`, the Store API) breaks these
 * invariants from outside, so it is not an assertion: readPair and readLevelValue
 * refuse it with ForeignValueError naming the store key, and nothing is changed.
 */
import { Buffer } from 'node:buffer';
import { RESERVED_KEY_PREFIX } from '../lease/reserved-prefix.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { ForeignValueError } from '../errors.js';

/** The store key that holds the level keys '' and 0x00. */
export const PAIR_SLOT_KEY: Uint8Array = Uint8Array.of(0);

/** [value of the empty key, value of the key 0x00]; null when that key is absent. */
export type PairValue = [Uint8Array | null, Uint8Array | null];

const RESERVED_PREFIX_BYTES = Uint8Array.from(RESERVED_KEY_PREFIX, (char) => char.charCodeAt(0));

/**
 * True for a store key under the store's reserved prefix ("\u0000ladybug/": lease
 * records, written when the store's leases are used through `db.store`). The store
 * refuses a level write of such a key, so none is a level key: reads and iterators
 * skip them (an iterator asserted that every ordinary key holds bytes, and failed).
 */
export function isReservedStoreKey(key: Uint8Array): boolean {
  if (key.length < RESERVED_PREFIX_BYTES.length || key[0] !== 0) return false;
  for (let index = 1; index < RESERVED_PREFIX_BYTES.length; index++) if (key[index] !== RESERVED_PREFIX_BYTES[index]) return false;
  return true;
}

/** Which half of the pair slot a level key is, or undefined for an ordinary key. */
export function pairIndex(key: Uint8Array): 0 | 1 | undefined {
  if (key.length === 0) return 0;
  if (key.length === 1 && key[0] === 0) return 1;
  return undefined;
}

/** The level key of a half of the pair slot. */
export function pairKey(index: 0 | 1): Uint8Array {
  return index === 0 ? new Uint8Array(0) : Uint8Array.of(0);
}

/** Reads a stored pair slot value; an absent slot is [null, null]; ForeignValueError unless it is one the adapter writes. */
export function readPair(stored: unknown): PairValue {
  if (stored === undefined) return [null, null];
  if (!Array.isArray(stored) || stored.length !== 2) throw new ForeignValueError(PAIR_SLOT_KEY, 'the pair slot holds no [empty, zero] pair');
  const [empty, zero] = stored as unknown[];
  if (!(empty === null || empty instanceof Uint8Array) || !(zero === null || zero instanceof Uint8Array)) {
    throw new ForeignValueError(PAIR_SLOT_KEY, 'a half of the pair slot is not bytes or null');
  }
  return [empty, zero];
}

/** The value of an ordinary level key as stored (undefined: absent); ForeignValueError unless bytes. */
export function readLevelValue(storeKey: Uint8Array, stored: unknown): Uint8Array | undefined {
  if (stored === undefined || stored instanceof Uint8Array) return stored;
  throw new ForeignValueError(storeKey, 'an ordinary level key holds something other than bytes');
}

export function compareKeys(left: Uint8Array, right: Uint8Array): number {
  return Buffer.compare(left, right);
}

/** One end of a range over level keys. */
export interface Bound {
  key: Uint8Array;
  inclusive: boolean;
}

/** A range over level keys (what a level iterator or clear() is given). */
export interface LevelRange {
  lower: Bound | undefined;
  upper: Bound | undefined;
}

export function levelRange(options: { gt?: unknown; gte?: unknown; lt?: unknown; lte?: unknown }): LevelRange {
  const bound = (key: unknown, inclusive: boolean): Bound | undefined => {
    if (key === undefined) return undefined;
    assert(key instanceof Uint8Array, 'abstract-level hands the adapter view-encoded range keys');
    return { key, inclusive };
  };
  return {
    lower: bound(options.gte, true) ?? bound(options.gt, false),
    upper: bound(options.lte, true) ?? bound(options.lt, false),
  };
}

export function inRange(key: Uint8Array, range: LevelRange): boolean {
  if (range.lower !== undefined) {
    const order = compareKeys(key, range.lower.key);
    if (order < 0 || (order === 0 && !range.lower.inclusive)) return false;
  }
  if (range.upper !== undefined) {
    const order = compareKeys(key, range.upper.key);
    if (order > 0 || (order === 0 && !range.upper.inclusive)) return false;
  }
  return true;
}

/** The stricter of two lower bounds (the one that admits fewer keys). */
export function stricterLower(left: Bound | undefined, right: Bound): Bound {
  if (left === undefined) return right;
  const order = compareKeys(left.key, right.key);
  if (order !== 0) return order > 0 ? left : right;
  return left.inclusive ? right : left;
}

/** The stricter of two upper bounds. */
export function stricterUpper(left: Bound | undefined, right: Bound): Bound {
  if (left === undefined) return right;
  const order = compareKeys(left.key, right.key);
  if (order !== 0) return order < 0 ? left : right;
  return left.inclusive ? right : left;
}

/** Store scan bounds: a superset of the level range (exact except at the pair slot). */
export interface StoreBounds {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
}

/**
 * The store bounds covering `range`, or undefined when the range holds no key at
 * all (below the empty key). A bound on '' or 0x00 widens to include the whole
 * pair slot; the pair's halves are then filtered with inRange(). A bound longer than
 * KEY_BYTES_MAX (which the store's scan refuses as a key) becomes its prefix P of
 * KEY_BYTES_MAX bytes, exclusive below and inclusive above: no stored key lies between
 * P and the bound (it would start with P and be longer), and none is the bound.
 */
export function storeBounds(range: LevelRange): StoreBounds | undefined {
  const bounds: StoreBounds = {};
  const { lower, upper } = range;
  if (lower !== undefined) {
    if (pairIndex(lower.key) !== undefined) bounds.gte = PAIR_SLOT_KEY;
    else if (lower.key.length > KEY_BYTES_MAX) bounds.gt = lower.key.subarray(0, KEY_BYTES_MAX);
    else if (lower.inclusive) bounds.gte = lower.key;
    else bounds.gt = lower.key;
  }
  if (upper !== undefined) {
    const index = pairIndex(upper.key);
    if (index === 0 && !upper.inclusive) return undefined;
    if (index !== undefined) bounds.lte = PAIR_SLOT_KEY;
    else if (upper.key.length > KEY_BYTES_MAX) bounds.lte = upper.key.subarray(0, KEY_BYTES_MAX);
    else if (upper.inclusive) bounds.lte = upper.key;
    else bounds.lt = upper.key;
  }
  return bounds;
}
