/**
 * MemoryIndex#orderedChains, the order a flush writes a sealed memtable in. A
 * memtable no scan touched is read from its sorted waiting keys without building the
 * B+ tree (src/memory/memory-index.ts); these tests hold that path to the same answer
 * as the tree: every key once, ascending, with the map's chain, whether or not a scan
 * ran before, after, or in the middle of the iteration.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionFailedError } from '../src/errors.js';
import { MemoryIndex } from '../src/memory/memory-index.js';

function indexWith(keys: readonly string[]): MemoryIndex {
  const index = new MemoryIndex(4);
  for (const key of keys) index.apply(index.appliedVersion + 1, [{ key, slot: `v-${key}` }], Infinity);
  return index;
}

function ascendingUnique(keys: readonly string[]): string[] {
  return [...new Set(keys)].sort();
}

function checkOrdered(index: MemoryIndex, keys: readonly string[]): void {
  const entries = [...index.orderedChains()];
  expect(entries.map(([key]) => key)).toEqual(ascendingUnique(keys));
  for (const [key, chain] of entries) expect(index.chain(key)).toBe(chain);
}

const keyLists = fc.array(fc.string({ minLength: 1, maxLength: 6, unit: 'binary-ascii' }), { maxLength: 200 });

describe('MemoryIndex#orderedChains', () => {
  it('yields every key once in ascending order with its chain, never scanned (no tree built)', () => {
    fc.assert(fc.property(keyLists, (keys) => {
      const index = indexWith(keys);
      checkOrdered(index, keys);
      checkOrdered(index, keys); // a second flush attempt (after a failed one) reads the same
      index.verify();
    }), { numRuns: 200 });
  });

  it('gives the same order when a scan built the tree before, and a scan after it sees every key', () => {
    fc.assert(fc.property(keyLists, keyLists, (before, after) => {
      const index = indexWith(before);
      index.chainsChunk({}, undefined, false, 1);
      for (const key of after) index.apply(index.appliedVersion + 1, [{ key, slot: 'later' }], Infinity);
      checkOrdered(index, [...before, ...after]);
      const scanned = index.chainsChunk({}, undefined, false, Number.MAX_SAFE_INTEGER).map(([key]) => key);
      expect(scanned).toEqual(ascendingUnique([...before, ...after]));
      index.verify();
    }), { numRuns: 100 });
  });

  it('goes on over every key when a scan moves the waiting keys into the tree mid-iteration', () => {
    const keys = Array.from({ length: 300 }, (_, position) => `k${(position * 7919) % 1000}`);
    const index = indexWith(keys);
    const seen: string[] = [];
    for (const [key] of index.orderedChains()) {
      seen.push(key);
      if (seen.length === 10) expect(index.chainsChunk({}, undefined, true, 3)).toHaveLength(3);
    }
    expect(seen).toEqual(ascendingUnique(keys));
    index.verify();
  });

  it('refuses an apply in the middle of the iteration (a sealed memtable never changes)', () => {
    const index = indexWith(['b', 'a', 'c']);
    const iterator = index.orderedChains();
    iterator.next();
    index.apply(index.appliedVersion + 1, [{ key: 'd', slot: 'x' }], Infinity);
    expect(() => iterator.next()).toThrow(AssertionFailedError);
  });
});
