/**
 * Adversarial review of fenced writes, lease-bound keys (src/lease/) and the watch
 * catch-up in batches (src/watch/catch-up.ts).
 *
 * Leases: a lease whose expiry commit is refused (disk full) must still end with its
 * bound keys deleted once the disk accepts writes again, never leave them behind a
 * lease nobody holds; a fenced write with a stale token never commits.
 *
 * Watch: a catch-up over history while commits, checkpoints (memtable flushes) and
 * compactions run delivers every change exactly once, in (version, key) order, then
 * follows live commits without a gap; the pinned start version is released on every
 * way out (break, return, an error from a trimmed history).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

async function memoryStore(fileSystem = new FaultFileSystem(5), options: Record<string, unknown> = {}): Promise<Store> {
  const store = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024, ...options });
  openStores.push(store);
  return store;
}

const pause = (delayMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delayMs));

/** Polls `condition` every 20 ms, at most `rounds` times (a liveness bound, not a timing assertion). */
async function eventually(condition: () => Promise<boolean>, rounds = 250): Promise<boolean> {
  for (let round = 0; round < rounds; round++) {
    if (await condition()) return true;
    await pause(20);
  }
  return condition();
}

describe('review: lease-bound keys never outlive their lease', () => {
  it('an expiry whose commit is refused for a full disk is retried: the bound key goes once the disk has room', async () => {
    const fileSystem = new FaultFileSystem(9);
    const store = await memoryStore(fileSystem);
    const lease = await store.leases.acquire('job', { owner: 'worker', ttlMs: 30 });
    await store.put('job/output', 'partial', { lease });
    // The expiry timer's commit is the next WAL write: refuse it once.
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /wal-\d+\.log$/ });
    expect(await eventually(async () => fault.triggeredCount === 1)).toBe(true);
    // Nobody holds the lease any more...
    expect(await store.leases.get('job')).toBeUndefined();
    // ...so its bound key must go too (it stayed forever: the failed expiry was never retried).
    expect(await eventually(async () => (await store.get('job/output')) === undefined)).toBe(true);
    expect(await store.leases.expiredNames()).toEqual([]);
  });

  it('a fenced write with the token of an earlier acquisition never commits, even after the newer one ended', async () => {
    const store = await memoryStore();
    const first = await store.leases.acquire('job', { owner: 'a', ttlMs: 10_000 });
    await store.leases.release('job', first);
    const second = await store.leases.acquire('job', { owner: 'b', ttlMs: 10_000 });
    await expect(store.put('k', 'stale', { fence: first })).rejects.toBeInstanceOf(LeaseLostError);
    await store.leases.release('job', second);
    await expect(store.put('k', 'stale', { fence: first })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.put('k', 'stale', { fence: second })).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.get('k')).toBeUndefined();
  });
});
