/**
 * Lease-watch review: store.watch() without sinceVersion starts at the version visible at
 * the call, "so commits made before the first next() are not missed" (README, watch). Under
 * per-key retention (maxVersionsPerKey 1, a store that keeps no history) those commits were
 * trimmed before the feed's first step pinned anything: a feed made, then two puts of one
 * key, then iterated, failed with VersionNotRetainedError ('version 1 is no longer retained
 * for key "k"') instead of delivering both puts; the same after a checkpoint and a
 * compaction in between. The default start is now pinned from the call (as a snapshot pins
 * its version) until the catch-up ends, the feed is returned, or a feed dropped unstarted is
 * collected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

async function storeKeepingOneVersion(seed: number): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), maxVersionsPerKey: 1 });
  stores.push(store);
  await store.put('k', 'v0');
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

describe('lease-watch review: a default-start watch keeps the commits made before its first step', () => {
  it('maxVersionsPerKey 1, two puts of one key in the memtable before the first next()', async () => {
    const store = await storeKeepingOneVersion(31);
    const feed = store.watch();
    await store.put('k', 'v1');
    await store.put('k', 'v2');
    await store.delete('k');
    expect(await take(feed, 3)).toEqual([[2, 'k', 'v1'], [3, 'k', 'v2'], [4, 'k', 'deleted']]);
    expect(store.stats().pinnedReads, 'the start pin is let go once the catch-up ended').toBe(0);
  });

  it('maxVersionsPerKey 1, the puts flushed and compacted before the first next()', async () => {
    const store = await storeKeepingOneVersion(37);
    const feed = store.watch();
    await store.put('k', 'v1');
    await store.put('j', 'j1');
    await store.put('k', 'v2');
    await store.checkpoint();
    await store.compact();
    await store.put('k', 'v3');
    expect(await take(feed, 4)).toEqual([[2, 'k', 'v1'], [3, 'j', 'j1'], [4, 'k', 'v2'], [5, 'k', 'v3']]);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('a feed returned before its first step lets go of its start pin, and so does one that ends at once', async () => {
    const store = await storeKeepingOneVersion(41);
    const returned = store.watch();
    expect(store.stats().pinnedReads, 'pinned from the call').toBe(1);
    expect(await returned.return(undefined)).toEqual({ done: true, value: undefined });
    expect(store.stats().pinnedReads).toBe(0);
    expect(await returned.next()).toEqual({ done: true, value: undefined });
    const bounded = store.watch({ untilVersion: 1 });
    expect(await bounded.next()).toEqual({ done: true, value: undefined });
    expect(store.stats().pinnedReads).toBe(0);
    // An explicit sinceVersion is pinned from the call too (tidy-watch-explicit-since-pin).
    const explicit = store.watch({ sinceVersion: 0 });
    expect(store.stats().pinnedReads).toBe(1);
    await explicit.return(undefined);
    expect(store.stats().pinnedReads).toBe(0);
  });
});
