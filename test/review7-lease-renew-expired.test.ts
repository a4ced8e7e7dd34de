/**
 * Review 7, leases: a renewal must not bring back a lease whose deadline passed
 * before the renewal committed (etcd: a keep-alive of an expired lease fails).
 *
 * renew() checked the deadline when it started, then committed the new deadline
 * without checking again: a renewal whose commit was validated after the deadline
 * (a slow commit, a paused process) succeeded and extended the lease, although a
 * fenced write validated in between was refused as expired. The holder was told
 * "lost" and then "renewed". The renewal now carries the fence's check under the
 * commit lock: past the deadline it fails with LeaseLostError and changes nothing.
 *
 * The clock is moved (performance.now) inside the renewal's transaction, after its
 * body and before its commit, through the store's transaction method the lease
 * module calls.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseLostError, openStore, type Store } from '../src/index.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

const TTL_MS = 10_000;

/** Moves performance.now() `offsetMs` ahead from now on. */
function jumpMonotonicClock(offsetMs: number): void {
  const real = performance.now.bind(performance);
  vi.spyOn(performance, 'now').mockImplementation(() => real() + offsetMs);
}

/** Runs `pause` after the body of the store's next transaction, before its commit. */
function pauseNextCommit(store: Store, pause: () => void): void {
  const original = store.transaction.bind(store);
  let armed = true;
  (store as { transaction: Store['transaction'] }).transaction = <T>(body: (tx: TransactionHandle) => T | Promise<T>, options?: Parameters<Store['transaction']>[1]) => original(async (tx) => {
    const result = await body(tx);
    if (armed) {
      armed = false;
      pause();
    }
    return result;
  }, options);
}

describe('review7: renew of a lease whose deadline passes before the renewal commits', () => {
  it('fails with LeaseLostError, and the lease stays expired', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: TTL_MS });
      await store.put('k', 'bound', { lease });
      pauseNextCommit(store, () => jumpMonotonicClock(TTL_MS + 1_000));
      await expect(store.leases.renew('job', lease)).rejects.toBeInstanceOf(LeaseLostError);
      // Nothing keeps it: a fenced write is refused, it is not live, and a new owner takes it at once.
      await expect(store.put('x', 1, { fence: lease })).rejects.toBeInstanceOf(LeaseLostError);
      expect(await store.leases.get('job')).toBeUndefined();
      const next = await store.leases.acquire('job', { owner: 'v', ttlMs: TTL_MS });
      expect(next.token).toBeGreaterThan(lease.token);
      expect(await store.get('k')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('a renewal committed before the deadline still succeeds', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: TTL_MS });
      pauseNextCommit(store, () => jumpMonotonicClock(TTL_MS - 2_000));
      const renewed = await store.leases.renew('job', lease);
      expect(renewed.expiresAt).toBeGreaterThanOrEqual(lease.expiresAt);
      expect((await store.leases.get('job'))?.token).toBe(lease.token);
      await store.put('x', 1, { fence: lease });
    } finally {
      await store.close();
    }
  });
});
