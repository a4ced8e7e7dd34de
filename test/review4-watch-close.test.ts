/**
 * A watch feed after close(): the next step throws StoreClosedError, as a scan's
 * next() does. The catch-up went on reading the closed store's history to its end
 * (9,000 changes delivered after close in a probe, batch after batch from run files
 * whose store had let go of its lock), and changes buffered live were delivered after
 * close too. Nothing is lost: the feed resumes on the reopened store from the version
 * after the last one delivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, openStore, StoreClosedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function failure(step: Promise<unknown>): Promise<unknown> {
  return step.then(() => undefined, (error: unknown) => error);
}

describe('watch after close', () => {
  it('a catch-up stops at close with StoreClosedError, and resuming on the reopened store delivers the rest once', async () => {
    const dir = temporaryDirectory();
    let store = await openStore(dir, { memoryBudgetBytes: 1024 * 1024 });
    for (let batch = 0; batch < 10; batch++) {
      await store.batch(Array.from({ length: 100 }, (_, index) => ({ type: 'put' as const, key: `k${String(index).padStart(3, '0')}`, value: batch })));
    }
    await store.checkpoint();
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 10 });
    const delivered: Change[] = [];
    for (let index = 0; index < 15; index++) delivered.push((await feed.next()).value as Change);
    await store.close();
    expect(await failure(feed.next())).toBeInstanceOf(StoreClosedError);

    store = await openStore(dir);
    const last = delivered.at(-1)!;
    expect(last.version).toBe(1);
    // Version 1 was delivered in part (15 of its 100 keys): resume from the version before it.
    for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version })) {
      if (change.version === 1 && String(change.key) <= String(last.key)) continue;
      delivered.push(change);
    }
    expect(delivered.length).toBe(1000);
    expect(new Set(delivered.map((change) => `${change.version}/${String(change.key)}`)).size).toBe(1000);
    await store.close();
  });

  it('live changes buffered before close are not delivered after it', async () => {
    const store = await openStore(temporaryDirectory());
    const feed = store.watch();
    const first = feed.next();
    await store.put('a', 1);
    expect((await first).value).toMatchObject({ version: 1, key: 'a' });
    await store.put('b', 2);
    await store.put('c', 3);
    await store.close();
    expect(await failure(feed.next())).toBeInstanceOf(StoreClosedError);
  });
});
