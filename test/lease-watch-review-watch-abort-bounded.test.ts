/**
 * Lease-watch review: a feed with an untilVersion whose signal was aborted rejects its
 * next step with the signal's reason, as README "watch" says of an aborted feed ("the
 * loop's next step rejects with the signal's reason ... in the catch-up too"), wherever
 * the abort met it. It ended { done: true } instead when its catch-up had delivered its
 * last change up to untilVersion, or had nothing of its range up to it, or when
 * untilVersion was already visible with nothing to catch up: the end of the catch-up
 * returned without looking at the signal (969cb45 added the store-open check there, not
 * this one), while with a change left, or following live commits, the same abort
 * rejected. return() still ends any feed (done).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const DONE = { done: true, value: undefined };
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

/** A store with versions 1..4: a, b, c, d. */
async function storeOfFour(): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(17) });
  stores.push(store);
  for (const key of ['a', 'b', 'c', 'd']) await store.put(key, key);
  return store;
}

const reason = (): Error => Object.assign(new Error('consumer gave up'), { name: 'AbortError' });

describe('a bounded watch feed after its signal aborted', () => {
  it('in its catch-up, with a change left up to untilVersion: rejects with the reason, then done', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 3, signal: controller.signal });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1 } });
    controller.abort(reason());
    await expect(feed.next()).rejects.toThrow('consumer gave up');
    expect(await feed.next()).toEqual(DONE);
  });

  it('in its catch-up, having delivered its last change up to untilVersion: rejects with the reason', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 2, signal: controller.signal });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1 } });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 2 } });
    controller.abort(reason());
    await expect(feed.next()).rejects.toThrow('consumer gave up');
    expect(await feed.next()).toEqual(DONE);
  });

  it('in its catch-up, with nothing of its range left: rejects with the reason', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 4, lt: 'b', catchUpBatchChanges: 1, signal: controller.signal });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
    controller.abort(reason());
    await expect(feed.next()).rejects.toThrow('consumer gave up');
  });

  it('aborted before its first step, untilVersion already visible, nothing to catch up: rejects with the reason', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 4, untilVersion: 4, signal: controller.signal });
    controller.abort(reason());
    await expect(feed.next()).rejects.toThrow('consumer gave up');
  });

  it('following live commits: rejects with the reason (as before)', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ untilVersion: 6, signal: controller.signal });
    await store.put('e', 'e');
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 5 } });
    controller.abort(reason());
    await expect(feed.next()).rejects.toThrow('consumer gave up');
  });

  it('return() after the abort ends it (done), delivering nothing', async () => {
    const store = await storeOfFour();
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 2, signal: controller.signal });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1 } });
    controller.abort(reason());
    expect(await feed.return(undefined)).toEqual(DONE);
    expect(await feed.next()).toEqual(DONE);
  });
});
