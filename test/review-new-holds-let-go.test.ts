/**
 * Review of 1f6fee9 (memtables long-lived readers hold, src/engine/memtable-holds.ts):
 * every way a reader ends lets go of its hold, and stats() comes back to its baseline,
 * measured: each reader takes its view before a round of writes that a checkpoint flushes
 * (so it retains that memtable: retainedMemtables 1, memoryBytes above the baseline by
 * about its estimate), then ends in one of the odd ways: a scan thrown into
 * (iterator.throw()), a scan's consumer loop that throws, a scan abandoned without
 * return() (collected), a transaction body that throws, a snapshot released twice, a
 * watch feed returned in the middle of its catch-up, a watch feed
 * aborted by its signal in its catch-up, a watch feed abandoned in its catch-up
 * (collected). After it ends: retainedMemtables 0, retainedMemtableBytes 0, and
 * memoryBytes back at the baseline taken before the reader (a checkpoint empties the
 * memtable in both). Then the store is closed with a reader still holding a retired
 * memtable, and the reader let go after the close: no error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { collectAfterTurns } from './support/collect-garbage.js';

afterEach(() => removeTemporaryDirectories());

let round = 0;
/** A round of 400 keys of 500 B values, checkpointed: the memtable a reader took is retired. */
async function writeRound(store: Store): Promise<void> {
  round++;
  const operations = [];
  for (let index = 0; index < 400; index++) operations.push({ type: 'put' as const, key: `r${round}:${String(index).padStart(4, '0')}`, value: 'v'.repeat(500) });
  await store.batch(operations);
  await store.checkpoint();
}

/** Starts a reader (its view taken now); answers how it ends. */
type Reader = (store: Store) => Promise<() => Promise<void>>;

const READERS: Record<string, Reader> = {
  'a scan thrown into': async (store) => {
    const scan = store.scan();
    expect((await scan.next()).done).toBe(false);
    return async () => {
      await expect(scan.throw!(new Error('consumer'))).rejects.toThrow('consumer');
    };
  },
  'a scan whose for-await body throws': async (store) => {
    const scan = store.scan();
    expect((await scan.next()).done).toBe(false);
    return async () => {
      await expect((async () => {
        for await (const entry of scan) throw new Error(`body at ${String(entry[0])}`);
      })()).rejects.toThrow('body at');
    };
  },
  'a scan abandoned without return() (collected)': async (store) => {
    let scan: AsyncIterableIterator<unknown> | undefined = store.scan();
    expect((await scan.next()).done).toBe(false);
    return async () => {
      scan = undefined;
      await collectAfterTurns();
    };
  },
  'a transaction whose body throws': async (store) => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    let fail!: () => void;
    const failing = new Promise<void>((resolve) => (fail = resolve));
    const result = store.transaction(async (transaction) => {
      await transaction.get('base');
      open();
      await failing;
      throw new Error('body failed');
    });
    await opened;
    return async () => {
      fail();
      await expect(result).rejects.toThrow('body failed');
    };
  },
  'a snapshot released twice': async (store) => {
    const snapshot = await store.snapshot();
    return async () => {
      await snapshot.release();
      await snapshot.release();
    };
  },
  'a watch feed returned in its catch-up': async (store) => {
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 })[Symbol.asyncIterator]();
    expect((await feed.next()).done).toBe(false);
    return async () => {
      await feed.return!(undefined);
    };
  },
  'a watch feed aborted in its catch-up': async (store) => {
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1, signal: controller.signal })[Symbol.asyncIterator]();
    expect((await feed.next()).done).toBe(false);
    return async () => {
      controller.abort(new Error('stop'));
      await expect(feed.next()).rejects.toThrow('stop');
    };
  },
  'a watch feed abandoned in its catch-up (collected)': async (store) => {
    let feed: AsyncIterator<unknown> | undefined = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 })[Symbol.asyncIterator]();
    expect((await feed.next()).done).toBe(false);
    return async () => {
      feed = undefined;
      await collectAfterTurns();
    };
  },
};

describe('every way a long-lived reader ends lets go of the memtable it held', () => {
  for (const [name, start] of Object.entries(READERS)) {
    it(name, async () => {
      const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 16 * 1024 * 1024 });
      try {
        await store.put('base', 'b');
        await writeRound(store);
        await collectAfterTurns();
        const baseline = store.stats();
        expect(baseline.storage.retainedMemtables).toBe(0);
        const end = await start(store);
        await writeRound(store);
        const holding = store.stats();
        expect(holding.storage.retainedMemtables, 'the reader retains the round\'s memtable').toBe(1);
        expect(holding.memoryBytes - baseline.memoryBytes).toBeGreaterThanOrEqual(holding.storage.retainedMemtableBytes * 0.9);
        await end();
        await store.checkpoint();
        const after = store.stats();
        expect(after.storage.retainedMemtables).toBe(0);
        expect(after.storage.retainedMemtableBytes).toBe(0);
        // Back at the baseline: the same parts, the caches within the block or two the round's reads added.
        expect(after.storage.memtableBytes).toBe(baseline.storage.memtableBytes);
        expect(Math.abs(after.memoryBytes - baseline.memoryBytes), `memoryBytes ${after.memoryBytes} against ${baseline.memoryBytes}`)
          .toBeLessThanOrEqual(Math.abs(after.storage.cacheBytes - baseline.storage.cacheBytes) + Math.abs(after.storage.runIndexBytes - baseline.storage.runIndexBytes) + Math.abs(after.storage.valueSlabPoolBytes - baseline.storage.valueSlabPoolBytes));
        expect(after.memoryBytes).toBeLessThan(holding.memoryBytes - holding.storage.retainedMemtableBytes * 0.9);
      } finally {
        await store.close();
      }
    });
  }

  it('a store closed while readers hold retired memtables: letting them go after the close throws nothing', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 16 * 1024 * 1024 });
    await store.put('base', 'b');
    const snapshot = await store.snapshot();
    const scan = store.scan();
    expect((await scan.next()).done).toBe(false);
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 })[Symbol.asyncIterator]();
    expect((await feed.next()).done).toBe(false);
    await writeRound(store);
    expect(store.stats().storage.retainedMemtables).toBe(1);
    await store.close();
    await snapshot.release();
    await expect(scan.next()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    await expect(feed.next()).rejects.toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    await scan.return!();
    await feed.return!(undefined);
  });
});
