/**
 * Repair of wrong reserved entry counts (RunDescriptor.reservedEntryCount), the
 * finding `ladybug verify` reports as reservedCountMismatches.
 *
 * Why a wrong count matters: a descriptor saying 0 makes the lease restart rule at
 * open skip the run (runMayHoldRange, src/engine/merged-scan.ts), so the lease
 * records it holds are never expired and their bound keys never deleted; point reads
 * of a record skip it too (runMayHoldKey). A count too high only costs a run open.
 *
 * The repair rewrites the runs: a compaction of every run (store.compact(), the
 * store's own retention, so it drops nothing the store still promises to read)
 * writes new runs whose counts the run writer takes from the entries it writes, and
 * installs them in place of the old ones by one manifest edit (atomic: the manifest
 * has no edit that changes a live run's descriptor, and a run's id is bound into its
 * file's checks, so a descriptor cannot be corrected without a new run). The store is
 * then reopened once, so the restart rule runs again with true counts and expires the
 * records the wrong counts hid.
 *
 * Known limit: the open that compacts still applies the restart rule with the wrong
 * counts. For the case verify exists for (a run saying 0 while it holds records) that
 * only delays their expiry to the reopen. A run saying 0 while it holds the tombstone
 * of a record that an older, counted run still holds would let that open see the
 * record and expire it again, deleting its bound keys (rewritten since the release,
 * or not); avoiding that needs the open to treat the counts as unknown, which the
 * engine does not offer.
 *
 * Invariants: nothing is written when every count is right; the counts are checked
 * again after the rewrite and what is still wrong is reported, never hidden.
 */
import { openStore } from './open-store.js';
import type { StoreOptions } from './options.js';
import { checkReservedEntryCounts, type ReservedCountMismatch } from './verify-store.js';
import type { FileSystem } from '../fs/file-system.js';

export interface ReservedCountRepair {
  /** Counted runs recounted before the repair (runs without the field have nothing to check). */
  checked: number;
  /** Runs whose count was wrong before the repair. */
  mismatches: ReservedCountMismatch[];
  /** Whether every run was rewritten by a compaction (only when some count was wrong). */
  rewritten: boolean;
  runsIn: number;
  runsOut: number;
  /** Lease records of earlier opens the reopen after the rewrite expired (those the wrong counts had hidden, at least). */
  expiriesAfterRewrite: number;
  /** Runs whose count is still wrong after the repair (empty unless the rewrite failed to cover them). */
  remaining: ReservedCountMismatch[];
}

/** Checks every counted run of the closed store in `directory` and rewrites the runs when a count is wrong (see the module header). */
export async function repairReservedEntryCounts(directory: string, options: { fileSystem?: FileSystem } = {}): Promise<ReservedCountRepair> {
  const before = await checkReservedEntryCounts(directory, options);
  const result: ReservedCountRepair = {
    checked: before.checked, mismatches: before.mismatches, rewritten: false, runsIn: 0, runsOut: 0, expiriesAfterRewrite: 0, remaining: [],
  };
  if (before.mismatches.length === 0) return result;
  const storeOptions: StoreOptions = options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem };
  const store = await openStore(directory, storeOptions);
  try {
    const compaction = await store.compact();
    result.rewritten = compaction.outcome === 'compacted';
    result.runsIn = compaction.runsIn;
    result.runsOut = compaction.runsOut;
  } finally {
    await store.close();
  }
  const reopened = await openStore(directory, storeOptions);
  try {
    result.expiriesAfterRewrite = reopened.leases.stats().expiries;
  } finally {
    await reopened.close();
  }
  result.remaining = (await checkReservedEntryCounts(directory, options)).mismatches;
  return result;
}
