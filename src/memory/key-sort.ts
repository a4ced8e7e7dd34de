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
 * Many keys (at least PREFIX_SORT_KEYS_MIN) are first ordered by a number made of
 * their first PREFIX_CHARS chars (each char code + 1 in base 257, 0 where the key
 * ended): one read of each key string, then two least-significant-digit passes over
 * typed arrays; only runs of keys with the same prefix go on to the char radix sort
 * from PREFIX_CHARS on. A memtable's keys are scattered over the heap, and the char
 * radix sort read each key string at least four times in random order: 20-30 ms for
 * a memtable of 83k random keys at its seal, blocking every commit (issue 12, p99).
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

/** Fewest keys sorted by their prefix number first (below, two 8192-bucket passes cost more than they save). */
export const PREFIX_SORT_KEYS_MIN = 1024;
/** Chars of each key in its prefix number: 257^3 < 2^26, two digits of PREFIX_DIGIT_BITS. */
const PREFIX_CHARS = 3;
const PREFIX_DIGIT_BITS = 13;
const PREFIX_DIGIT_MASK = (1 << PREFIX_DIGIT_BITS) - 1;
assert(RADIX_BUCKETS ** PREFIX_CHARS <= 2 ** (2 * PREFIX_DIGIT_BITS), 'a prefix number has two digits');

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
    if (keys.length < PREFIX_SORT_KEYS_MIN) sortRange(keys, order, new Uint32Array(keys.length), 0, keys.length, 0);
    else sortByPrefixThenRange(keys, order);
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

/**
 * Sorts `order` (the identity) by the keys' prefix numbers (two LSD passes, stable),
 * then each run sharing a prefix number by sortRange from PREFIX_CHARS on: distinct
 * keys with one prefix number share their first PREFIX_CHARS chars (a key that ends
 * within them has a number no other key has).
 */
function sortByPrefixThenRange(keys: readonly string[], order: Uint32Array): void {
  const count = keys.length;
  const prefixes = new Uint32Array(count);
  for (let index = 0; index < count; index++) {
    const key = keys[index]!;
    let prefix = 0;
    for (let depth = 0; depth < PREFIX_CHARS; depth++) prefix = prefix * RADIX_BUCKETS + bucketOf(key, depth);
    prefixes[index] = prefix;
  }
  const scratch = new Uint32Array(count);
  const counts = new Uint32Array(PREFIX_DIGIT_MASK + 2);
  prefixDigitPass(prefixes, order, scratch, counts, 0);
  prefixDigitPass(prefixes, scratch, order, counts, PREFIX_DIGIT_BITS);
  let runStart = 0;
  for (let index = 1; index <= count; index++) {
    if (index < count && prefixes[order[index]!] === prefixes[order[runStart]!]) continue;
    if (index - runStart > 1) sortRange(keys, order, scratch, runStart, index, PREFIX_CHARS);
    runStart = index;
  }
  assert(runStart === count, 'every run of one prefix number is sorted');
}

/** One stable counting pass: `from` reordered into `to` by the prefix digit at `shift`. */
function prefixDigitPass(prefixes: Uint32Array, from: Uint32Array, to: Uint32Array, counts: Uint32Array, shift: number): void {
  counts.fill(0);
  for (let index = 0; index < from.length; index++) counts[((prefixes[from[index]!]! >>> shift) & PREFIX_DIGIT_MASK) + 1]!++;
  for (let digit = 0; digit <= PREFIX_DIGIT_MASK; digit++) counts[digit + 1]! += counts[digit]!;
  for (let index = 0; index < from.length; index++) {
    const item = from[index]!;
    to[counts[(prefixes[item]! >>> shift) & PREFIX_DIGIT_MASK]!++] = item;
  }
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
