/**
 * The last data-loss window of a directory-lock takeover: the old holder's WAL appends.
 * Between another process taking the lock over and the old holder's next heartbeat, the
 * old holder's group commits appended to the segment it has open, the one the new
 * holder resumes writing in: its put resolved, written over the record of a put the new
 * holder had acknowledged, and after both crashed the reopened store had lost the new
 * holder's key and replayed the old holder's instead. Now a holder fences itself by
 * lease expiry (DirectoryLock#leaseExpired, checked before each group's WAL write): once
 * its last written heartbeat is older than LOCK_STALE_AFTER_MS - LOCK_SELF_FENCE_MARGIN_MS
 * it writes nothing before a heartbeat has run, which finds the takeover.
 *
 * The takeover is truthful: it happens only because the old holder's heartbeat is older
 * than the stale bound by the taker's clock. One process plays both holders, so the old
 * holder's lock file names another host and a token not held here (otherwise the new
 * opener would judge it by this process's pid, alive), but keeps the heartbeatAt the old
 * holder wrote; then the wall clock (Date only: timers stay real, and the heartbeat's
 * 10 s interval never fires in this test) moves past the stale bound, as for a holder
 * whose event loop was blocked that long.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store, StoreFailedError } from '../src/index.js';
import { LOCK_STALE_AFTER_MS } from '../src/limits.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { judgeByHeartbeat } from './support/lock-takeover.js';

const stores: Store[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

async function open(directory: string): Promise<Store> {
  const store = await openStore(directory);
  stores.push(store);
  return store;
}

describe('the old holder after a takeover, before its heartbeat', () => {
  it('appends nothing to the WAL: its put is refused and every acknowledged write of the new holder survives', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('before', 'old holder, before the pause');
    judgeByHeartbeat(directory);
    // The old holder's event loop is blocked past the stale bound: its heartbeat does not run.
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS + 1_000);
    const newHolder = await open(directory);
    await newHolder.put('b1', 'new holder 1');
    const outcome = await old.put('a1', 'old holder after the takeover').then(() => 'resolved', (error: unknown) => error);
    await newHolder.put('b2', 'new holder 2');
    const oldFailed = old.stats().failed;
    // Both crash.
    old[abandonStore]();
    newHolder[abandonStore]();
    const reopened = await open(directory);
    expect(await reopened.get('b1'), 'the new holder\'s acknowledged b1').toBe('new holder 1');
    expect(await reopened.get('b2'), 'the new holder\'s acknowledged b2').toBe('new holder 2');
    expect(await reopened.get('before')).toBe('old holder, before the pause');
    expect(await reopened.get('a1'), 'nothing of the refused put').toBeUndefined();
    expect(outcome, 'the old holder\'s put is refused').toBeInstanceOf(StoreFailedError);
    expect((outcome as StoreFailedError).message).toMatch(/taken over/);
    expect(((outcome as StoreFailedError).cause as { code?: string } | undefined)?.code).toBe('ESTORELOCKLOST');
    expect(oldFailed, 'the old holder\'s store failed').toBe(true);
  }, 60_000);

  it('a holder whose lease expired without a takeover renews it with one heartbeat and commits', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const directory = temporaryDirectory();
    const store = await open(directory);
    const beats = vi.spyOn(DirectoryLock.prototype, 'heartbeat');
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS);
    await store.put('k', 'after a long pause');
    expect(beats).toHaveBeenCalledTimes(1);
    await store.put('k2', 'renewed');
    expect(beats, 'the renewed lease needs no second heartbeat').toHaveBeenCalledTimes(1);
    expect(await store.get('k')).toBe('after a long pause');
    expect(store.stats().failed).toBe(false);
  });

  it('a lease its heartbeat cannot renew (EIO on the lock file) fails the store before the group is written', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const fileSystem = new FaultFileSystem();
    const store = await openStore('/db', { fileSystem });
    stores.push(store);
    await store.put('kept', 1);
    fileSystem.injectFault({ operation: 'rename', path: /LOCK\.tmp-.*-heartbeat$/, error: 'EIO', persistent: true });
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS);
    const outcome = await store.put('refused', 2).then(() => 'resolved', (error: unknown) => error);
    expect(outcome).toBeInstanceOf(StoreFailedError);
    expect((outcome as StoreFailedError).message).toMatch(/could not renew/);
    expect(store.stats().failed).toBe(true);
    expect(await store.get('kept')).toBe(1);
    expect(await store.get('refused')).toBeUndefined();
  });

  it('a healthy holder never runs an extra heartbeat, over many groups', async () => {
    const directory = temporaryDirectory();
    const store = await open(directory);
    const beats = vi.spyOn(DirectoryLock.prototype, 'heartbeat');
    for (let round = 0; round < 200; round++) {
      await Promise.all([store.put(`a${round}`, round), store.put(`b${round}`, round), store.put(`c${round}`, round)]);
    }
    expect(store.stats().groupCommits, 'many groups').toBeGreaterThanOrEqual(200);
    expect(beats).not.toHaveBeenCalled();
  });
});
