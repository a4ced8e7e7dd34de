/**
 * Issue 7 (killed reopen): a scan inside the reserved key prefix (the lease restart
 * scan at open) reads a memtable without sorting its waiting keys when none of them
 * is reserved (src/memory/memory-index.ts, #ensureOrderedFor), and still answers
 * exactly what a full sort would.
 *
 * Whether the waiting keys were moved into the tree is seen through
 * orderedKeysAndChains: a memtable whose tree is empty answers with its waiting list
 * itself (the same array on a second call), one with a tree builds fresh arrays.
 */
import { describe, expect, it } from 'vitest';
import { RESERVED_KEY_PREFIX } from '../src/lease/reserved-prefix.js';
import { type IndexOperation, type KeyRange, MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { SeededRandom } from '../src/harness/seeded-random.js';

/** An integer in [0, count). */
function below(random: SeededRandom, count: number): number {
  return random.nextIntInclusive(0, count - 1);
}

const RESERVED_RANGE: KeyRange = { gte: `${RESERVED_KEY_PREFIX}lease/`, lt: `${RESERVED_KEY_PREFIX}lease/\u00ff` };

function userKey(random: SeededRandom): string {
  let key = '';
  // Random byte strings, some starting with \u0000 (below and above the reserved prefix).
  const length = 1 + below(random, 12);
  for (let index = 0; index < length; index++) key += String.fromCharCode(below(random, 256));
  return key;
}

function treeWasBuilt(index: MemoryIndex): boolean {
  return index.orderedKeysAndChains().keys !== index.orderedKeysAndChains().keys;
}

function chainKeys(index: MemoryIndex, range: KeyRange, reverse: boolean): string[] {
  return index.chainsChunk(range, undefined, reverse, 1_000_000).map(([key]) => key);
}

function modelKeys(keys: Iterable<string>, range: KeyRange, reverse: boolean): string[] {
  const inside = [...new Set(keys)].filter((key) => (range.gte === undefined || key >= range.gte) && (range.lt === undefined || key < range.lt)).sort();
  return reverse ? inside.reverse() : inside;
}

describe('reserved-prefix scans of a replayed memtable', () => {
  it('sort nothing when no waiting key is reserved, and find nothing there', () => {
    const random = new SeededRandom(7);
    const index = new MemoryIndex(8);
    const keys = [...new Set(Array.from({ length: 5_000 }, () => userKey(random)))].filter((key) => !key.startsWith(RESERVED_KEY_PREFIX));
    index.apply(1, keys.map((key) => ({ key, slot: 'v' })), Infinity);
    expect(chainKeys(index, RESERVED_RANGE, false)).toEqual([]);
    expect(index.scanChunk(RESERVED_RANGE, undefined, 1, true, 10)).toEqual([]);
    expect(treeWasBuilt(index)).toBe(false);
    // A range outside the prefix sorts them all, and finds what the model finds.
    const everything: KeyRange = {};
    expect(chainKeys(index, everything, false)).toEqual(modelKeys(keys, everything, false));
    expect(treeWasBuilt(index)).toBe(true);
  });

  it('answer exactly as a full sort would, with reserved keys waiting, in the tree, or both', () => {
    const random = new SeededRandom(11);
    for (let round = 0; round < 40; round++) {
      const index = new MemoryIndex(8);
      const written: string[] = [];
      let version = 0;
      for (let commit = 0; commit < 6; commit++) {
        // One operation per key in a commit (a commit's keys are distinct).
        const commitKeys = new Set(Array.from({ length: 1 + below(random, 50) }, () => (
          below(random, 5) === 0 ? `${RESERVED_KEY_PREFIX}lease/${below(random, 30)}` : userKey(random))));
        const operations = [...commitKeys].map((key): IndexOperation => {
          written.push(key);
          return { key, slot: below(random, 4) === 0 ? TOMBSTONE : `v${commit}` };
        });
        index.apply(++version, operations, Infinity);
        // Scans between commits: some inside the prefix (may skip the sort), some not.
        const range = below(random, 3) === 0 ? { gte: written[below(random, written.length)]! } : RESERVED_RANGE;
        const reverse = below(random, 2) === 0;
        expect(chainKeys(index, range, reverse)).toEqual(modelKeys(written, range, reverse));
      }
      index.verify();
      expect(chainKeys(index, RESERVED_RANGE, false)).toEqual(modelKeys(written, RESERVED_RANGE, false));
    }
  });

  it('sort as before once a reserved key waits', () => {
    const index = new MemoryIndex(8);
    index.apply(1, [{ key: 'b', slot: 1 }, { key: `${RESERVED_KEY_PREFIX}lease/x`, slot: 2 }, { key: 'a', slot: 3 }], Infinity);
    expect(chainKeys(index, RESERVED_RANGE, false)).toEqual([`${RESERVED_KEY_PREFIX}lease/x`]);
    expect(treeWasBuilt(index)).toBe(true);
    // Sorted: the next new user key waits alone, and the reserved scan leaves it waiting.
    index.apply(2, [{ key: 'c', slot: 4 }], Infinity);
    expect(chainKeys(index, RESERVED_RANGE, true)).toEqual([`${RESERVED_KEY_PREFIX}lease/x`]);
    expect(chainKeys(index, {}, false)).toEqual([`${RESERVED_KEY_PREFIX}lease/x`, 'a', 'b', 'c']);
  });
});
