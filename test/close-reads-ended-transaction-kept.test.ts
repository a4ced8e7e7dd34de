/**
 * A transaction that ended lets go of its read view even while the application keeps
 * its tx object, or a tx.scan() iterator it finished: the view holds the memtables and
 * runs the transaction read (read-view.ts), so a kept tx kept, after a compaction, the
 * runs it replaced open and their unlinked files' space held
 * (stats().storage.compaction.replacedRunsHeld), as an ended scan's iterator did before
 * (read-review-ended-scan-kept). The kept handle still throws as an ended one does.
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

/** Each runs a transaction that reads the runs and ends, and answers what the application keeps of it, and a use of it that must throw. */
const ENDINGS: Record<string, (store: Store) => Promise<{ kept: unknown; use: () => Promise<unknown> }>> = {
  'the tx of a committed transaction': async (store) => {
    let kept: { get(key: string): Promise<unknown> } | undefined;
    await store.transaction(async (tx) => {
      kept = tx;
      expect(await tx.get('k5')).toBe('1:5');
      tx.put('new', 'value');
    });
    return { kept, use: () => kept!.get('k5') };
  },
  'the tx of a read-only transaction': async (store) => {
    let kept: { get(key: string): Promise<unknown> } | undefined;
    await store.transaction(async (tx) => {
      kept = tx;
      expect(await tx.get('k6')).toBe('1:6');
    });
    return { kept, use: () => kept!.get('k6') };
  },
  'the tx of a transaction whose body threw': async (store) => {
    let kept: { get(key: string): Promise<unknown> } | undefined;
    await expect(store.transaction(async (tx) => {
      kept = tx;
      await tx.get('k7');
      throw new Error('stop');
    })).rejects.toThrow('stop');
    return { kept, use: () => kept!.get('k7') };
  },
  'the tx of a transactionSync() body': async (store) => {
    let kept: { get(key: string): unknown } | undefined;
    await store.transactionSync((tx) => {
      kept = tx;
      tx.put('copy', tx.get('k8') ?? 'missing');
    });
    expect(await store.get('copy')).toBe('1:8');
    return { kept, use: async () => kept!.get('k8') };
  },
  'a tx.scan() iterator read to its end': async (store) => {
    let kept: AsyncIterableIterator<[string | Uint8Array, unknown]> | undefined;
    await store.transaction(async (tx) => {
      kept = tx.scan();
      let entries = 0;
      for await (const _entry of kept) entries++;
      expect(entries).toBe(50);
    });
    return { kept, use: async () => { if (!(await kept!.next()).done) throw new Error('not ended'); throw new Error('ended'); } };
  },
  'a tx.scan() iterator broken out of': async (store) => {
    let kept: AsyncIterableIterator<[string | Uint8Array, unknown]> | undefined;
    await store.transaction(async (tx) => {
      kept = tx.scan({ reverse: true });
      for await (const entry of kept) if (entry.length > 0) break;
    });
    return { kept, use: async () => { if (!(await kept!.next()).done) throw new Error('not ended'); throw new Error('ended'); } };
  },
};

describe('an ended transaction the application keeps lets go of its view', () => {
  for (const [name, end] of Object.entries(ENDINGS)) {
    it(`${name}`, async () => {
      const store = await openStore(temporaryDirectory(), { maxVersionsPerKey: 1 });
      try {
        await twoRuns(store);
        const { kept, use } = await end(store);
        const result = await store.compact();
        expect(result.runsIn).toBe(2);
        await store.get('k2'); // the store's own cached view moves to the merged run
        await collectAfterTurns();
        expect(store.stats().storage.compaction.replacedRunsHeld, 'replaced runs still open').toBe(0);
        expect(store.stats().oldestPinnedVersion).toBeUndefined();
        // The kept handle stays ended.
        expect(kept).toBeDefined();
        await expect(use()).rejects.toThrow();
        expect(await store.get('k1')).toBe('1:1');
      } finally {
        await store.close();
      }
    });
  }
});
