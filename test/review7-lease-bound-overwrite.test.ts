/**
 * Review 7, leases: a key bound to a lease is deleted when the lease ends only while
 * it still holds what a write bound to that lease wrote. etcd attaches a key to the
 * lease of its latest put: a put without the lease (or with another lease) detaches
 * it, so the lease's end never deletes a value someone else wrote since.
 *
 * Before the fix the record kept every key ever bound and the ending commit deleted
 * them all: a plain put after the bound one, a key bound since to a second lease that
 * was still held, or a key deleted and written again by another writer, were all
 * deleted by the first lease's release, expiry, replacement or the restart rule.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const TTL_MS = 60_000;
/*
 * SHORT_AFTER_BINDING: a lease meant to expire is acquired with TTL_MS and renewed to a
 * TTL of tens of ms once its keys are bound. Acquired with the short TTL, it could end
 * before the bound puts on a loaded machine (its deadline counts from before the
 * acquire's commit and fdatasync): LeaseLostError at the put, no defect.
 */

async function withStore(body: (store: Store) => Promise<void>, options: { maxVersionsPerKey?: number } = {}): Promise<void> {
  const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 64 * 1024, ...options });
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('review7: the end of a lease deletes only the bound keys it still owns', () => {
  it('release: a plain put after the bound one detaches the key; an untouched bound key is deleted', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('a', { owner: 'w1', ttlMs: TTL_MS });
      await store.batch([{ type: 'put', key: 'presence', value: 'w1' }, { type: 'put', key: 'mine', value: 1 }], { lease });
      await store.put('presence', 'plain');
      await store.leases.release('a', lease);
      expect(await store.get('presence')).toBe('plain');
      expect(await store.get('mine')).toBeUndefined();
    });
  });

  it('a key bound since to a second lease that is still held survives the first one\'s release', async () => {
    await withStore(async (store) => {
      const b = await store.leases.acquire('b', { owner: 'w2', ttlMs: TTL_MS });
      const c = await store.leases.acquire('c', { owner: 'w3', ttlMs: TTL_MS });
      await store.put('k', 'by-b', { lease: b });
      await store.put('k', 'by-c', { lease: c });
      await store.leases.release('b', b);
      expect(await store.get('k')).toBe('by-c');
      await store.leases.release('c', c);
      expect(await store.get('k')).toBeUndefined();
    });
  });

  it('rebinding by the same lease, renewals in between (maxVersionsPerKey 1): the lease still owns the key', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('r', { owner: 'w', ttlMs: TTL_MS });
      await store.put('k', 1, { lease });
      await store.put('other', 1, { lease });
      await store.leases.renew('r', lease);
      await store.put('k', 'plain'); // detached ...
      await store.put('k', 2, { lease }); // ... and bound again
      await store.leases.renew('r', lease);
      await store.leases.renew('r', lease);
      await store.leases.release('r', lease);
      expect(await store.get('k')).toBeUndefined();
      expect(await store.get('other')).toBeUndefined();
    }, { maxVersionsPerKey: 1 });
  });

  it('expiry: a key deleted and written again by another writer is kept', async () => {
    await withStore(async (store) => {
      const lease = await store.leases.acquire('e', { owner: 'w', ttlMs: TTL_MS });
      await store.put('m', 'by-lease', { lease });
      await store.put('n', 'by-lease', { lease });
      await store.delete('m');
      await store.put('m', 'new-owner');
      await store.leases.renew('e', { ...lease, ttlMs: 40 }); // short only now (see SHORT_AFTER_BINDING)
      for (let waitedMs = 0; store.leases.stats().expiries === 0 && waitedMs < 10_000; waitedMs += 20) await sleep(20);
      expect(store.leases.stats().expiries).toBe(1);
      expect(await store.get('m')).toBe('new-owner');
      expect(await store.get('n')).toBeUndefined();
    });
  });

  it('an expired lease replaced by a new acquisition deletes only what it still owns', async () => {
    await withStore(async (store) => {
      const first = await store.leases.acquire('x', { owner: 'w', ttlMs: TTL_MS });
      await store.put('p', 'by-first', { lease: first });
      await store.put('q', 'by-first', { lease: first });
      await store.put('p', 'plain');
      await store.leases.renew('x', { ...first, ttlMs: 30 }); // short only now (see SHORT_AFTER_BINDING)
      const second = await store.leases.acquire('x', { owner: 'v', ttlMs: TTL_MS, waitMs: 10_000 });
      expect(second.token).toBeGreaterThan(first.token);
      expect(await store.get('p')).toBe('plain');
      expect(await store.get('q')).toBeUndefined();
    });
  });

  it('restart rule: after a close with the lease held, a detached key is kept and an owned one deleted', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: TTL_MS });
    await store.put('owned', 1, { lease });
    await store.put('detached', 1, { lease });
    await store.put('detached', 'plain');
    await store.close();
    const reopened = await openStore(directory);
    try {
      expect(await reopened.get('owned')).toBeUndefined();
      expect(await reopened.get('detached')).toBe('plain');
    } finally {
      await reopened.close();
    }
  });
});
