/**
 * ladybug repair of a wrong reserved count must not expire a released lease again.
 *
 * The store (storeWithReleasedLeaseRecord): an older run holds a lease record and its
 * bound key; a newer run holds the release (the record's tombstone) and the key
 * rewritten since without a lease. The newer run's descriptor is made to say 0
 * reserved entries. An open that trusts that 0 skips the newer run for reserved
 * keys, sees the old record, and the lease restart rule expires it again (it used
 * to delete the rewritten key too; a key written since its binding is now detached
 * from the lease and kept). Repair's own open treats the counts as unknown
 * (openStoreInternal, trustReservedEntryCounts false): it sees the tombstone and
 * deletes nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { openStoreInternal } from '../src/store/open-store.js';
import { repairReservedEntryCounts } from '../src/store/repair-reserved-counts.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { claimReservedCountOf, storeWithReleasedLeaseRecord } from './support/reserved-count-stores.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt(); // repair compacts, in the merge thread by default
}, 180_000);

afterEach(() => {
  removeTemporaryDirectories();
});

/** The store above with the tombstone run's count made 0. */
async function storeHidingTheRelease(): Promise<{ directory: string; tombstoneRunId: number }> {
  const { directory, tombstoneRunId } = await storeWithReleasedLeaseRecord();
  await claimReservedCountOf(directory, tombstoneRunId, 0);
  return { directory, tombstoneRunId };
}

describe('a run saying 0 while it holds the tombstone of a released lease record', () => {
  it('the harm: an open trusting the count expires the released lease again (the rewritten key is detached: kept)', async () => {
    const { directory } = await storeHidingTheRelease();
    const store = await openStore(directory);
    try {
      expect(store.leases.stats().expiries).toBe(1);
      // Deleted here until the end of a lease spared bound keys written since (review7-lease-bound-overwrite).
      expect(await store.get('session/a')).toBe('rewritten');
    } finally {
      await store.close();
    }
  });

  it('an open not trusting the counts sees the tombstone: nothing expired, the rewritten key kept', async () => {
    const { directory, tombstoneRunId } = await storeHidingTheRelease();
    const store = await openStoreInternal(directory, {}, { trustReservedEntryCounts: false });
    try {
      expect(store.leases.stats().expiries).toBe(0);
      expect(await store.leases.get('job')).toBeUndefined();
      expect(await store.get('session/a')).toBe('rewritten');
    } finally {
      await store.close();
    }
    // The open left the manifest as it was (the run set strips copies of its descriptors): the wrong count is still there for repair.
    const report = await verifyStore(directory);
    expect(report.runs.reservedCountMismatches.map((mismatch) => [mismatch.runId, mismatch.recorded])).toEqual([[tombstoneRunId, 0]]);
  });

  it('repair rewrites the runs without expiring the lease again: the key rewritten without a lease survives', async () => {
    const { directory, tombstoneRunId } = await storeHidingTheRelease();
    const repair = await repairReservedEntryCounts(directory);
    expect(repair.mismatches.map((mismatch) => [mismatch.runId, mismatch.recorded])).toEqual([[tombstoneRunId, 0]]);
    expect(repair.rewritten).toBe(true);
    expect(repair.runsIn).toBe(2);
    expect(repair.expiries).toBe(0);
    expect(repair.remaining).toEqual([]);

    expect((await verifyStore(directory)).ok).toBe(true);
    const store = await openStore(directory);
    try {
      expect(store.leases.stats().expiries).toBe(0);
      expect(await store.get('session/a')).toBe('rewritten');
      expect(await store.get('plain')).toBe(1);
      expect(await store.leases.get('job')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
