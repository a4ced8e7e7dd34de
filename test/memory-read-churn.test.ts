/**
 * Issue 7 (read RSS), through the store: uniform gets over runs a few times the block
 * cache must not turn the cache over on every miss. Each block admitted to a full cache
 * is a fresh allocation that evicts another; before the hit credit (block-cache.ts
 * "Churn") nearly every miss did, and the large-load read phase peaked at ~275 MiB
 * (malloc holding ~106 MiB of evicted blocks' memory), ~200 after.
 *
 * stats().storage.blockCacheEvictions and blockCacheAdmissionsRefused make the churn
 * visible; this checks them against the misses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const KEY_COUNT = 4000;
const VALUE_BYTES = 1000;
const BATCH_KEYS = 500;
const READS = 20_000;

afterEach(() => {
  removeTemporaryDirectories();
});

function key(index: number): string {
  return `key-${String(index).padStart(6, '0')}`;
}

describe('block cache churn under uniform gets', () => {
  it('a full cache evicts for few of its misses, and says how many admissions it refused', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 1024 * 1024 });
    try {
      for (let start = 0; start < KEY_COUNT; start += BATCH_KEYS) {
        const operations = [];
        for (let index = start; index < start + BATCH_KEYS; index++) operations.push({ type: 'put' as const, key: key(index), value: new Uint8Array(VALUE_BYTES).fill(index & 0xff) });
        await store.batch(operations);
      }
      await store.checkpoint();
      await store.compact(); // one run: no compaction replaces runs (and refills the cache) during the reads
      expect(store.stats().storage.runs).toBe(1);
      const random = new SeededRandom(3);
      for (let read = 0; read < READS; read++) {
        const index = random.nextIntInclusive(0, KEY_COUNT - 1);
        expect(((await store.get(key(index))) as Uint8Array)[0]).toBe(index & 0xff);
      }
      const storage = store.stats().storage;
      // ~4 MB of runs over a block cache of a few hundred KiB: most block lookups miss.
      expect(storage.blockCacheBytes).toBeGreaterThan(storage.blockCacheMaxBytes / 2);
      expect(storage.blockCacheMisses).toBeGreaterThan(READS / 4);
      // Before the hit credit nearly every miss was admitted and evicted a block.
      expect(storage.blockCacheEvictions).toBeLessThan(storage.blockCacheMisses * 0.1);
      expect(storage.blockCacheAdmissionsRefused).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }, 60_000);
});
