/**
 * On a store that failed (StoreFailedError: its directory lock taken over, a WAL
 * fdatasync failed), leases.get and leases.list no longer answer this open's leases as
 * live: nothing can be committed under them any more (no renewal, no fenced write), and
 * after a takeover the new holder's restart rule expired them and another process may
 * hold the same name. They reject with the failure, as an acquire does (README). Before,
 * the old holder's get answered its own acquisition, live until its TTL, while the new
 * holder held the lease: two processes each told they were the holder.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { CommitOutcomeUnknownError, ErrorCode, openStore, type Store, StoreFailedError } from '../src/index.js';
import { LOCK_STALE_AFTER_MS } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { judgeByHeartbeat } from './support/lock-takeover.js';

const stores: Store[] = [];
const ANY_SEGMENT = /^\/db\d*\/wal\/wal-\d{10}\.log$/;

afterEach(async () => {
  vi.useRealTimers();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

async function open(directory: string, options: Parameters<typeof openStore>[1] = {}): Promise<Store> {
  const store = await openStore(directory, options);
  stores.push(store);
  return store;
}

/** `error` is a StoreFailedError; the store's failure itself (the one a put gets) unless `failure` is undefined. */
function expectFailure(error: unknown, failure: unknown): void {
  expect(error).toBeInstanceOf(StoreFailedError);
  expect(error).toMatchObject({ code: ErrorCode.StoreFailed });
  if (failure !== undefined) expect(error).toBe(failure);
}

describe('leases of a store that failed', () => {
  it('after a directory-lock takeover, the old holder is not told it still holds a lease the new holder took', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const directory = temporaryDirectory();
    const old = await open(directory);
    const oldLease = await old.leases.acquire('jobs/nightly', { owner: 'old-worker', ttlMs: 3_600_000 });
    await old.put('presence/old-worker', 'here', { lease: oldLease });
    judgeByHeartbeat(directory);
    // The old holder's event loop is blocked past the stale bound: another process takes the directory over.
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS + 1_000);
    const taker = await open(directory);
    expect(await taker.get('presence/old-worker'), 'the restart rule deleted the old lease\'s bound key').toBeUndefined();
    const newLease = await taker.leases.acquire('jobs/nightly', { owner: 'new-worker', ttlMs: 60_000 });
    expect(newLease.token).toBeGreaterThan(oldLease.token);
    // The old holder's next write meets the takeover: its store fails.
    const failure = await old.put('late', 1).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreFailedError);
    expect(old.stats().failed).toBe(true);

    expectFailure(await old.leases.get('jobs/nightly').then((info) => info, (error: unknown) => error), failure);
    expectFailure(await old.leases.list().then((infos) => infos, (error: unknown) => error), failure);
    // Refused at their commit, as before.
    expectFailure(await old.leases.renew('jobs/nightly', oldLease).then(() => undefined, (error: unknown) => error), undefined);
    expectFailure(await old.put('report', 'x', { fence: oldLease }).then(() => undefined, (error: unknown) => error), undefined);
    expect(await taker.leases.get('jobs/nightly')).toMatchObject({ owner: 'new-worker', token: newLease.token });
    expect(await old.get('late'), 'reads of the failed store still answer').toBeUndefined();
  }, 60_000);

  it('after a failed WAL fdatasync, get and list reject with the failure a put gets', async () => {
    const fileSystem = new FaultFileSystem(17);
    const store = await open('/db', { fileSystem });
    await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
    expect(await store.leases.get('jobs/a')).toMatchObject({ owner: 'holder' });
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: ANY_SEGMENT });
    await expect(store.put('doomed', 1)).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    const failure = await store.put('refused', 1).then(() => undefined, (error: unknown) => error);
    expectFailure(await store.leases.get('jobs/a').then((info) => info, (error: unknown) => error), failure);
    expectFailure(await store.leases.get('jobs/never').then((info) => info, (error: unknown) => error), failure);
    expectFailure(await store.leases.list({ prefix: 'jobs/' }).then((infos) => infos, (error: unknown) => error), failure);
  });
});
