/**
 * A store fails (fail-stop, README "Errors") for three causes: a WAL write or
 * fdatasync failed, a flush failed for good (a run file's or the manifest's fsync),
 * or another process took its directory lock over. Every cause must read the same
 * way: writes refused with StoreFailedError, `stats().failed` true, lease acquires
 * waiting for a held lease and watch feeds waiting for commits ended with a
 * StoreFailedError, later acquires refused at once. Before, only the WAL cause did:
 * after a failed flush or a lost lock, puts were refused but `stats().failed` said
 * false, a waiting acquire slept out its whole waitMs and a following feed waited
 * for ever (test/lease-watch-store-failed.test.ts covers the WAL cause).
 * No timing: "still pending" is checked after event-loop turns.
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, openStore, type Store, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { LOCK_HEARTBEAT_INTERVAL_MS } from '../src/limits.js';
import { settled } from './helpers.js';

const WAIT_MS_MAX = 2 ** 31 - 1;
const leftOver: AbortController[] = [];

afterEach(() => {
  for (const controller of leftOver.splice(0)) controller.abort();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

interface Watchers {
  acquire: { done: boolean; error: unknown };
  feed: { done: boolean; error: unknown };
}

/** A lease held, an acquire waiting for it, and a feed following the store: all pending. */
async function watchers(store: Store): Promise<Watchers> {
  await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
  const controller = new AbortController();
  leftOver.push(controller);
  const acquire = store.leases.acquire('jobs/a', { owner: 'waiter', ttlMs: 1000, waitMs: WAIT_MS_MAX, signal: controller.signal });
  const feed = (async () => {
    for await (const change of store.watch({ signal: controller.signal })) void change;
  })();
  acquire.catch(() => undefined);
  feed.catch(() => undefined);
  const states = { acquire: settled(acquire), feed: settled(feed) };
  await turns(5);
  expect([states.acquire.done, states.feed.done], 'they wait while the store is healthy').toEqual([false, false]);
  expect(store.stats().failed).toBe(false);
  return states;
}

/** What every cause must give once the store failed. */
async function expectFailed(store: Store, states: Watchers): Promise<void> {
  await turns(5);
  const put = await store.put('refused', 1).then(() => undefined, (error: unknown) => error);
  expect(put).toBeInstanceOf(StoreFailedError);
  expect(store.stats().failed, 'stats() says the store failed').toBe(true);
  expect([states.acquire.done, states.feed.done], 'the waiting acquire and the following feed ended').toEqual([true, true]);
  for (const error of [states.acquire.error, states.feed.error]) {
    expect(error).toBeInstanceOf(StoreFailedError);
    expect(error).toMatchObject({ code: ErrorCode.StoreFailed });
  }
  const late = await store.leases.acquire('jobs/free', { owner: 'late', ttlMs: 1000, waitMs: WAIT_MS_MAX }).then(() => undefined, (error: unknown) => error);
  expect(late, 'a later acquire is refused at once').toBeInstanceOf(StoreFailedError);
}

/** Every store file but the lock files (release marks ours released), with its durable bytes. */
function snapshotOf(fileSystem: FaultFileSystem): Record<string, string> {
  const files: Record<string, string> = {};
  for (const path of fileSystem.listPaths().filter((name) => !name.includes('/LOCK')).sort()) {
    files[path] = Buffer.from(fileSystem.durableContent(path) ?? new Uint8Array()).toString('base64');
  }
  return files;
}

describe('every fail-stop cause reads as a failed store', () => {
  it('a flush that failed for good (a run file fsync failed)', async () => {
    const fileSystem = new FaultFileSystem(31);
    const store = await openStore('/db', { fileSystem });
    try {
      const states = await watchers(store);
      await store.put('k', Buffer.alloc(64, 1));
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\/runs\// });
      await expect(store.checkpoint()).rejects.toThrow();
      await expectFailed(store, states);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('scrub is refused on a failed store, and the background scrub stops', async () => {
    const fileSystem = new FaultFileSystem(33);
    const store = await openStore('/db', { fileSystem, scrubIntervalMs: 1 });
    try {
      await store.put('k', Buffer.alloc(64, 1));
      await store.checkpoint();
      await turns(20);
      expect(store.stats().storage.scrub.passesStarted, 'the background scrub runs').toBeGreaterThan(0);
      await store.put('k2', Buffer.alloc(64, 2));
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\/runs\// });
      await expect(store.checkpoint()).rejects.toThrow();
      expect(store.stats().failed).toBe(true);
      // A scrub rewrites what it repairs: a failed store writes nothing more.
      await expect(store.scrub()).rejects.toBeInstanceOf(StoreFailedError);
      await turns(5);
      const started = store.stats().storage.scrub.passesStarted;
      await turns(20);
      expect(store.stats().storage.scrub.passesStarted, 'no background pass starts once the store failed').toBe(started);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('a directory lock taken over by another process', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const fileSystem = new FaultFileSystem(32);
    const store = await openStore('/db', { fileSystem });
    try {
      // Two runs, so that a compaction has something to merge after the takeover.
      for (const key of ['r1', 'r2']) {
        await store.put(key, Buffer.alloc(64, 2));
        await store.checkpoint();
      }
      const states = await watchers(store);
      const locks = fileSystem.listPaths().filter((path) => /\/LOCK\.\d{12}$/.test(path));
      expect(locks).toEqual(['/db/LOCK.000000000001']);
      // Another process's generation: the next heartbeat finds it and gives the lock up.
      const taker = await fileSystem.open('/db/LOCK.000000000002', 'createExclusive');
      await taker.write(Buffer.from('{}'), 0);
      await taker.close();
      await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
      await expectFailed(store, states);
      // The directory is the other process's now: nothing more is written into it. A
      // checkpoint asked for is refused (it wrote a run file and a manifest edit, as
      // close's checkpoint did), and close leaves the WAL as it is.
      const before = snapshotOf(fileSystem);
      await expect(store.checkpoint()).rejects.toBeInstanceOf(StoreFailedError);
      expect(snapshotOf(fileSystem), 'nothing written by the checkpoint').toEqual(before);
      // Nor by a compaction (its merged run and manifest edit): refused by the file system's fence.
      await expect(store.compact()).rejects.toThrow();
      expect(snapshotOf(fileSystem), 'nothing written by the compaction').toEqual(before);
      expect(await store.get('r1'), 'reads still answer').toEqual(Buffer.alloc(64, 2));
      await store.close();
      expect(snapshotOf(fileSystem), 'nothing written by close').toEqual(before);
    } finally {
      await store.close().catch(() => undefined);
    }
  });
});
