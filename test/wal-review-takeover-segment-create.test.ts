/**
 * Review (wal-review, 2026-12-04): a WAL segment created by an old holder after a
 * takeover of the directory lock, before its heartbeat noticed. A rename, link or unlink
 * first confirms the lock (7d3734f), a group's WAL write the lease (4fa50e5); the
 * creation of a new segment (an exclusive create, a new name in wal/) did neither. The
 * old holder's checkpoint() (or close(), which checkpoints) rotated its WAL into a new
 * segment numbered after the one the new holder had resumed in; the new holder's own
 * creation of that number then failed (EEXIST), a rotation failure, which is final: the
 * legitimate holder's store failed and refused every commit until reopened.
 *
 * The takeover is truthful, as in takeover-wal-lease.test.ts: the old holder's lock file
 * names another host (one process plays both holders), and the wall clock (Date only)
 * moves past the stale bound.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { LOCK_STALE_AFTER_MS } from '../src/limits.js';
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
  const store = await openStore(directory, { segmentSizeBytes: 64 * 1024, maxValueBytes: 8 * 1024 });
  stores.push(store);
  return store;
}

describe('the old holder after a takeover, before its heartbeat', () => {
  it('creates no WAL segment: the new holder writes on through its rotations', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('before', 'old holder, before the pause');
    judgeByHeartbeat(directory);
    vi.setSystemTime(Date.now() + LOCK_STALE_AFTER_MS + 1_000);
    const newHolder = await open(directory);
    await newHolder.put('b0', 'new holder');
    // The old holder checkpoints (close() does too): whatever it does, it must not take a segment number.
    await old.checkpoint().catch(() => undefined);
    // The new holder writes across several rotations of its WAL.
    const value = 'v'.repeat(4000);
    for (let index = 0; index < 60; index++) await newHolder.put(`b${index}`, value);
    expect(newHolder.stats().failed, 'the new holder stays healthy').toBe(false);
    expect(await newHolder.get('b59')).toBe(value);
  }, 60_000);
});
