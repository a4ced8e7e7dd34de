/**
 * Review of issue 12's seal sort (d81386a, 4bca6c0: the ascending shortcut, the
 * 3-char prefix-number pass, the char radix sort of runs sharing a prefix) against
 * `<` on latin1 strings of every shape around the thresholds: the empty key, keys of
 * 1-3 chars (they end inside the prefix number), chars 0 and 255 at every position,
 * long shared prefixes, sizes 1023/1024/1025 (PREFIX_SORT_KEYS_MIN) and far above,
 * ascending input with one key displaced, descending input, and the memtable's own
 * seal path (MemoryIndex#orderedKeysAndChains keeps each chain beside its key).
 */
import { describe, expect, it } from 'vitest';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { PREFIX_SORT_KEYS_MIN, RADIX_SMALL_RANGE, sortedKeyOrder } from '../src/memory/key-sort.js';

function byLessThan(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function expectOrderOfLessThan(keys: readonly string[]): void {
  const order = sortedKeyOrder(keys);
  expect(order.length).toBe(keys.length);
  expect(new Set(order).size).toBe(keys.length);
  const sorted = Array.from(order, (index) => keys[index]!);
  expect(sorted).toEqual([...keys].sort(byLessThan));
}

/** mulberry32: reproducible keys. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct keys from `make`, in generation order. */
function distinctKeys(count: number, make: () => string): string[] {
  const keys = new Set<string>();
  for (let attempt = 0; keys.size < count && attempt < count * 50; attempt++) keys.add(make());
  expect(keys.size).toBe(count);
  return [...keys];
}

const EDGE_CHARS = ['\u0000', '\u0001', '\u007f', '\u0080', '\u00fe', '\u00ff', 'a'];

function edgeKey(random: () => number, lengthMax: number): string {
  const length = Math.floor(random() * (lengthMax + 1));
  let key = '';
  for (let index = 0; index < length; index++) {
    key += random() < 0.8 ? EDGE_CHARS[Math.floor(random() * EDGE_CHARS.length)]! : String.fromCharCode(Math.floor(random() * 256));
  }
  return key;
}

describe('seal sort review (issue 12): the order of < for every key shape', () => {
  const sizes = [0, 1, 2, 3, RADIX_SMALL_RANGE, RADIX_SMALL_RANGE + 1, PREFIX_SORT_KEYS_MIN - 1, PREFIX_SORT_KEYS_MIN, PREFIX_SORT_KEYS_MIN + 1, 5000];

  it('short keys of edge chars (lengths 0-3, ending inside the prefix number) at every size around the thresholds', () => {
    const random = generator(1);
    // Lengths 0-3 over 7 chars: 1 + 7 + 49 + 343 = 400 keys at most; mix in length 4-6.
    for (const size of sizes) {
      for (const lengthMax of [3, 4, 6]) {
        const available = lengthMax === 3 ? 400 : size;
        const count = Math.min(size, available);
        expectOrderOfLessThan(distinctKeys(count, () => edgeKey(random, lengthMax)));
      }
    }
  });

  it('keys sharing prefixes of 0-6 chars then edge chars, at every size around the thresholds', () => {
    const random = generator(2);
    for (const size of sizes) {
      for (const sharedLength of [0, 1, 2, 3, 4, 6]) {
        const shared = edgeKey(() => 0.5, sharedLength).padEnd(sharedLength, '\u00ff').slice(0, sharedLength);
        const prefixes = [shared, `${shared.slice(0, -1)}\u0000`, `${shared}\u00ff`];
        expectOrderOfLessThan(distinctKeys(size, () => `${prefixes[Math.floor(random() * prefixes.length)]!}${edgeKey(random, 8)}`));
      }
    }
  });

  it('random binary keys of 1-20 chars, ascending with one key displaced, descending, and interleaved', () => {
    const random = generator(3);
    for (const size of sizes) {
      const keys = distinctKeys(size, () => edgeKey(random, 20));
      expectOrderOfLessThan(keys);
      const ascending = [...keys].sort(byLessThan);
      expectOrderOfLessThan(ascending);
      expectOrderOfLessThan([...ascending].reverse());
      if (size > 1) {
        for (const [from, to] of [[0, size - 1], [size - 1, 0], [Math.floor(size / 2), 0], [1, 0]] as const) {
          const moved = [...ascending];
          const [key] = moved.splice(from, 1);
          moved.splice(to, 0, key!);
          expectOrderOfLessThan(moved);
        }
        // Two ascending halves interleaved (sequential writers on two key ranges).
        const half = Math.floor(size / 2);
        const interleaved: string[] = [];
        for (let index = 0; index < half; index++) interleaved.push(ascending[index]!, ascending[half + index]!);
        if (size % 2 === 1) interleaved.push(ascending[size - 1]!);
        expectOrderOfLessThan(interleaved);
      }
    }
  });

  it('every key of 0-2 chars over all 256 chars (65,793 keys: every prefix number of short keys), shuffled', () => {
    const keys = [''];
    for (let first = 0; first < 256; first++) {
      keys.push(String.fromCharCode(first));
      for (let second = 0; second < 256; second++) keys.push(String.fromCharCode(first, second));
    }
    const random = generator(4);
    for (let index = keys.length - 1; index > 0; index--) {
      const other = Math.floor(random() * (index + 1));
      [keys[index], keys[other]] = [keys[other]!, keys[index]!];
    }
    expectOrderOfLessThan(keys);
    // The same with a third char of 0 or 255 appended to half of them (prefix numbers next to each other).
    expectOrderOfLessThan(keys.map((key, index) => (index % 2 === 0 && key.length === 2 ? `${key}${index % 4 === 0 ? '\u0000' : '\u00ff'}` : key)));
  });

  it('the memtable seal (orderedKeysAndChains) keeps each chain beside its key: ascending, displaced, random, then a scan', () => {
    const random = generator(5);
    for (const size of [2, RADIX_SMALL_RANGE + 1, PREFIX_SORT_KEYS_MIN - 1, PREFIX_SORT_KEYS_MIN, PREFIX_SORT_KEYS_MIN + 1]) {
      const keys = distinctKeys(size, () => `k${edgeKey(random, 5)}`);
      const ascending = [...keys].sort(byLessThan);
      const displaced = [...ascending.slice(1), ascending[0]!];
      for (const order of [ascending, displaced, keys]) {
        const index = new MemoryIndex(4);
        for (const key of order) index.apply(index.appliedVersion + 1, [{ key, slot: `v-${key}` }], Infinity);
        // Updates of existing keys push nothing: the Map's order stays the push order.
        for (const key of order.slice(0, 3)) index.apply(index.appliedVersion + 1, [{ key, slot: `w-${key}` }], Infinity);
        const { keys: sealedKeys, chains } = index.orderedKeysAndChains();
        expect([...sealedKeys]).toEqual(ascending);
        for (let at = 0; at < sealedKeys.length; at++) expect(chains[at]).toBe(index.chain(sealedKeys[at]!));
        // A second call and a later scan see the same order (the tree built from the sorted list).
        expect([...index.orderedKeysAndChains().keys]).toEqual(ascending);
        const scanned = index.scanChunk({}, undefined, index.appliedVersion, false, size + 1).map(([key]) => key);
        expect(scanned).toEqual(ascending);
      }
    }
  });
});
