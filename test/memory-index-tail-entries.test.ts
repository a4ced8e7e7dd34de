/**
 * A key of the ascending tail gets no VersionChain until something needs one
 * (src/memory/ascending-tail.ts): a write-only memtable of ascending keys is flushed
 * from the tail's versions and slots (MemoryIndex#orderedEntries, memtableEntries), a
 * read makes the key's chain once and every later read, move into the Map and flush
 * sees that same object, and a chain made while a flush holds the entries changes
 * nothing the flush reads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memtableEntries } from '../src/engine/memtable-entries.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from '../src/memory/version-chain.js';

const keyOf = (number: number): string => `k${String(number).padStart(6, '0')}`;

/** What a flush reads of `index`: key, version and value (undefined for a delete) of every entry. */
function flushed(index: MemoryIndex): Array<[string, number, string | undefined]> {
  const read: Array<[string, number, string | undefined]> = [];
  for (const entry of memtableEntries(index)) read.push([entry.key, entry.version, entry.value === undefined ? undefined : Buffer.from(entry.value).toString('hex')]);
  return read;
}

describe('MemoryIndex: tail keys without chains', () => {
  it('a write-only ascending memtable holds no chain, and its flush reads each key, version and delete', () => {
    const index = new MemoryIndex(1000);
    for (let number = 0; number < 500; number++) {
      index.apply(number + 1, [{ key: keyOf(number), slot: number % 7 === 3 ? TOMBSTONE : `v${number}` }], 0);
    }
    const { keys, entries, versions } = index.orderedEntries();
    expect(keys).toHaveLength(500);
    expect(entries.some((entry) => entry instanceof VersionChain)).toBe(false);
    expect(versions).toEqual(Array.from({ length: 500 }, (_, number) => number + 1));
    const read = flushed(index);
    expect(read.map(([key, version, value]) => [key, version, value === undefined])).toEqual(
      Array.from({ length: 500 }, (_, number) => [keyOf(number), number + 1, number % 7 === 3]),
    );
    // The same bytes as a flush of the same memtable with every chain made first.
    const chained = new MemoryIndex(1000);
    for (let number = 0; number < 500; number++) {
      chained.apply(number + 1, [{ key: keyOf(number), slot: number % 7 === 3 ? TOMBSTONE : `v${number}` }], 0);
    }
    chained.orderedKeysAndChains();
    expect(chained.orderedEntries().entries.every((entry) => entry instanceof VersionChain)).toBe(true);
    expect(flushed(chained)).toEqual(read);
    expect(index.stats()).toMatchObject({ keys: 500, liveKeys: 500 - 71, versions: 500 });
    index.verify();
  });

  it('a read makes a tail key chain once: the same object at every later read, in the Map and in the flush order', () => {
    const index = new MemoryIndex(1000);
    for (let number = 0; number < 3000; number++) index.apply(number + 1, [{ key: keyOf(number), slot: `v${number}` }], 0);
    const held = index.orderedEntries();
    const deep = index.chain(keyOf(2900))!; // deep in the tail: a binary search after a step moved the front
    expect(deep.versions).toEqual([2901]);
    expect(index.chain(keyOf(2900))).toBe(deep);
    // The entries a flush already holds: the made chain stands in the key's place, with the same version and slot.
    expect(held.entries[2900]).toBe(deep);
    expect(held.versions[2900]).toBe(2901);
    // A rewrite moves the rest of the tail into the Map: the chain made by the read is the one that grows.
    index.apply(3001, [{ key: keyOf(2900), slot: 'rewritten' }], 0);
    expect(index.chain(keyOf(2900))).toBe(deep);
    expect(deep.versions).toEqual([2901, 3001]);
    expect(index.slotAsOf(keyOf(2900), 2950)).toBe('v2900');
    const { keys, chains } = index.orderedKeysAndChains();
    expect(chains[keys.indexOf(keyOf(2900))]).toBe(deep);
    index.verify();
  });

  it('keeps each key version whether commits write one key each, several (a batch) or skip versions', () => {
    const commit = fc.record({ keys: fc.integer({ min: 1, max: 3 }), gap: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 2 })) });
    fc.assert(
      fc.property(fc.array(commit, { maxLength: 300 }), fc.array(fc.nat({ max: 700 }), { maxLength: 4 }), (commits, reads) => {
        const index = new MemoryIndex(1000);
        const written: Array<[string, number]> = [];
        let version = 0;
        for (const { keys, gap } of commits) {
          version += 1 + gap;
          const operations = Array.from({ length: keys }, (_, offset) => ({ key: keyOf(written.length + offset), slot: `v${version}` }));
          for (const operation of operations) written.push([operation.key, version]);
          index.apply(version, operations, 0);
          // Now and then a read (none in some runs: the flush then reads the tail as it is).
          const target = reads[written.length % 7];
          if (target !== undefined && target < written.length) expect(index.chain(written[target]![0])?.versions).toEqual([written[target]![1]]);
        }
        expect(flushed(index).map(([key, at]) => [key, at])).toEqual(written);
        for (const [key, at] of written) expect(index.chain(key)?.versions).toEqual([at]);
        index.verify();
      }),
      { numRuns: 80 },
    );
  });

  it('a flush holding the entries reads the same whatever reads make chains meanwhile', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2500 }), fc.array(fc.nat({ max: 2600 }), { maxLength: 40 }), (count, reads) => {
        const index = new MemoryIndex(1000);
        const slots: VersionSlot[] = [];
        for (let number = 0; number < count; number++) {
          const slot = number % 5 === 0 ? TOMBSTONE : `v${number}`;
          slots.push(slot);
          index.apply(number + 1, [{ key: keyOf(number), slot }], 0);
        }
        const entries = memtableEntries(index);
        const read: Array<[string, number]> = [];
        let step = 0;
        for (const entry of entries) {
          read.push([entry.key, entry.version]);
          expect(entry.value === undefined).toBe(slots[entry.version - 1] === TOMBSTONE);
          const target = reads[step++];
          if (target !== undefined) {
            const chain = index.chain(keyOf(target));
            if (target < count) expect(chain?.newest).toBe(slots[target]);
            else expect(chain).toBeUndefined();
          }
        }
        expect(read).toEqual(Array.from({ length: count }, (_, number) => [keyOf(number), number + 1]));
        index.verify();
      }),
      { numRuns: 30 },
    );
  });
});
