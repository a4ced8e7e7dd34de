/**
 * sortedKeyOrder: the order of a memtable's internal keys for a flush, as a
 * permutation, so the caller can carry each key's chain along without a Map lookup
 * per key (issue 7, load speed: sorting the keys with Array.prototype.sort and then
 * finding each chain in the Map were ~15% of a random load's main-thread CPU).
 *
 * A most-significant-char radix sort: a range of keys is distributed by its char at
 * `depth` (a key that ends there first, then char codes ascending), each bucket is
 * sorted one char deeper, and a range of at most RADIX_SMALL_RANGE keys is
 * insertion-sorted with `<`. A range whose keys all share the char at `depth` goes
 * one char deeper without moving (keys with a long common prefix cost one pass per
 * shared char, no comparison). Random binary keys take two passes and a few
 * comparisons each.
 *
 * Keys already in ascending order (inserted in key order) are found so by one
 * comparison per key and sorted no further.
 *
 * Invariants: the result is exactly the order of the string comparison `<` (code
 * units, a proper prefix first); REQUIRES distinct keys (a memtable's, from its Map).
 * Internal keys hold chars below 256 (src/codec/keys.ts); a key with a larger char
 * makes the whole sort fall back to a comparison sort with `<` (same order).
 * Memory: the permutation, one scratch array of the same length, and 258 counts per
 * range being distributed (ranges are sorted depth first: at most one per depth).
 */
import { assert } from '../util/assert.js';

/** Ranges this small are insertion-sorted (comparisons beat another distribution pass). */
export const RADIX_SMALL_RANGE = 24;
/** Buckets per distribution: "ends here" plus one per char code below 256. */
const RADIX_BUCKETS = 257;

/** Thrown inside the radix sort when a key has a char >= 256; caught by sortedKeyOrder. */
class WideCharFound {}
const WIDE_CHAR_FOUND = new WideCharFound();

/** Indexes of `keys` in ascending `<` order. REQUIRES: no key twice. */
export function sortedKeyOrder(keys: readonly string[]): Uint32Array {
  const order = new Uint32Array(keys.length);
  for (let index = 0; index < order.length; index++) order[index] = index;
  // Keys inserted in ascending order (sequential keys, the common load) are the order
  // already: one comparison each, where the radix sort paid a counting pass over every
  // key per shared leading char (12 for the benchmark's sequential keys, issue 12).
  if (ascendingPrefixLength(keys) === keys.length) return order;
  try {
    sortRange(keys, order, new Uint32Array(keys.length), 0, keys.length, 0);
  } catch (error) {
    if (error !== WIDE_CHAR_FOUND) throw error;
    for (let index = 0; index < order.length; index++) order[index] = index;
    order.sort((left, right) => (keys[left]! < keys[right]! ? -1 : 1));
  }
  return order;
}

/** How many leading keys are in strictly ascending `<` order (stops at the first that is not). */
export function ascendingPrefixLength(keys: readonly string[]): number {
  if (keys.length === 0) return 0;
  let previous = keys[0]!;
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]!;
    if (!(previous < key)) return index;
    previous = key;
  }
  return keys.length;
}

function bucketOf(key: string, depth: number): number {
  if (depth >= key.length) return 0;
  const code = key.charCodeAt(depth);
  if (code > 255) throw WIDE_CHAR_FOUND;
  return code + 1;
}

/** Sorts order[start, end) by the keys' chars from `depth` on (all share the first `depth`). */
function sortRange(keys: readonly string[], order: Uint32Array, scratch: Uint32Array, start: number, end: number, depth: number): void {
  for (;;) {
    if (end - start <= RADIX_SMALL_RANGE) return insertionSort(keys, order, start, end);
    // counts[bucket + 1] counts the bucket's keys; after the prefix sum counts[bucket] is its first slot.
    const counts = new Uint32Array(RADIX_BUCKETS + 1);
    for (let index = start; index < end; index++) counts[bucketOf(keys[order[index]!]!, depth) + 1]!++;
    let sharedBucket = -1;
    for (let bucket = 0; bucket < RADIX_BUCKETS; bucket++) {
      if (counts[bucket + 1] === end - start) sharedBucket = bucket;
    }
    if (sharedBucket > 0) {
      depth++; // every key has the same char here: nothing moves
      continue;
    }
    assert(sharedBucket !== 0, 'distinct keys: at most one ends at a given depth');
    for (let bucket = 0; bucket < RADIX_BUCKETS; bucket++) counts[bucket + 1]! += counts[bucket]!;
    for (let index = start; index < end; index++) {
      const key = order[index]!;
      scratch[start + counts[bucketOf(keys[key]!, depth)]!++] = key;
    }
    order.set(scratch.subarray(start, end), start);
    // After the scatter counts[bucket] is the end of the bucket (relative to start).
    let bucketStart = start + counts[0]!;
    for (let bucket = 1; bucket < RADIX_BUCKETS; bucket++) {
      const bucketEnd = start + counts[bucket]!;
      if (bucketEnd - bucketStart > 1) sortRange(keys, order, scratch, bucketStart, bucketEnd, depth + 1);
      bucketStart = bucketEnd;
    }
    return;
  }
}

function insertionSort(keys: readonly string[], order: Uint32Array, start: number, end: number): void {
  for (let index = start + 1; index < end; index++) {
    const moving = order[index]!;
    const movingKey = keys[moving]!;
    let slot = index;
    while (slot > start && keys[order[slot - 1]!]! > movingKey) {
      order[slot] = order[slot - 1]!;
      slot--;
    }
    order[slot] = moving;
  }
}
