/**
 * store.watch({ sinceVersion }) keeps the commits after sinceVersion made between the call
 * and its first next(), as the default start does (b45b8aa): under per-key retention
 * (maxVersionsPerKey 1) they were trimmed before the feed's first step pinned anything, and
 * the feed failed with VersionNotRetainedError instead of delivering them. The start is now
 * pinned from the call (the smaller of sinceVersion and the version visible then) until the
 * catch-up ends, the feed is returned, or a feed dropped unstarted is collected. A start
 * already lost at the call is still refused at the first next().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

async function storeKeepingOneVersion(seed: number): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), maxVersionsPerKey: 1 });
  stores.push(store);
  await store.put('k', 'v1'); // version 1
  await store.put('j', 'j2'); // version 2
  return store;
}

async function take(feed: AsyncGenerator<Change>, count: number): Promise<Array<[number, string | Uint8Array, unknown]>> {
  const changes: Array<[number, string | Uint8Array, unknown]> = [];
  for await (const change of feed) {
    changes.push([change.version, change.key, change.deleted ? 'deleted' : change.value]);
    if (changes.length === count) break;
  }
  return changes;
}

describe('a watch with an explicit sinceVersion keeps the commits made before its first step', () => {
  it('sinceVersion at the visible version: two puts of one key in the memtable before the first next()', async () => {
    const store = await storeKeepingOneVersion(51);
    const feed = store.watch({ sinceVersion: 2 });
    await store.put('k', 'v3');
    await store.put('k', 'v4');
    await store.delete('k');
    expect(await take(feed, 3)).toEqual([[3, 'k', 'v3'], [4, 'k', 'v4'], [5, 'k', 'deleted']]);
    expect(store.stats().pinnedReads, 'the start pin is let go once the catch-up ended').toBe(0);
  });

  it('sinceVersion below the visible version, the puts flushed and compacted before the first next()', async () => {
    const store = await storeKeepingOneVersion(53);
    const feed = store.watch({ sinceVersion: 1 });
    await store.put('j', 'j3');
    await store.put('k', 'v4');
    await store.checkpoint();
    await store.compact();
    await store.put('j', 'j5');
    expect(await take(feed, 4)).toEqual([[2, 'j', 'j2'], [3, 'j', 'j3'], [4, 'k', 'v4'], [5, 'j', 'j5']]);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('a start already trimmed at the call is refused at the first next(); returned unstarted, the pin is let go', async () => {
    const store = await storeKeepingOneVersion(57);
    await store.put('k', 'v3'); // trims version 1 of k
    const lost = store.watch({ sinceVersion: 0 });
    expect(store.stats().pinnedReads, 'pinned from the call').toBe(1);
    await expect(lost.next()).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(store.stats().pinnedReads).toBe(0);
    const returned = store.watch({ sinceVersion: 2 });
    expect(store.stats().pinnedReads).toBe(1);
    expect(await returned.return(undefined)).toEqual({ done: true, value: undefined });
    expect(store.stats().pinnedReads).toBe(0);
    const future = store.watch({ sinceVersion: 10, untilVersion: 3 });
    expect(await future.next()).toEqual({ done: true, value: undefined });
    expect(store.stats().pinnedReads).toBe(0);
  });
});
