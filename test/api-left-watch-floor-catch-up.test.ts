/**
 * A watch catch-up never delivers a version that get(key, { asOf }) refuses below the
 * store-wide retention floor. A feed from below the floor was refused at its first batch,
 * but a feed that started at or above it and was still catching up when
 * compact({ retainFrom }) raised the floor past its position (its pin is at its start
 * version, the top of its catch-up, so the floor may rise to there) went on delivering
 * the versions below the new floor from the runs its view held: changes a get as of their
 * version, a scan as of it and a new watch from there all refuse. It now fails as a
 * watch({ sinceVersion }) from its position would: VersionNotRetainedError at its next
 * step (as etcd cancels a watcher whose revision was compacted), having delivered
 * nothing below the floor after the raise. A feed whose position is at or above the
 * floor goes on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, VersionNotRetainedError, type Change, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

/** Versions 1..5 write a, 6 writes b; all flushed to a run. */
async function flushedStore(): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(21) });
  stores.push(store);
  for (let value = 1; value <= 5; value++) await store.put('a', value);
  await store.put('b', 1);
  await store.checkpoint();
  return store;
}

const brief = (change: Change): string => `${String(change.key)}@${change.version}`;

describe('watch catch-up and a retention floor raised during it', () => {
  it('a feed whose position the floor passed is refused at its next step, as get and watch from there are', async () => {
    const store = await flushedStore();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 6, catchUpBatchChanges: 1 });
    const first = await feed.next();
    expect(first.done === false && brief(first.value)).toBe('a@1');
    expect((await store.compact({ retainFrom: 4 })).retentionFloor).toBe(4);
    await expect(store.get('a', { asOf: 2 })).rejects.toBeInstanceOf(VersionNotRetainedError);
    const next = feed.next();
    await expect(next).rejects.toBeInstanceOf(VersionNotRetainedError);
    await expect(next).rejects.toMatchObject({ code: 'LADYBUG_VERSION_NOT_RETAINED', version: 1, oldestRetained: 4 });
    expect(await feed.next()).toEqual({ done: true, value: undefined });
    // A new feed from the same position is refused the same way.
    await expect(store.watch({ sinceVersion: 1, untilVersion: 6 }).next()).rejects.toMatchObject({ version: 1, oldestRetained: 4 });
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('a feed at or above the raised floor goes on and delivers every change once', async () => {
    const store = await flushedStore();
    const feed = store.watch({ sinceVersion: 2, untilVersion: 6, catchUpBatchChanges: 1 });
    const delivered: string[] = [];
    const first = await feed.next();
    if (first.done === false) delivered.push(brief(first.value));
    expect((await store.compact({ retainFrom: 3 })).retentionFloor).toBe(3);
    for await (const change of feed) delivered.push(brief(change));
    expect(delivered).toEqual(['a@3', 'a@4', 'a@5', 'b@6']);
  });

  it('a change below the floor already read into the current batch is not delivered after the raise', async () => {
    const store = await flushedStore();
    const feed = store.watch({ sinceVersion: 0, untilVersion: 6, catchUpBatchChanges: 2 });
    const delivered: Change[] = [];
    const first = await feed.next();
    if (first.done === false) delivered.push(first.value);
    await store.compact({ retainFrom: 3 });
    let refused: unknown;
    try {
      for await (const change of feed) delivered.push(change);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(VersionNotRetainedError);
    // a@2 was in the first batch, with a@1: a get as of 2 refuses it now, so the feed does too.
    expect(delivered.map(brief)).toEqual(['a@1']);
  });
});
