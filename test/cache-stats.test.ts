/**
 * stats().storage names each cache figure for what it counts: blockCacheBytes is the
 * block cache alone, so it stays within blockCacheMaxBytes; the point cache has its
 * own pointCacheBytes / pointCacheMaxBytes; cacheBytes / cacheMaxBytes are the two
 * together, and are what memoryBytes and tiers.hotBytes count.
 *
 * The store is read until both caches are full (a 1 MiB cache over ~4 MiB of runs,
 * every key read twice so the point cache's doorkeeper admits it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const KEY_COUNT = 4000;
const VALUE_BYTES = 1000;

afterEach(() => {
  removeTemporaryDirectories();
});

function key(index: number): string {
  return `key-${String(index).padStart(6, '0')}`;
}

describe('cache figures in stats().storage', () => {
  it('blockCacheBytes stays within blockCacheMaxBytes with a full point cache; the totals add up', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 1024 * 1024 });
    try {
      for (let start = 0; start < KEY_COUNT; start += 500) {
        const operations = [];
        for (let index = start; index < start + 500; index++) operations.push({ type: 'put' as const, key: key(index), value: new Uint8Array(VALUE_BYTES).fill(index & 0xff) });
        await store.batch(operations);
      }
      await store.checkpoint();
      // One run: no background compaction installs a new run set (which empties the point cache) during the reads.
      await store.compact();
      expect(store.stats().storage.runs).toBe(1);
      for (let round = 0; round < 2; round++) {
        for (let index = 0; index < KEY_COUNT; index++) expect((await store.get(key(index)) as Uint8Array)[0]).toBe(index & 0xff);
      }
      const stats = store.stats();
      const storage = stats.storage;
      // Both caches hold something, and the block cache is filled to its bound.
      expect(storage.pointCacheBytes).toBeGreaterThan(0);
      expect(storage.blockCacheBytes).toBeGreaterThan(storage.blockCacheMaxBytes / 2);
      expect(storage.blockCacheBytes).toBeLessThanOrEqual(storage.blockCacheMaxBytes);
      expect(storage.pointCacheBytes).toBeLessThanOrEqual(storage.pointCacheMaxBytes);
      expect(storage.cacheBytes).toBe(storage.blockCacheBytes + storage.pointCacheBytes);
      expect(storage.cacheMaxBytes).toBe(storage.blockCacheMaxBytes + storage.pointCacheMaxBytes);
      expect(storage.cacheBytes).toBeLessThanOrEqual(storage.cacheMaxBytes);
      expect(stats.memoryBytes).toBe(storage.memtableBytes + storage.immutableMemtableBytes + storage.valueSlabPoolBytes + storage.cacheBytes + storage.runIndexBytes);
      expect(storage.tiers.hotBytes).toBe(storage.memtableBytes + storage.immutableMemtableBytes + storage.cacheBytes);
    } finally {
      await store.close();
    }
  });
});
