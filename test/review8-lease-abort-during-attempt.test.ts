/**
 * Review 8, leases: an acquire whose signal aborts while its attempt is under way
 * (between the call and its wait, e.g. aborted in the same tick as the call) must end
 * with the signal's reason. LeaseManager#acquire checks the signal once, at the call;
 * the attempt's transaction then runs, finds the lease held, and LeaseWaiters#wait adds
 * an 'abort' listener to a signal that has already fired, so the listener never ran:
 * the acquire slept out its whole waitMs and then rejected with LeaseBusyError, or,
 * woken by a release meanwhile, took the lease for a caller that had given up on it
 * (held until its TTL ran out, other waiters kept out). Likewise an acquire woken from
 * its wait whose next attempt queued behind another lease operation (lease.operations
 * is FIFO) and was aborted meanwhile: the attempt ran and took the lease. Each attempt
 * now checks the signal as it starts, and a wait on an aborted signal rejects at once
 * with the signal's reason, as one aborted while waiting does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { afterLeaseCheck } from '../src/lease/lease-manager.js';
import { LeaseWaiters } from '../src/lease/lease-waiters.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore(temporaryDirectory());
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

describe('review8: a lease acquire aborted while its attempt is under way', () => {
  it('rejects with the signal reason, not LeaseBusyError after its waitMs', async () => {
    await withStore(async (store) => {
      await store.leases.acquire('job', { owner: 'holder', ttlMs: 60_000 });
      const controller = new AbortController();
      const acquiring = store.leases.acquire('job', { owner: 'quitter', ttlMs: 60_000, waitMs: 3_000, signal: controller.signal });
      controller.abort();
      await expect(acquiring).rejects.toMatchObject({ name: 'AbortError' });
      expect(store.leases.stats().failedAcquires).toBe(1);
    });
  });

  it('does not take the lease when a release comes while it would have waited', async () => {
    await withStore(async (store) => {
      const held = await store.leases.acquire('job', { owner: 'holder', ttlMs: 60_000 });
      const controller = new AbortController();
      const quitter = store.leases.acquire('job', { owner: 'quitter', ttlMs: 60_000, waitMs: 30_000, signal: controller.signal })
        .then((lease) => `acquired by ${lease.owner}`, (error: unknown) => (error as Error).name);
      controller.abort();
      // The quitter's attempt runs first (lease operations are FIFO), then this release.
      await store.leases.release('job', { owner: 'holder', token: held.token });
      expect(await quitter).toBe('AbortError');
      const next = await store.leases.acquire('job', { owner: 'next', ttlMs: 60_000 });
      expect(next.owner).toBe('next');
    });
  });

  it('does not take the lease when it aborts after being woken, while its next attempt waits its turn', async () => {
    await withStore(async (store) => {
      const held = await store.leases.acquire('job', { owner: 'holder', ttlMs: 60_000 });
      const other = await store.leases.acquire('other', { owner: 'writer', ttlMs: 60_000 });
      const controller = new AbortController();
      const quitter = store.leases.acquire('job', { owner: 'quitter', ttlMs: 60_000, waitMs: 30_000, signal: controller.signal })
        .then((lease) => `acquired by ${lease.owner}`, (error: unknown) => (error as Error).name);
      while (store.leases.stats().waitingAcquires < 1) await new Promise((resolve) => setImmediate(resolve));
      // A lease-bound write holds lease.operations at its failpoint while the release wakes
      // the quitter, so the quitter's next attempt queues behind it; the abort comes then.
      let unblock!: () => void;
      let blocked!: () => void;
      const atFailpoint = new Promise<void>((resolve) => { blocked = resolve; });
      store.leases[afterLeaseCheck] = () => { blocked(); return new Promise<void>((resolve) => { unblock = resolve; }); };
      const releasing = store.leases.release('job', { owner: 'holder', token: held.token });
      const writing = store.put('bound', 1, { lease: { name: 'other', token: other.token, owner: 'writer' } });
      await atFailpoint;
      store.leases[afterLeaseCheck] = undefined;
      await releasing;
      controller.abort();
      unblock();
      await writing;
      expect(await quitter).toBe('AbortError');
      const next = await store.leases.acquire('job', { owner: 'next', ttlMs: 60_000 });
      expect(next.owner).toBe('next');
    });
  });

  it('a wait asked for on an already aborted signal rejects at once with its reason (an abort during the attempt itself)', async () => {
    const waiters = new LeaseWaiters();
    const controller = new AbortController();
    controller.abort(new Error('gave up'));
    await expect(waiters.wait('job', 30_000, controller.signal, false)).rejects.toThrow('gave up');
    expect(waiters.count('job')).toBe(0);
  });
});
