/**
 * MemoryIndex's ascending tail (src/memory/memory-index.ts, ascending-tail.ts): keys
 * applied above every key held stay out of the Map (no Map insert per fresh
 * sequential key, issue 12), and move into it in order when something needs it: a
 * rewrite, a lower key or a scan moves them all, a point read in the tail a bounded
 * step (then the Map or a binary search of the rest answers). Held
 * to a plain model after every step, with point reads of held, absent, lower and
 * higher keys; the flush order of a write-only ascending memtable is read without
 * a Map insert.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TAIL_KEYS_MOVED_PER_READ } from '../src/memory/ascending-tail.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../src/memory/version-chain.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const keyOf = (number: number): string => `k${String(number).padStart(6, '0')}`;

/** The distinct keys a spied Map#set was called with, in the order first set (moves into the Map). */
function keysSet(mapSet: { mock: { calls: unknown[][] } }): unknown[] {
  return [...new Set(mapSet.mock.calls.map(([key]) => key))];
}

describe('MemoryIndex: the ascending tail', () => {
  it('applies ascending keys and reads their flush order without a Map insert', () => {
    const index = new MemoryIndex(1000);
    const mapSet = vi.spyOn(Map.prototype, 'set');
    for (let number = 0; number < 1000; number++) index.apply(number + 1, [{ key: keyOf(number * 2), slot: `v${number}` }], 0);
    const { keys, chains } = index.orderedKeysAndChains();
    // A flush's carry-over asks a memtable it retires whether it holds a key: nothing moves.
    expect([index.holds(keyOf(0)), index.holds(keyOf(998)), index.holds(keyOf(999)), index.holds('z')]).toEqual([true, true, false, false]);
    // Before the tail, every fresh key was a Map insert (1,000 here).
    expect(mapSet).toHaveBeenCalledTimes(0);
    mapSet.mockRestore();
    expect(keys).toEqual(Array.from({ length: 1000 }, (_, number) => keyOf(number * 2)));
    for (let number = 0; number < 1000; number++) {
      expect(chains[number]).toBe(index.chain(keyOf(number * 2)));
      expect(index.slotAsOf(keyOf(number * 2), 1000)).toBe(`v${number}`);
      expect(index.chain(keyOf(number * 2 + 1))).toBeUndefined(); // between two tail keys
    }
    expect(index.chain('a')).toBeUndefined(); // below every key
    expect(index.chain('z')).toBeUndefined(); // above every key
    expect(index.stats()).toMatchObject({ keys: 1000, liveKeys: 1000, versions: 1000 });
    index.verify();
  });

  it('a rewrite inside the tail moves the tail into the Map in order, once', () => {
    const index = new MemoryIndex(1000);
    for (let number = 0; number < 100; number++) index.apply(number + 1, [{ key: keyOf(number), slot: `v${number}` }], 0);
    const mapSet = vi.spyOn(Map.prototype, 'set');
    index.apply(101, [{ key: keyOf(50), slot: 'rewritten' }], 0);
    // Keys set, in order (a key whose chain is made is set again, to its chain: src/memory/key-entries.ts).
    expect(keysSet(mapSet)).toEqual(Array.from({ length: 100 }, (_, number) => keyOf(number)));
    index.apply(102, [{ key: keyOf(100), slot: 'next' }], 0); // above again: a new tail, no Map insert
    expect(keysSet(mapSet).length).toBe(100);
    mapSet.mockRestore();
    expect(index.chain(keyOf(50))?.versions).toEqual([51, 101]);
    expect(index.slotAsOf(keyOf(50), 100)).toBe('v50');
    expect(index.slotAsOf(keyOf(100), 102)).toBe('next');
    expect(index.orderedKeysAndChains().keys).toEqual(Array.from({ length: 101 }, (_, number) => keyOf(number)));
    index.verify();
  });

  it('a point read in the tail moves a bounded step of it into the Map, then the rest at later reads', () => {
    const index = new MemoryIndex(1000);
    const count = TAIL_KEYS_MOVED_PER_READ * 2 + 10;
    for (let number = 0; number < count; number++) index.apply(number + 1, [{ key: keyOf(number), slot: `v${number}` }], 0);
    const mapSet = vi.spyOn(Map.prototype, 'set');
    expect(index.chain(keyOf(0))?.newest).toBe('v0'); // the tail's first key: a step of the tail moves, then the Map answers
    expect(keysSet(mapSet).length).toBe(TAIL_KEYS_MOVED_PER_READ);
    expect(index.chain(keyOf(count - 1))?.newest).toBe(`v${count - 1}`); // still in the tail after the next step
    expect(keysSet(mapSet).length).toBe(TAIL_KEYS_MOVED_PER_READ * 2);
    expect(index.chain(keyOf(5))?.newest).toBe('v5'); // below the tail now: the Map alone
    expect(index.chain('a')).toBeUndefined();
    expect(index.chain('z')).toBeUndefined(); // above every key: no step
    expect(keysSet(mapSet).length).toBe(TAIL_KEYS_MOVED_PER_READ * 2);
    expect(index.slotAsOf(keyOf(count - 5), count)).toBe(`v${count - 5}`); // the last step empties the tail
    expect(keysSet(mapSet).length).toBe(count);
    mapSet.mockRestore();
    const { keys, chains } = index.orderedKeysAndChains();
    expect(keys).toEqual(Array.from({ length: count }, (_, number) => keyOf(number)));
    for (let number = 0; number < count; number++) expect(chains[number]).toBe(index.chain(keyOf(number)));
    index.verify();
  });

  it('point reads, stats and flush order match a model after every step of any mix', () => {
    const step = fc.oneof(
      { weight: 8, arbitrary: fc.constant({ kind: 'next' as const, skip: 0 }) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((skip) => ({ kind: 'next' as const, skip })) },
      { weight: 2, arbitrary: fc.constant({ kind: 'rewrite' as const, skip: 0 }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'lower' as const, skip: 0 }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const, skip: 0 }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'scan' as const, skip: 0 }) },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), fc.nat(), (steps, seed) => {
        const index = new MemoryIndex(1000);
        const model = new Map<string, Array<[number, VersionSlot]>>();
        let next = 500;
        let lower = 499;
        let version = 0;
        for (const { kind, skip } of steps) {
          if (kind === 'scan') {
            index.chainsChunk({}, undefined, false, 1);
          } else {
            const written = [...model.keys()];
            let key: string;
            if (kind === 'next' || written.length === 0) {
              next += skip;
              key = keyOf(next++);
            } else if (kind === 'lower') key = keyOf(lower--);
            else key = written[(seed + version) % written.length]!;
            version++;
            const slot: VersionSlot = kind === 'delete' ? TOMBSTONE : `v${version}`;
            index.apply(version, [{ key, slot }], 0);
            model.set(key, [...(model.get(key) ?? []), [version, slot]]);
          }
          // Every key ever used, the gaps between them, and keys beyond both ends.
          for (let number = lower - 1; number <= next + 1; number++) {
            const history = model.get(keyOf(number));
            const chain = index.chain(keyOf(number));
            if (history === undefined) expect(chain).toBeUndefined();
            else expect(chain?.versions).toEqual(history.map(([written]) => written));
          }
          expect(index.stats().keys).toBe(model.size);
        }
        const keys = [...model.keys()].sort();
        const { keys: ordered, chains } = index.orderedKeysAndChains();
        expect(ordered).toEqual(keys);
        for (let position = 0; position < keys.length; position++) expect(chains[position]).toBe(index.chain(keys[position]!));
        index.verify();
      }),
      { numRuns: 200 },
    );
  });
});
