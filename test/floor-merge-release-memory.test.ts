/**
 * A flushed memtable whose values are released in slices (one per event-loop turn,
 * src/memory/slab-reuse.ts) is still in memory until the last slice: its keys, chains
 * and the slabs of the values not yet released. It had left the memtables at its install
 * (Memtables#retireOldest), so between the slices stats().memoryBytes did not count it
 * (here 2,000 keys of 100 B in 4-key slices: ~500 turns with retainedMemtables 0). Now
 * it is counted in storage.retainedMemtables /
 * retainedMemtableBytes (and so in memoryBytes) until its release ends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { DroppedMemtableRelease, releaseSlicing } from '../src/memory/slab-reuse.js';
import { openStore, type Store, type StoreStats } from '../src/index.js';

const originalSlice = DroppedMemtableRelease.prototype.slice;
const saved = { ...releaseSlicing };
afterEach(() => {
  DroppedMemtableRelease.prototype.slice = originalSlice;
  Object.assign(releaseSlicing, saved);
});

describe('floor-merge: a flushed memtable while its release runs in slices', () => {
  it('is counted in memoryBytes until the release ends', async () => {
    const store: Store = await openStore('/db', { fileSystem: new FaultFileSystem(331), memoryBudgetBytes: 8 * 1024 * 1024 });
    try {
      for (let index = 0; index < 2000; index++) await store.put(`k${String(index).padStart(5, '0')}`, `${index}`.padEnd(100, 'v'));
      const before = store.stats();
      const memtableBytes = before.storage.memtableBytes;
      expect(memtableBytes).toBeGreaterThan(200_000);
      expect(before.storage.retainedMemtableBytes).toBe(0);
      // Slices of one 4-key step: the release takes hundreds of turns. Stats are read at its third slice, a turn after the install.
      Object.assign(releaseSlicing, { stepKeys: 4, sliceMs: 0 });
      let slices = 0;
      let during: StoreStats | undefined;
      DroppedMemtableRelease.prototype.slice = function (this: DroppedMemtableRelease): boolean {
        if (++slices === 3) during = store.stats();
        return originalSlice.call(this);
      };
      await store.checkpoint();
      expect(slices, 'the release ran in slices').toBeGreaterThan(100);
      expect(during, 'stats read while the release ran').toBeDefined();
      expect(during!.storage.flushes).toBe(1);
      expect(during!.storage.memtableBytes + during!.storage.immutableMemtableBytes, 'no memtable holds it').toBe(0);
      expect(during!.storage.retainedMemtables).toBe(1);
      expect(during!.storage.retainedMemtableBytes, 'its estimate, while its release runs').toBe(memtableBytes);
      expect(during!.memoryBytes).toBeGreaterThanOrEqual(memtableBytes);
      const after = store.stats();
      expect(after.storage.retainedMemtables, 'the release ended').toBe(0);
      expect(after.storage.retainedMemtableBytes).toBe(0);
    } finally {
      await store.close();
    }
  });
});
