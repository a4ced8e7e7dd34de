/**
 * The lease restart rule at open (src/store/open-store.ts, issue 10) scans the lease
 * records only where one can be: in a commit the open replayed, or in a run that does
 * not say it holds no reserved entry. A clean reopen of a store that never had a lease
 * scans nothing (issue 7: the scan's first run in a fresh process was 2-3 ms of the
 * open); the lease manager, made on first use, applies the rule before any lease
 * operation. Where a record can be, it is expired before openStore returns.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore, Store } from '../src/store/store.js';
import { openOn } from './workload.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** `count` plain keys over a few runs (checkpoints between), closed with a checkpoint: a reopen replays nothing. */
async function storeWithRuns(fileSystem: FaultFileSystem, count: number): Promise<void> {
  const store = await openOn(fileSystem, { checkpointOnClose: true });
  for (let index = 0; index < count; index++) {
    await store.put(`k${index}`, index);
    if (index % 10 === 9) await store.checkpoint();
  }
  await store.close();
}

describe('the lease restart scan at open', () => {
  it('a clean reopen of a store without lease records scans nothing; the first lease use applies the rule', async () => {
    const fileSystem = new FaultFileSystem(21);
    await storeWithRuns(fileSystem, 30);
    const scan = vi.spyOn(Store.prototype, 'scan');
    const store = await openOn(fileSystem, { checkpointOnClose: true });
    try {
      expect(store.stats().recovery.commits).toBe(0);
      expect(scan).not.toHaveBeenCalled();
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
      expect(scan).toHaveBeenCalled(); // the restart rule, run by the manager before the acquisition
      expect(store.leases.stats().expiries).toBe(0);
      await store.put('bound', 'v', { lease });
      expect(await store.get('bound')).toBe('v');
      expect(await store.get('k29')).toBe(29);
    } finally {
      await store.close();
    }
  });

  it('a record in the runs is expired before the open returns', async () => {
    const fileSystem = new FaultFileSystem(22);
    const first = await openOn(fileSystem, { checkpointOnClose: true });
    const lease = await first.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await first.put('bound', 'v', { lease });
    await first.close(); // the checkpoint puts the record and the bound key in a run
    const scan = vi.spyOn(Store.prototype, 'scan');
    const store = await openOn(fileSystem, { checkpointOnClose: true });
    try {
      expect(store.stats().recovery.commits).toBe(0);
      expect(scan).toHaveBeenCalled();
      expect(store.leases.stats().expiries).toBe(1);
      expect(await store.get('bound')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('a record only in the WAL (the holder killed) is expired before the open returns', async () => {
    const fileSystem = new FaultFileSystem(23);
    await storeWithRuns(fileSystem, 20);
    const first = await openOn(fileSystem);
    const lease = await first.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await first.put('bound', 'v', { lease });
    first[abandonStore]();
    const store = await openOn(fileSystem, { checkpointOnClose: true });
    try {
      expect(store.stats().recovery.commits).toBeGreaterThan(0);
      expect(store.leases.stats().expiries).toBe(1);
      expect(await store.get('bound')).toBeUndefined();
      expect(await store.get('k19')).toBe(19);
    } finally {
      await store.close();
    }
  });
});
