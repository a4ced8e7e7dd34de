/**
 * The store's shared read view (read-view-cache.ts) is made again when the runs change,
 * at the next read, and dropped after each flush install; a compaction's install must
 * drop it too. Otherwise the cached view, made by a read before the compaction, keeps
 * the runs it replaced acquired, their readers open and their unlinked files' space held
 * (stats().storage.compaction.replacedRunsHeld), for as long as the store is not read
 * again and no flush comes: compact() called to give space back gave none while idle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { collectAfterTurns } from './support/collect-garbage.js';

afterEach(() => removeTemporaryDirectories());

async function twoRuns(store: Store): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, `${round}:${index}`);
    await store.checkpoint();
  }
}

/** Reads made before the compact(), none after it: each leaves the store's cached view over the two runs. */
const READS: Record<string, (store: Store) => Promise<void>> = {
  'a get': async (store) => {
    expect(await store.get('k1')).toBe('1:1');
  },
  'a scan read to its end': async (store) => {
    let count = 0;
    for await (const entry of store.scan({ gte: 'k2' })) count += entry.length > 0 ? 1 : 0;
    expect(count).toBeGreaterThan(0);
  },
  'a history': async (store) => {
    expect(await store.history('k3')).toHaveLength(2);
  },
};

describe('a compaction lets go of the runs it replaced while the store is idle', () => {
  for (const [name, read] of Object.entries(READS)) {
    it(`after ${name}`, async () => {
      const store = await openStore(temporaryDirectory());
      try {
        await twoRuns(store);
        await read(store);
        const result = await store.compact();
        expect(result.runsIn).toBe(2);
        await collectAfterTurns();
        expect(store.stats().storage.compaction.replacedRunsHeld, 'replaced runs still open with no reader').toBe(0);
        expect(store.stats().storage.runs).toBe(1);
        // Reads after it answer from the merged run.
        expect(await store.get('k1')).toBe('1:1');
        expect(await store.history('k3')).toHaveLength(2);
      } finally {
        await store.close();
      }
    });
  }
});
