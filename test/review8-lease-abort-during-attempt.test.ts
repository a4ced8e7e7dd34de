/**
 * Review 8, leases: an acquire whose signal aborts while its attempt is under way
 * (between the call and its wait, e.g. aborted in the same tick as the call) must end
 * with the signal's reason. LeaseManager#acquire checks the signal once, at the call;
 * the attempt's transaction then runs, finds the lease held, and LeaseWaiters#wait adds
 * an 'abort' listener to a signal that has already fired, so the listener never ran:
 * the acquire slept out its whole waitMs and then rejected with LeaseBusyError, or,
 * woken by a release meanwhile, took the lease for a caller that had given up on it
 * (held until its TTL ran out, other waiters kept out). A wait on an aborted signal
 * now rejects at once with the signal's reason, as one aborted while waiting does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
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
});
