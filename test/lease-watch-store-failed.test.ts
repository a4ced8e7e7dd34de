/**
 * A store that failed (a WAL fdatasync failed: fail-stop, README "Errors") ends the lease
 * acquires waiting for a held lease and the watch feeds waiting for commits with the
 * store's failure (StoreFailedError, LADYBUG_STORE_FAILED, the error a put then gets),
 * and refuses an acquire asked for later at once. Before, a waiting acquire slept out
 * its whole waitMs (up to 24.8 days: the holder can never release on a failed store),
 * an acquire started later waited the same way, and a following watch waited for
 * commits that could never come. No timing: "still pending" is checked after
 * event-loop turns; a wait left over is aborted through its signal at the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, CommitOutcomeUnknownError, ErrorCode, LeaseBusyError, openStore, type Store, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { settled } from './helpers.js';

const WAIT_MS_MAX = 2 ** 31 - 1;
const ANY_SEGMENT = /^\/db\d*\/wal\/wal-\d{10}\.log$/;
const leftOver: AbortController[] = [];

afterEach(() => {
  for (const controller of leftOver.splice(0)) controller.abort();
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/** Makes the store fail: the next WAL fdatasync fails (EIO), under a put. Answers the store's failure (a later put's error). */
async function failStore(store: Store, fileSystem: FaultFileSystem): Promise<StoreFailedError> {
  fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
  await expect(store.put('doomed', 1)).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
  const failure = await failureOf(store);
  expect(failure).toBeInstanceOf(StoreFailedError);
  expect(store.stats().failed).toBe(true);
  return failure as StoreFailedError;
}

/** The failure a put gets on the failed `store`. */
async function failureOf(store: Store): Promise<StoreFailedError> {
  return (await store.put('refused', 1).then(() => undefined, (error: unknown) => error)) as StoreFailedError;
}

function waitingAcquire(store: Store, name: string, owner: string): { acquire: Promise<unknown>; state: { done: boolean; error: unknown } } {
  const controller = new AbortController();
  leftOver.push(controller);
  const acquire = store.leases.acquire(name, { owner, ttlMs: 1000, waitMs: WAIT_MS_MAX, signal: controller.signal });
  acquire.catch(() => undefined);
  return { acquire, state: settled(acquire) };
}

function expectFailure(error: unknown, failure: StoreFailedError): void {
  expect(error).toBeInstanceOf(StoreFailedError);
  expect(error).toMatchObject({ code: ErrorCode.StoreFailed });
  expect(error).toBe(failure);
}

describe('lease acquires on a store that fails', () => {
  it('acquires waiting on held leases when the store fails reject with its failure', async () => {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
      await store.leases.acquire('jobs/b', { owner: 'holder', ttlMs: 600_000 });
      const waits = [waitingAcquire(store, 'jobs/a', 'w0'), waitingAcquire(store, 'jobs/a', 'w1'), waitingAcquire(store, 'jobs/b', 'w2')];
      await turns(5);
      expect(waits.map((wait) => wait.state.done), 'they wait for the holder').toEqual([false, false, false]);
      expect(store.leases.stats().waitingAcquires).toBe(3);

      const failure = await failStore(store, fileSystem);
      await turns(5);
      expect(waits.map((wait) => wait.state.done), 'settled once the store failed').toEqual([true, true, true]);
      for (const wait of waits) expectFailure(wait.state.error, failure);
      expect(store.leases.stats().failedAcquires).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('an acquire asked for after the failure is refused at once, held lease or free', async () => {
    const fileSystem = new FaultFileSystem(12);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
      const failure = await failStore(store, fileSystem);
      const held = waitingAcquire(store, 'jobs/a', 'late');
      const free = waitingAcquire(store, 'jobs/free', 'late');
      const noWait = store.leases.acquire('jobs/a', { owner: 'late', ttlMs: 1000 }).then(() => undefined, (error: unknown) => error);
      await turns(5);
      expect([held.state.done, free.state.done]).toEqual([true, true]);
      expectFailure(held.state.error, failure);
      expectFailure(free.state.error, failure);
      // Not LeaseBusyError: the lease is not busy, the store refuses every write.
      const refused = await noWait;
      expect(refused).not.toBeInstanceOf(LeaseBusyError);
      expectFailure(refused, failure);
    } finally {
      await store.close();
    }
  });

  it('an acquire whose attempt is under way when the store fails ends too, wherever the failure lands', async () => {
    const pending: number[] = [];
    for (let steps = 0; steps < 80; steps++) {
      const fileSystem = new FaultFileSystem(100 + steps);
      const store = await openStore(`/db${steps}`, { fileSystem });
      await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
      // The failing commit first, the acquire `steps` microtask steps later: its attempt
      // (a store transaction finding the lease held) spans the failure for some of them.
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
      const doomed = store.put('doomed', 1);
      for (let step = 0; step < steps; step++) await Promise.resolve();
      const wait = waitingAcquire(store, 'jobs/a', 'waiter');
      await expect(doomed).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
      await turns(5);
      if (!wait.state.done) pending.push(steps);
      else expectFailure(wait.state.error, await failureOf(store));
      await store.close();
    }
    expect(pending, 'microtask steps after which the acquire was still waiting').toEqual([]);
  });

  it('renew and release of a held lease on a failed store reject with its failure', async () => {
    const fileSystem = new FaultFileSystem(13);
    const store = await openStore('/db', { fileSystem });
    try {
      const lease = await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
      const failure = await failStore(store, fileSystem);
      const renew = store.leases.renew('jobs/a', lease).then(() => undefined, (error: unknown) => error);
      const release = store.leases.release('jobs/a', lease).then(() => undefined, (error: unknown) => error);
      expectFailure(await renew, failure);
      expectFailure(await release, failure);
    } finally {
      await store.close();
    }
  });
});

describe('watch feeds on a store that fails', () => {
  it('a following feed waiting for commits ends with the failure, after every change made before it', async () => {
    const fileSystem = new FaultFileSystem(21);
    const store = await openStore('/db', { fileSystem });
    try {
      const start = store.version;
      const feeds = [store.watch({}), store.watch({ gte: 'k' }), store.watch({ sinceVersion: 0 })];
      const received = feeds.map((feed) => {
        const changes: Change[] = [];
        const done = (async () => {
          for await (const change of feed) changes.push(change);
        })().then(() => undefined, (error: unknown) => error);
        return { changes, state: settled(done), done };
      });
      const { version } = await store.put('k1', 1);
      await turns(5);
      const failure = await failStore(store, fileSystem);
      await turns(5);
      expect(received.map((feed) => feed.state.done), 'every feed ended once the store failed').toEqual([true, true, true]);
      for (const feed of received) {
        expectFailure(await feed.done, failure);
        expect(feed.changes.filter((change) => change.version > start)).toEqual([{ version, key: 'k1', value: 1, deleted: false }]);
      }
    } finally {
      await store.close();
    }
  });

  it('a feed started after the failure catches up from history, then ends with the failure; one bounded below the visible version ends normally', async () => {
    const fileSystem = new FaultFileSystem(22);
    const store = await openStore('/db', { fileSystem });
    try {
      const start = store.version;
      const { version } = await store.put('k1', 1);
      const failure = await failStore(store, fileSystem);
      const following = store.watch({ sinceVersion: start });
      expect((await following.next()).value).toEqual({ version, key: 'k1', value: 1, deleted: false });
      const next = following.next();
      const state = settled(next);
      await turns(5);
      expect(state.done, 'the feed ended').toBe(true);
      expectFailure(state.error, failure);

      const bounded: Change[] = [];
      for await (const change of store.watch({ sinceVersion: start, untilVersion: store.version })) bounded.push(change);
      expect(bounded.map((change) => change.version)).toEqual([version]);
    } finally {
      await store.close();
    }
  });
});
