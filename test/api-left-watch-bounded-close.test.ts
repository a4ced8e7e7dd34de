/**
 * A feed with an untilVersion, stepped after close(), ends the way README "watch" gives
 * for every feed: its next step rejects with StoreClosedError, then the feed is done.
 * One whose catch-up had delivered its last change up to untilVersion (or read an empty
 * last batch while close() ran) ended { done: true } instead, while one with a change
 * left in the batch, one following live commits, and one waiting at close() rejected:
 * which a consumer got depended on where in the catch-up close() came. return() ends any
 * feed (done), before or after close().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const CLOSED = { code: 'LADYBUG_STORE_CLOSED' };
const DONE = { done: true, value: undefined };
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

/** A store with versions 1..4: a, b, c, d. */
async function storeOfFour(): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(11) });
  stores.push(store);
  for (const key of ['a', 'b', 'c', 'd']) await store.put(key, key);
  return store;
}

describe('a bounded watch feed after close()', () => {
  it('in its catch-up, with changes left up to untilVersion: StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 3 });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1 } });
    await store.close();
    await expect(feed.next()).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('in its catch-up, having delivered its last change up to untilVersion: StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 2 });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1 } });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 2 } });
    await store.close();
    await expect(feed.next()).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('in its catch-up, with nothing of its range left (batches of one): StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 4, lt: 'b', catchUpBatchChanges: 1 });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
    await store.close();
    await expect(feed.next()).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('when close() comes during the read of an empty catch-up batch: StoreClosedError', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 4, gte: 'x' });
    const pending = feed.next();
    const closed = store.close();
    await expect(pending).rejects.toMatchObject(CLOSED);
    await closed;
    expect(await feed.next()).toEqual(DONE);
  });

  it('following live commits, having delivered its change at untilVersion: StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ untilVersion: 5 });
    const first = feed.next();
    await store.put('e', 'e');
    expect(await first).toMatchObject({ done: false, value: { version: 5 } });
    await store.close();
    await expect(feed.next()).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('with next() waiting for a commit at close(): StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ untilVersion: 10 });
    const pending = feed.next();
    await new Promise((resolve) => setImmediate(resolve));
    await store.close();
    await expect(pending).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('first stepped after close(): StoreClosedError, then done', async () => {
    const store = await storeOfFour();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 2 });
    await store.close();
    await expect(feed.next()).rejects.toMatchObject(CLOSED);
    expect(await feed.next()).toEqual(DONE);
  });

  it('return() after close() ends the feed (done), in the catch-up and after it', async () => {
    const store = await storeOfFour();
    const catchingUp = store.watch({ sinceVersion: 0, untilVersion: 3 });
    expect(await catchingUp.next()).toMatchObject({ done: false, value: { version: 1 } });
    const caughtUp = store.watch({ sinceVersion: 0, untilVersion: 1 });
    expect(await caughtUp.next()).toMatchObject({ done: false, value: { version: 1 } });
    await store.close();
    expect(await catchingUp.return()).toEqual(DONE);
    expect(await caughtUp.return()).toEqual(DONE);
    expect(await catchingUp.next()).toEqual(DONE);
    expect(await caughtUp.next()).toEqual(DONE);
    expect(store.stats().pinnedReads).toBe(0);
  });
});
