/**
 * The drop's release of a flushed memtable's values in slices (src/memory/slab-reuse.ts,
 * issue 12's 64-writer p99): in one synchronous step it held the main thread 1.3-30 ms
 * at each flush, every commit in flight waiting. Now the first slice runs in the drop
 * and the rest one per event-loop turn, the flush ending with the last.
 *
 * - MemoryIndex#arrivalOrderWalk in steps of any size visits what
 *   forEachEntryInArrivalOrder visits, in its order (Map, a built tree, a partly moved
 *   tail, a rewrite), and a release in steps releases what the one-step release does.
 * - Through a store, with slices of one 8-key step: commits are acknowledged between
 *   the slices of a drop, every value a churn wrote reads back afterwards (a value of a
 *   live memtable released early shows as another put's bytes once its slab is carved
 *   again), and the slabs are reused.
 */
import { Buffer } from 'node:buffer';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SlabPool } from '../src/codec/slab-pool.js';
import { COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, commitSlabPool, ValueSlabs } from '../src/codec/value-slabs.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { TailEntry } from '../src/memory/ascending-tail.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { DroppedMemtableRelease, markCapturedByReader, releaseDroppedMemtable, releaseSlicing, startMemtableRelease } from '../src/memory/slab-reuse.js';
import { openStore } from '../src/store/open-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const keyOf = (number: number): string => `k${String(number).padStart(6, '0')}`;

/** A memtable with keys in its Map, its tree (a scan built it), its tail (a read moved part of it) and a rewrite; 100 B slab values. */
function mixedMemtable(): { index: MemoryIndex; pool: SlabPool; values: number } {
  const pool = new SlabPool(COMMIT_VALUE_SLAB_BYTES);
  const slabs = new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool);
  const index = new MemoryIndex(1000);
  let version = 0;
  const put = (key: string): void => index.apply(++version, [{ key, slot: slabs.reserve(100) }], 0);
  for (let number = 0; number < 3000; number++) put(keyOf((number * 7919) % 3000));
  index.scanChunk({}, undefined, version, false, 10);
  for (let number = 3000; number < 6000; number++) put(keyOf(number));
  expect(index.chain(keyOf(4000))?.versions).toEqual([4001]);
  put(keyOf(10));
  for (let number = 6000; number < 7000; number++) put(keyOf(number));
  // Moves the allocator off its last slab: every slab may go to the free list once released.
  new ValueSlabs(COMMIT_VALUE_SLAB_BYTES, COMMIT_VALUE_SLAB_VALUE_BYTES_MAX, pool).reserve(1);
  return { index, pool, values: version };
}

describe('the drop release in slices', () => {
  it('a walk in steps visits every entry once, in arrival order, for any step size', () => {
    const { index } = mixedMemtable();
    const whole: Array<[TailEntry, number]> = [];
    index.forEachEntryInArrivalOrder((entry, span) => whole.push([entry, span]));
    expect(whole.length).toBe(7000);
    for (const step of [1, 7, 256, 2999, 3000, 3001, 7000, 100_000]) {
      const walk = index.arrivalOrderWalk();
      const stepped: Array<[TailEntry, number]> = [];
      let calls = 0;
      while (!walk((entry, span) => stepped.push([entry, span]), step)) {
        calls++;
        expect(calls).toBeLessThanOrEqual(Math.ceil(7000 / step));
      }
      expect(stepped.length).toBe(7000);
      expect(stepped.every(([entry, span], position) => entry === whole[position]![0] && span === whole[position]![1])).toBe(true);
      // Done stays done.
      expect(walk(() => stepped.push([undefined as unknown as TailEntry, 0]), step)).toBe(true);
      expect(stepped.length).toBe(7000);
    }
  });

  it('a release in steps releases what the one-step release does, and frees the same slabs', () => {
    const once = mixedMemtable();
    expect(releaseDroppedMemtable(once.index, 1 << 30, 1 << 30, once.pool)).toBe(once.values);
    const stepped = mixedMemtable();
    const release = startMemtableRelease(stepped.index, 1 << 30, 1 << 30, stepped.pool);
    expect(release).toBeInstanceOf(DroppedMemtableRelease);
    let steps = 0;
    while (!release!.step(100)) steps++;
    expect(steps).toBe(69);
    expect(release!.done).toBe(true);
    expect(release!.released).toBe(stepped.values);
    expect(stepped.pool.freeBytes).toBe(once.pool.freeBytes);
    expect(stepped.pool.freeBytes).toBeGreaterThan(0);
    // A memtable a reader captured is not released at all.
    const captured = mixedMemtable();
    markCapturedByReader([captured.index]);
    expect(startMemtableRelease(captured.index, 1 << 30, 1 << 30, captured.pool)).toBeUndefined();
    expect(captured.pool.freeBytes).toBe(0);
  });

  describe('through a store', () => {
    const saved = { ...releaseSlicing };
    afterEach(() => Object.assign(releaseSlicing, saved));
    afterAll(() => removeTemporaryDirectories());

    it('commits are acknowledged between the slices of a drop, and every value reads back', async () => {
      // One 8-key step a slice: a dropped memtable of a few hundred keys takes dozens of turns.
      Object.assign(releaseSlicing, { stepKeys: 8, sliceMs: 0 });
      const slices = { during: 0, drops: 0, commitsBetween: 0 };
      const originalSlice = DroppedMemtableRelease.prototype.slice;
      let releasing = false;
      DroppedMemtableRelease.prototype.slice = function (this: DroppedMemtableRelease): boolean {
        const done = originalSlice.call(this);
        slices.during++;
        if (!releasing && !done) slices.drops++;
        releasing = !done;
        return done;
      };
      const reusedBefore = commitSlabPool.counts.reused;
      const fileSystem = new FaultFileSystem(12);
      const directory = temporaryDirectory('p99-sliced-release');
      const store = await openStore(directory, { fileSystem, memoryBudgetBytes: 3 * 1024 * 1024, segmentSizeBytes: 64 * 1024 });
      const valueOf = (key: number, round: number): Buffer => Buffer.alloc(40 + ((key * 31 + round * 17) % 400), `${key}/${round};`);
      try {
        const KEYS = 6000;
        const WRITERS = 16;
        for (let round = 0; round < 2; round++) {
          let next = 0;
          await Promise.all(Array.from({ length: WRITERS }, async () => {
            while (next < KEYS) {
              const key = next++;
              await store.put(keyOf(key), valueOf(key, round));
              if (releasing) slices.commitsBetween++;
            }
          }));
        }
        await store.checkpoint();
        expect(slices.drops).toBeGreaterThan(2);
        expect(slices.during).toBeGreaterThan(10 * slices.drops);
        expect(slices.commitsBetween).toBeGreaterThan(0);
        expect(releasing).toBe(false);
        expect(commitSlabPool.counts.reused).toBeGreaterThan(reusedBefore);
        for (let key = 0; key < 6000; key++) {
          const read = (await store.get(keyOf(key))) as Uint8Array;
          if (!Buffer.from(read).equals(valueOf(key, 1))) expect.fail(`key ${key} read back other bytes`);
        }
      } finally {
        DroppedMemtableRelease.prototype.slice = originalSlice;
        await store.close();
      }
    });
  });
});
