/**
 * The split of the cache budget between the block cache and the point cache
 * (src/engine/memory-budget.ts cacheBounds, set by storage-engine.ts #resizeCache):
 * half each while the runs' index and filter partitions are small; once their
 * estimate (partitionBytesEstimate) needs more, the block cache grows to hold them,
 * and the point cache keeps at least POINT_CACHE_SHARE_MIN. The two always add up to
 * the same cache budget.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BLOCK_CACHE_DATA_SHARE, IMMUTABLE_BUDGET_SHARE, INDEX_PARTITION_BYTES_PER_ENTRY, MEMTABLE_BUDGET_SHARE, MEMTABLE_CHARGE_STEP_SHARE,
  partitionBytesEstimate, POINT_CACHE_SHARE_MIN,
} from '../src/engine/memory-budget.js';
import type { RunHandle } from '../src/engine/run-set.js';
import { openStore } from '../src/index.js';
import { RUN_BLOOM_BITS_PER_KEY } from '../src/run/bloom-filter.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  removeTemporaryDirectories();
});

describe('cache budget split', () => {
  it('partitionBytesEstimate counts the filter bits per key and index bytes per entry of every run', () => {
    const runs = [
      { descriptor: { keyCount: 1000, entryCount: 1500 } },
      { descriptor: { keyCount: 80, entryCount: 80 } },
    ] as unknown as RunHandle[];
    const expected = (1080 * RUN_BLOOM_BITS_PER_KEY) / 8 + 1580 * INDEX_PARTITION_BYTES_PER_ENTRY;
    expect(partitionBytesEstimate(runs)).toBe(expected);
    expect(partitionBytesEstimate([])).toBe(0);
  });

  it('gives the block cache room for the partitions of many small keys, never below the point cache floor', async () => {
    // A 1 MiB budget (the 1 MiB cache minimum) over 200,000 keys: ~0.65 MB of partitions by the estimate.
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 1024 * 1024 });
    try {
      const empty = store.stats().storage;
      expect(empty.blockCacheMaxBytes).toBe(Math.floor(empty.cacheMaxBytes / 2) + (empty.cacheMaxBytes % 2));
      const cacheMaxBytes = empty.cacheMaxBytes;
      for (let start = 0; start < 200_000; start += 10_000) {
        const operations = [];
        for (let index = start; index < start + 10_000; index++) operations.push({ type: 'put' as const, key: `k${index}`, value: index });
        await store.batch(operations);
      }
      await store.checkpoint();
      const storage = store.stats().storage;
      const runs = storage.runs;
      expect(runs).toBeGreaterThan(0);
      // The partitions' estimate plus the data share is above half the cache: the block cache took more than half.
      expect(storage.blockCacheMaxBytes).toBeGreaterThan(cacheMaxBytes / 2);
      expect(storage.blockCacheMaxBytes).toBeGreaterThanOrEqual(Math.min(cacheMaxBytes - Math.floor(cacheMaxBytes * POINT_CACHE_SHARE_MIN), Math.floor(cacheMaxBytes * BLOCK_CACHE_DATA_SHARE)));
      expect(storage.pointCacheMaxBytes).toBeGreaterThanOrEqual(Math.floor(cacheMaxBytes * POINT_CACHE_SHARE_MIN) - 1);
      expect(storage.blockCacheMaxBytes + storage.pointCacheMaxBytes).toBeLessThanOrEqual(cacheMaxBytes);
      expect(storage.cacheMaxBytes).toBe(storage.blockCacheMaxBytes + storage.pointCacheMaxBytes);
      // Reads stay exact, and both caches stay within their bounds.
      for (let index = 0; index < 200_000; index += 97) expect(await store.get(`k${index}`)).toBe(index);
      const after = store.stats().storage;
      expect(after.blockCacheBytes).toBeLessThanOrEqual(after.blockCacheMaxBytes);
      expect(after.pointCacheBytes).toBeLessThanOrEqual(after.pointCacheMaxBytes);
    } finally {
      await store.close();
    }
  });

  it('after a reopen, runs opened on demand give their resident index room back: caches + run indexes stay within the share', async () => {
    const directory = temporaryDirectory();
    const budget = 8 * 1024 * 1024;
    const first = await openStore(directory, { memoryBudgetBytes: budget });
    for (let round = 0; round < 4; round++) {
      const operations = [];
      for (let index = 0; index < 20_000; index++) operations.push({ type: 'put' as const, key: `r${round}-${index}`, value: index });
      await first.batch(operations);
      await first.checkpoint();
    }
    await first.close();
    const store = await openStore(directory, { memoryBudgetBytes: budget });
    try {
      // The caches' share: the budget less the memtables' charge (one step while they hold nothing).
      const before = store.stats().storage;
      expect(before.memtableChargeBytes).toBe(Math.floor(budget * MEMTABLE_CHARGE_STEP_SHARE));
      const share = budget - before.memtableChargeBytes;
      expect(before.cacheMaxBytes + before.runIndexBytes).toBe(share);
      for (let round = 0; round < 4; round++) expect(await store.get(`r${round}-7`)).toBe(7);
      const after = store.stats().storage;
      expect(after.runIndexBytes).toBeGreaterThan(before.runIndexBytes);
      // The caches' bounds shrank by what the opened runs hold resident.
      expect(after.cacheMaxBytes + after.runIndexBytes).toBe(share);
    } finally {
      await store.close();
    }
  });

  it('charges the memtables what they hold: the caches shrink as writes fill them and take the room back once flushed', async () => {
    const budget = 8 * 1024 * 1024;
    const step = Math.floor(budget * MEMTABLE_CHARGE_STEP_SHARE);
    const chargeMax = Math.floor(budget * (MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE));
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: budget });
    try {
      const charges: number[] = [];
      const check = (): void => {
        const storage = store.stats().storage;
        const memtableBytes = storage.memtableBytes + storage.immutableMemtableBytes;
        // The whole budget is accounted for: the memtables' charge, the caches, the runs' resident indexes.
        expect(storage.memtableChargeBytes + storage.cacheMaxBytes + storage.runIndexBytes).toBe(budget);
        expect(storage.memtableChargeBytes).toBeLessThanOrEqual(chargeMax);
        // The charge covers what the memtables hold, up to their two shares (checked at the end of each record).
        expect(storage.memtableChargeBytes).toBeGreaterThanOrEqual(Math.min(chargeMax, memtableBytes));
        expect(storage.blockCacheBytes).toBeLessThanOrEqual(storage.blockCacheMaxBytes);
        charges.push(storage.memtableChargeBytes);
      };
      check();
      expect(charges[0]).toBe(step);
      const emptyCacheMaxBytes = store.stats().storage.cacheMaxBytes;
      // More than the memtables' share of the old fixed split: the caches had 5/8 of the budget whatever the memtables held.
      expect(emptyCacheMaxBytes).toBeGreaterThan(Math.floor(budget * (1 - MEMTABLE_BUDGET_SHARE - IMMUTABLE_BUDGET_SHARE)));
      for (let round = 0; round < 12; round++) {
        const operations = [];
        for (let index = 0; index < 2_000; index++) operations.push({ type: 'put' as const, key: `c${round}-${index}`, value: 'v'.repeat(40) });
        await store.batch(operations);
        check();
      }
      // The writes grew the charge past one step (the caches gave room back).
      expect(Math.max(...charges)).toBeGreaterThan(step);
      await store.checkpoint();
      check();
      // Flushed: the memtables hold nothing again, the caches have their room back (less the new runs' indexes).
      const flushed = store.stats().storage;
      expect(flushed.memtableChargeBytes).toBe(step);
      expect(flushed.cacheMaxBytes + flushed.runIndexBytes).toBe(emptyCacheMaxBytes);
      for (let round = 0; round < 12; round += 5) expect(await store.get(`c${round}-17`)).toBe('v'.repeat(40));
    } finally {
      await store.close();
    }
  });
});
