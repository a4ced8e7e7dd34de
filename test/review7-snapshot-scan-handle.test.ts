/**
 * Review 7, snapshots: a scan of a snapshot whose handle the caller no longer holds
 * (`(await store.snapshot()).scan()`, or a helper that returns only the iterator)
 * must read to its end. The handle is released when garbage-collected (a
 * FinalizationRegistry), and the scan iterator held the inner snapshot but not the
 * handle: a collection mid-scan released the snapshot and the scan's next batch
 * failed with SnapshotReleasedError, at a point that depended on the collector.
 * The iterator now keeps its handle reachable; once both are dropped the pin is
 * still released by the collector.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { collectAfterTurns } from './support/collect-garbage.js';


afterEach(() => removeTemporaryDirectories());

const KEYS = 3_000;

describe('review7: a snapshot scan whose handle was dropped', () => {
  it('reads every key as of the snapshot, with collections mid-scan', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      for (let index = 0; index < KEYS; index++) await store.put(`k${String(index).padStart(5, '0')}`, index);
      const iterator = (await store.snapshot()).scan();
      await store.put('k00000', 'after the snapshot');
      let read = 0;
      for await (const [, value] of iterator) {
        expect(value).toBe(read);
        read++;
        if (read % 500 === 0) await collectAfterTurns(3, 1);
      }
      expect(read).toBe(KEYS);
    } finally {
      await store.close();
    }
  });

  it('the collector still releases a snapshot dropped with its iterator', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      await store.put('a', 1);
      await (async () => {
        const iterator = (await store.snapshot()).scan();
        await iterator.next();
      })();
      for (let round = 0; round < 20 && store.stats().oldestPinnedVersion !== undefined; round++) await collectAfterTurns(3, 1);
      expect(store.stats().oldestPinnedVersion).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
