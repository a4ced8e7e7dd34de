/**
 * store.leases: acquire/renew/release/get/list, tokens (the version of the acquiring
 * commit), no revival of an expired holder, waiting acquires woken in order, force
 * release authorization with an audit record, validation, lease-bound keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ErrorCode, InvalidOptionError, LeaseBusyError, LeaseLostError, openStore, UnauthorizedError, type Store, type StoreOptions,
} from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function withStore(options: StoreOptions, body: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096, ...options });
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

describe('leases', () => {
  it('acquire returns the version of its commit as token; get and list show the holder; release frees it', async () => {
    await withStore({}, async (store) => {
      await store.put('user', 1);
      const lease = await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 60_000 });
      expect(lease.token).toBe(store.version);
      expect(lease).toMatchObject({ name: 'jobs/nightly', owner: 'worker-7' });
      expect(await store.leases.get('jobs/nightly')).toEqual(lease);
      expect(await store.leases.list({ prefix: 'jobs/' })).toEqual([lease]);
      await expect(store.leases.acquire('jobs/nightly', { owner: 'worker-8', ttlMs: 1000 })).rejects.toBeInstanceOf(LeaseBusyError);
      await store.leases.release('jobs/nightly', { owner: 'worker-7', token: lease.token });
      expect(await store.leases.get('jobs/nightly')).toBeUndefined();
      const next = await store.leases.acquire('jobs/nightly', { owner: 'worker-8', ttlMs: 1000 });
      expect(next.token).toBeGreaterThan(lease.token);
      expect(store.leases.stats()).toMatchObject({ acquisitions: 2, failedAcquires: 1, held: 1 });
    });
  });

  it('a stale token or another owner gets LeaseLostError; an expired holder cannot renew (no revival)', async () => {
    await withStore({}, async (store) => {
      const first = await store.leases.acquire('a', { owner: 'x', ttlMs: 5_000 });
      const renewed = await store.leases.renew('a', { owner: 'x', token: first.token, ttlMs: 40 });
      expect(renewed.expiresAt).toBeLessThan(first.expiresAt); // the new TTL counts from now
      await expect(store.leases.renew('a', { owner: 'y', token: first.token })).rejects.toBeInstanceOf(LeaseLostError);
      await sleep(200);
      const lost = await store.leases.renew('a', { owner: 'x', token: first.token }).catch((error: unknown) => error);
      expect(lost).toBeInstanceOf(LeaseLostError);
      expect((lost as LeaseLostError).code).toBe(ErrorCode.LeaseLost);
      expect(await store.leases.get('a')).toBeUndefined();
      const second = await store.leases.acquire('a', { owner: 'y', ttlMs: 1000 });
      await expect(store.leases.release('a', { owner: 'x', token: first.token })).rejects.toBeInstanceOf(LeaseLostError);
      expect(store.leases.stats().expiries).toBe(1);
      await store.leases.release('a', { owner: 'y', token: second.token });
    });
  });

  it('waiting acquires are woken in arrival order on release, time out, and honour an AbortSignal', async () => {
    await withStore({}, async (store) => {
      const held = await store.leases.acquire('q', { owner: 'h', ttlMs: 60_000 });
      const order: string[] = [];
      const waiters = ['w1', 'w2', 'w3'].map((owner) => store.leases.acquire('q', { owner, ttlMs: 60_000, waitMs: 60_000 })
        .then(async (lease) => {
          order.push(owner);
          await store.leases.release('q', { owner, token: lease.token });
        }));
      const controller = new AbortController();
      const aborted = store.leases.acquire('q', { owner: 'ab', ttlMs: 1000, waitMs: 60_000, signal: controller.signal });
      // The four are waiting before 't' asks: its short wait starts with the acquire, and
      // behind their tries on a busy machine it could run out before 't' ever waited (CI
      // saw 4 waiting acquires, not 5).
      while (store.leases.stats().waitingAcquires < 4) await new Promise((resolve) => setImmediate(resolve));
      await expect(store.leases.acquire('q', { owner: 't', ttlMs: 1000, waitMs: 200 })).rejects.toBeInstanceOf(LeaseBusyError);
      controller.abort(new Error('stop'));
      await expect(aborted).rejects.toThrow('stop');
      await store.leases.release('q', { owner: 'h', token: held.token });
      await Promise.all(waiters);
      expect(order).toEqual(['w1', 'w2', 'w3']);
      expect(store.leases.stats().waitingAcquires).toBe(5);
    });
  });

  it('a waiter is woken when the holder expires (no release needed)', async () => {
    await withStore({}, async (store) => {
      const held = await store.leases.acquire('e', { owner: 'h', ttlMs: 30 });
      const next = await store.leases.acquire('e', { owner: 'n', ttlMs: 1000, waitMs: 60_000 });
      expect(next.token).toBeGreaterThan(held.token);
      expect(store.leases.stats().expiries).toBe(1);
    });
  });

  it('forceRelease needs the authorize callback to say yes, and records actor and reason', async () => {
    await withStore({}, async (store) => {
      await store.leases.acquire('f', { owner: 'h', ttlMs: 60_000 });
      const refused = await store.leases.forceRelease('f', { authorization: 'anything', reason: 'stuck' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UnauthorizedError);
      expect((refused as UnauthorizedError).code).toBe(ErrorCode.Unauthorized);
      expect(await store.leases.get('f')).toBeDefined();
    });
    await withStore({ authorize: (name, authorization) => name === 'f' && authorization === 'admin-secret' }, async (store) => {
      const held = await store.leases.acquire('f', { owner: 'h', ttlMs: 60_000 });
      await expect(store.leases.forceRelease('f', { authorization: 'guess', reason: 'stuck' })).rejects.toBeInstanceOf(UnauthorizedError);
      expect(await store.leases.forceRelease('f', { authorization: 'admin-secret', reason: 'stuck', actor: 'ops' })).toEqual({ released: true });
      expect(await store.leases.get('f')).toBeUndefined();
      expect(await store.get('\u0000ladybug/lease-audit/f')).toMatchObject({ action: 'force-release', actor: 'ops', reason: 'stuck', previousOwner: 'h' });
      await expect(store.leases.renew('f', { owner: 'h', token: held.token })).rejects.toBeInstanceOf(LeaseLostError);
      expect(store.leases.stats().forceReleases).toBe(1);
    });
  });

  it('validates names, owners and TTLs (at most leaseTtlMsMax) before any use', async () => {
    await withStore({ leaseTtlMsMax: 1000 }, async (store) => {
      for (const name of ['', '../etc/passwd'.replace('/', '\\'), 'a b', 'x'.repeat(257), '\u0000ladybug/lease/x', 7]) {
        await expect(store.leases.acquire(name as string, { owner: 'o', ttlMs: 10 })).rejects.toBeInstanceOf(InvalidOptionError);
      }
      for (const ttlMs of [0, -1, 1.5, 1001, Infinity]) {
        await expect(store.leases.acquire('ok', { owner: 'o', ttlMs })).rejects.toBeInstanceOf(InvalidOptionError);
      }
      await expect(store.leases.acquire('ok', { owner: '', ttlMs: 10 })).rejects.toBeInstanceOf(InvalidOptionError);
      expect(await store.leases.list()).toEqual([]);
    });
    await expect(openStore(temporaryDirectory(), { leaseTtlMsMax: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(openStore(temporaryDirectory(), { authorize: 'yes' as never })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('lease-bound keys are deleted by the commit that ends the lease (release and expiry)', async () => {
    await withStore({}, async (store) => {
      const lease = await store.leases.acquire('s', { owner: 'o', ttlMs: 60_000 });
      await store.put('presence/o', { pid: 1 }, { lease });
      expect(await store.get('presence/o')).toEqual({ pid: 1 });
      await store.leases.release('s', { owner: 'o', token: lease.token });
      expect(await store.get('presence/o')).toBeUndefined();
      // Bound while the lease surely holds, then renewed to a TTL that ends while 'p' waits.
      // Acquired with the 30 ms TTL itself, the lease could end before the put: its deadline
      // counts from before the acquire's commit and fdatasync, which took longer than that
      // with the disk loaded (LeaseLostError at the put).
      const short = await store.leases.acquire('s', { owner: 'o', ttlMs: 60_000 });
      await store.put('presence/o', { pid: 2 }, { lease: short });
      await store.leases.renew('s', { owner: 'o', token: short.token, ttlMs: 30 });
      await store.leases.acquire('s', { owner: 'p', ttlMs: 1000, waitMs: 60_000 });
      expect(await store.get('presence/o')).toBeUndefined();
      await expect(store.put('presence/o', 3, { lease: short })).rejects.toBeInstanceOf(LeaseLostError);
    });
  });
});
