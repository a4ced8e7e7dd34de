/**
 * Adversarial review of fenced writes, lease-bound keys (src/lease/) and the watch
 * catch-up in batches (src/watch/catch-up.ts).
 *
 * Leases: a lease whose expiry commit is refused (disk full) must still end with its
 * bound keys deleted once the disk accepts writes again, never leave them behind a
 * lease nobody holds; a fenced write with a stale token never commits.
 *
 * Watch: a catch-up over history while commits, checkpoints (memtable flushes) and
 * compactions run delivers every change exactly once, in (version, key) order, then
 * follows live commits without a gap; the pinned start version is released on every
 * way out (break, return, an error from a trimmed history).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

async function memoryStore(fileSystem = new FaultFileSystem(5), options: Record<string, unknown> = {}): Promise<Store> {
  const store = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024, ...options });
  openStores.push(store);
  return store;
}

const pause = (delayMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delayMs));

/** Polls `condition` every 20 ms, at most `rounds` times (a liveness bound, not a timing assertion). */
async function eventually(condition: () => Promise<boolean>, rounds = 250): Promise<boolean> {
  for (let round = 0; round < rounds; round++) {
    if (await condition()) return true;
    await pause(20);
  }
  return condition();
}

describe('review: lease-bound keys never outlive their lease', () => {
  it('an expiry whose commit is refused for a full disk is retried: the bound key goes once the disk has room', async () => {
    const fileSystem = new FaultFileSystem(9);
    const store = await memoryStore(fileSystem);
    // Long enough that the put below lands inside the lease on a loaded machine (30 ms did not at load 10-16),
    // short enough that its expiry comes well inside eventually()'s 5 s.
    const lease = await store.leases.acquire('job', { owner: 'worker', ttlMs: 1_000 });
    await store.put('job/output', 'partial', { lease });
    // The expiry timer's commit is the next WAL write: refuse it once.
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /wal-\d+\.log$/ });
    expect(await eventually(async () => fault.triggeredCount === 1)).toBe(true);
    // Nobody holds the lease any more...
    expect(await store.leases.get('job')).toBeUndefined();
    // ...so its bound key must go too (it stayed forever: the failed expiry was never retried).
    expect(await eventually(async () => (await store.get('job/output')) === undefined)).toBe(true);
    expect(await store.leases.expiredNames()).toEqual([]);
  });

  it('a fenced write with the token of an earlier acquisition never commits, even after the newer one ended', async () => {
    const store = await memoryStore();
    const first = await store.leases.acquire('job', { owner: 'a', ttlMs: 10_000 });
    await store.leases.release('job', first);
    const second = await store.leases.acquire('job', { owner: 'b', ttlMs: 10_000 });
    await expect(store.put('k', 'stale', { fence: first })).rejects.toBeInstanceOf(LeaseLostError);
    await store.leases.release('job', second);
    await expect(store.put('k', 'stale', { fence: first })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.put('k', 'stale', { fence: second })).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.get('k')).toBeUndefined();
  });
});

interface Seen { version: number; key: string; deleted: boolean; value?: unknown }

describe('review: watch catch-up while the store changes under it', () => {
  it('exactly once and in order while commits, memtable flushes, checkpoints and compactions run during the catch-up', async () => {
    const store = await memoryStore(new FaultFileSystem(21), { memoryBudgetBytes: 256 * 1024 });
    const written: Seen[] = [];
    const keys = Array.from({ length: 30 }, (_unused, index) => `w/${String(index).padStart(2, '0')}`);
    const value = (round: number, index: number): string => `${round}:${index}:${'x'.repeat(200)}`;
    const writeRound = async (round: number): Promise<void> => {
      for (const [index, key] of keys.entries()) {
        if ((index + round) % 7 === 0) {
          written.push({ version: (await store.delete(key)).version, key, deleted: true });
        } else {
          written.push({ version: (await store.put(key, value(round, index))).version, key, deleted: false, value: value(round, index) });
        }
      }
    };
    for (let round = 0; round < 6; round++) {
      await writeRound(round);
      if (round % 2 === 1) await store.checkpoint();
    }
    const feed = store.watch({ gte: 'w/', lt: 'w0', sinceVersion: 0, catchUpBatchChanges: 7 });
    const seen: Seen[] = [];
    let round = 6;
    for (;;) {
      const next = await feed.next();
      expect(next.done).toBe(false);
      const change = next.value as Seen;
      seen.push(change.deleted ? { version: change.version, key: change.key, deleted: true } : { ...change });
      // Suspended inside the catch-up: change the store under it.
      if (seen.length % 25 === 0 && round < 14) {
        await writeRound(round++);
        if (round % 3 === 0) await store.checkpoint();
        if (round % 4 === 0) await store.compact();
      }
      if (round === 14 && seen.length === written.length) break;
    }
    await feed.return(undefined);
    expect(seen).toEqual(written.map((change) => (change.deleted ? { version: change.version, key: change.key, deleted: true } : change)));
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('the pinned start version is released on break, on return before the first change, and on an error', async () => {
    const store = await memoryStore(new FaultFileSystem(22), { maxVersionsPerKey: 2 });
    for (let index = 0; index < 20; index++) await store.put(`p/${index % 4}`, index);
    expect(store.stats().pinnedReads).toBe(0);
    // Break out mid catch-up.
    for await (const change of store.watch({ sinceVersion: 16, catchUpBatchChanges: 1 })) {
      expect(store.stats().pinnedReads).toBe(1);
      if (change.version >= 18) break;
    }
    expect(store.stats().pinnedReads).toBe(0);
    // Returned before the first next(): nothing was pinned.
    const unused = store.watch({ sinceVersion: 0 });
    await unused.return(undefined);
    expect(store.stats().pinnedReads).toBe(0);
    // Versions 1..12 are trimmed (two per key): VersionNotRetainedError, and the pin goes.
    await expect((async () => {
      for await (const _change of store.watch({ sinceVersion: 0, catchUpBatchChanges: 2 })) { /* drain */ }
    })()).rejects.toMatchObject({ code: 'LADYBUG_VERSION_NOT_RETAINED' });
    expect(store.stats().pinnedReads).toBe(0);
  });
});

describe('review: catch-up and version trimming by later commits', () => {
  it('versions trimmed after they were delivered do not fail the rest of the catch-up', async () => {
    const store = await memoryStore(new FaultFileSystem(23), { maxVersionsPerKey: 2 });
    await store.put('a', 1);
    await store.put('a', 2);
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 });
    expect((await feed.next()).value).toMatchObject({ version: 1, key: 'a', value: 1 });
    // Two more versions of the key: version 1 (already delivered) leaves the memtable chain.
    await store.put('a', 3);
    await store.put('a', 4);
    const rest: unknown[] = [];
    for (let index = 0; index < 3; index++) rest.push((await feed.next()).value);
    await feed.return(undefined);
    expect(rest).toMatchObject([{ version: 2, value: 2 }, { version: 3, value: 3 }, { version: 4, value: 4 }]);
    expect(store.stats().pinnedReads).toBe(0);
  });
});

describe('review: abort during a catch-up', () => {
  it('an abort during the catch-up ends the feed at the next change, and releases the pin', async () => {
    const store = await memoryStore(new FaultFileSystem(24));
    for (let index = 0; index < 40; index++) await store.put(`c/${index % 5}`, index);
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 4, signal: controller.signal });
    expect((await feed.next()).value).toMatchObject({ version: 1 });
    controller.abort();
    // 39 history changes are still to come: the aborted feed must not deliver them.
    await expect(feed.next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(store.stats().pinnedReads).toBe(0);
  });
});

describe('review: abort with live changes buffered', () => {
  it('an abort ends the feed even while live changes are buffered', async () => {
    const store = await memoryStore(new FaultFileSystem(25));
    const controller = new AbortController();
    const feed = store.watch({ signal: controller.signal });
    const first = feed.next();
    await store.batch(Array.from({ length: 10 }, (_unused, index) => ({ type: 'put' as const, key: `b/${index}`, value: index })));
    expect((await first).value).toMatchObject({ key: 'b/0' });
    controller.abort();
    await expect(feed.next()).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('review: catch-up over more keys than one memtable chunk', () => {
  it('delivers every change once when a memtable holds more keys than a chunk (256), batches cutting inside it', async () => {
    const store = await memoryStore(new FaultFileSystem(26));
    const written: Array<[number, string]> = [];
    for (let start = 0; start < 700; start += 100) {
      const operations = Array.from({ length: 100 }, (_unused, offset) => ({ type: 'put' as const, key: `m/${String(699 - start - offset).padStart(4, '0')}`, value: start + offset }));
      const { version } = await store.batch(operations);
      for (const operation of [...operations].sort((left, right) => (left.key < right.key ? -1 : 1))) written.push([version, operation.key]);
    }
    for (const batchChanges of [1000, 333, 64]) {
      const seen: Array<[number, string]> = [];
      for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version, catchUpBatchChanges: batchChanges })) seen.push([change.version, change.key as string]);
      expect(seen).toEqual(written);
    }
  });
});

describe('review: a buffer overflow during the catch-up', () => {
  it('names the last version actually delivered, so resuming from it repeats nothing', async () => {
    const store = await memoryStore(new FaultFileSystem(27));
    for (let index = 0; index < 20; index++) await store.put(`h/${String(index).padStart(2, '0')}`, index);
    const feed = store.watch({ sinceVersion: 0, catchUpBatchChanges: 1 });
    const delivered: number[] = [(await feed.next()).value!.version];
    // More changes than a watcher buffers (10,000), committed while the feed is still catching up.
    for (let batch = 0; batch < 11; batch++) {
      await store.batch(Array.from({ length: 1000 }, (_unused, index) => ({ type: 'put' as const, key: `l/${batch}/${index}`, value: index })));
    }
    let failure: unknown;
    try {
      for (;;) {
        const next = await feed.next();
        if (next.done === true) break;
        delivered.push(next.value.version);
      }
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({ code: 'LADYBUG_WATCH_OVERFLOW' });
    expect((failure as { lastDeliveredVersion: number }).lastDeliveredVersion).toBe(delivered.at(-1));
    expect(store.stats().pinnedReads).toBe(0);
  });
});

describe('review: resuming after an overflow in the middle of a commit', () => {
  it('the version to resume from re-delivers the rest of a commit delivered only in part', async () => {
    const store = await memoryStore(new FaultFileSystem(28));
    const feed = store.watch({ gte: 'r/', lt: 'r0' });
    const first = feed.next();
    const { version } = await store.batch(['r/a', 'r/b', 'r/c'].map((key) => ({ type: 'put' as const, key, value: key })));
    expect((await first).value).toMatchObject({ version, key: 'r/a' });
    for (let batch = 0; batch < 11; batch++) {
      await store.batch(Array.from({ length: 1000 }, (_unused, index) => ({ type: 'put' as const, key: `r/${batch}/${index}`, value: index })));
    }
    const failure = await feed.next().then(() => undefined, (error: unknown) => error);
    expect(failure).toMatchObject({ code: 'LADYBUG_WATCH_OVERFLOW' });
    const resumed = store.watch({ gte: 'r/', lt: 'r0', sinceVersion: (failure as { lastDeliveredVersion: number }).lastDeliveredVersion, catchUpBatchChanges: 4 });
    const keysOfVersion: string[] = [];
    for await (const change of resumed) {
      if (change.version > version) break;
      keysOfVersion.push(change.key as string);
    }
    // r/b and r/c were never delivered: resuming must bring them (r/a again is the price).
    expect(keysOfVersion).toEqual(expect.arrayContaining(['r/b', 'r/c']));
  });

  it('a feed that overflows before delivering anything names its own start, not version 0', async () => {
    const store = await memoryStore(new FaultFileSystem(29), { segmentSizeBytes: 4 * 1024 * 1024 });
    for (let index = 0; index < 5; index++) await store.put(`s/${index}`, index);
    const start = store.version;
    const feed = store.watch({ gte: 's/', lt: 's0' });
    const first = feed.next();
    // One commit of more changes than a watcher buffers: the overflow comes before any delivery.
    await store.batch(Array.from({ length: 10_001 }, (_unused, index) => ({ type: 'put' as const, key: `s/${index}`, value: index })));
    await expect(first).rejects.toMatchObject({ code: 'LADYBUG_WATCH_OVERFLOW', lastDeliveredVersion: start });
  });
});
