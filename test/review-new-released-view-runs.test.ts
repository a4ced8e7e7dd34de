/**
 * Review of 1f6fee9 (memtables readers hold, src/engine/memtable-holds.ts): a reader that
 * ended must leave nothing reachable. A view's runs are released, and the runs a
 * compaction replaced have their readers closed (the unlinked files' descriptors, so
 * their space comes back), only when the view is collected (read-view.ts). The holds'
 * list kept every view a long-lived reader had held strongly until the next flush's
 * install, so after a snapshot, a scan, a transaction or a watch catch-up, a compact()
 * left its replaced runs open (stats().storage.compaction.replacedRunsHeld 2, the files'
 * space held) for as long as no flush came: on a store that is only read, until close.
 * The list now refers to its views weakly.
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

type Reader = (store: Store) => Promise<(() => Promise<void>) | undefined>;

/** Each reader, run before the compact(); what it answers is awaited after the compact() (undefined: nothing). */
const READERS: Record<string, Reader> = {
  'a snapshot released': async (store) => {
    const snapshot = await store.snapshot();
    expect(await snapshot.get('k1')).toBe('1:1');
    await snapshot.release();
    return undefined;
  },
  'a snapshot held across the compaction, released after it': async (store) => {
    const snapshot = await store.snapshot();
    return async () => {
      expect(await snapshot.get('k1')).toBe('1:1');
      await snapshot.release();
    };
  },
  'a scan read to its limit': async (store) => {
    const keys: unknown[] = [];
    for await (const [key] of store.scan({ limit: 3 })) keys.push(key);
    expect(keys).toHaveLength(3);
    return undefined;
  },
  'a transaction': async (store) => {
    await store.transaction(async (transaction) => {
      expect(await transaction.get('k1')).toBe('1:1');
    });
    return undefined;
  },
  'a watch that caught up, then returned': async (store) => {
    const feed = store.watch({ sinceVersion: 0 });
    const first = await feed.next();
    expect(first.done).toBe(false);
    await feed.return(undefined);
    return undefined;
  },
  'no reader (the control)': async () => undefined,
};

describe('a reader that ended keeps no replaced run open', () => {
  for (const [name, reader] of Object.entries(READERS)) {
    it(name, async () => {
      const store = await openStore(temporaryDirectory());
      try {
        await twoRuns(store);
        const after = await reader(store);
        const result = await store.compact();
        expect(result.runsIn).toBe(2);
        await after?.();
        await store.get('k2'); // the store's cached view moves to the new run
        await collectAfterTurns();
        expect(store.stats().storage.compaction.replacedRunsHeld, 'replaced runs still open').toBe(0);
        expect(store.stats().storage.retainedMemtables).toBe(0);
        expect(await store.get('k1')).toBe('1:1');
      } finally {
        await store.close();
      }
    });
  }
});
