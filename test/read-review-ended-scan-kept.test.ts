/**
 * A scan that ended (read to its end, returned, broken out of, thrown into, failed) lets
 * go of its read view even while the application keeps the iterator object: the view
 * holds the memtables and runs the scan read (read-view.ts), so a kept iterator kept a
 * flushed memtable in memory (uncounted: it is no longer held) and, after a compaction,
 * the runs it replaced open, their unlinked files' space held
 * (stats().storage.compaction.replacedRunsHeld). A released snapshot already drops its
 * view the same way (src/transaction/snapshot.ts).
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

type Iterator = AsyncIterableIterator<[string | Uint8Array, unknown]>;

/** Each ends a scan and answers the iterator, which the test keeps. */
const ENDINGS: Record<string, (store: Store) => Promise<Iterator>> = {
  'read to its end': async (store) => {
    const iterator = store.scan();
    let count = 0;
    for await (const entry of iterator) count += entry.length > 0 ? 1 : 0;
    expect(count).toBe(50);
    return iterator;
  },
  'returned after one entry': async (store) => {
    const iterator = store.scan();
    expect((await iterator.next()).done).toBe(false);
    await iterator.return!();
    return iterator;
  },
  'broken out of': async (store) => {
    const iterator = store.scan({ reverse: true });
    for await (const entry of iterator) if (entry.length > 0) break;
    return iterator;
  },
  'thrown into': async (store) => {
    const iterator = store.scan({ gte: 'k3' });
    await iterator.next();
    await expect(iterator.throw!(new Error('stop'))).rejects.toThrow('stop');
    return iterator;
  },
  'failed (as of a version not retained)': async (store) => {
    const iterator = store.scan({ gte: 'k10', asOf: 60 }); // k10 at 11 and 61: refused as of 60
    await expect(iterator.next()).rejects.toMatchObject({ code: 'LADYBUG_VERSION_NOT_RETAINED' });
    return iterator;
  },
  'of a snapshot, read to its end, the snapshot released': async (store) => {
    const snapshot = await store.snapshot();
    const iterator = snapshot.scan();
    for await (const entry of iterator) expect(entry.length).toBe(2);
    await snapshot.release();
    return iterator;
  },
};

describe('an ended scan the application keeps lets go of its view', () => {
  for (const [name, end] of Object.entries(ENDINGS)) {
    it(`a scan ${name}`, async () => {
      const store = await openStore(temporaryDirectory(), { maxVersionsPerKey: 1 });
      try {
        await twoRuns(store);
        const kept = await end(store);
        const result = await store.compact();
        expect(result.runsIn).toBe(2);
        await store.get('k2'); // the store's own cached view moves to the merged run
        await collectAfterTurns();
        expect(store.stats().storage.compaction.replacedRunsHeld, 'replaced runs still open').toBe(0);
        expect(store.stats().oldestPinnedVersion).toBeUndefined();
        // The kept iterator stays ended.
        expect(await kept.next()).toEqual({ done: true, value: undefined });
        expect(await store.get('k1')).toBe('1:1');
      } finally {
        await store.close();
      }
    });
  }
});
