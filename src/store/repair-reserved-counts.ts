/**
 * Repair of wrong reserved entry counts (RunDescriptor.reservedEntryCount), the
 * finding `ladybug verify` reports as reservedCountMismatches.
 *
 * Why a wrong count matters: a descriptor saying 0 makes the lease restart rule at
 * open skip the run (runMayHoldRange, src/engine/merged-scan.ts), so the lease
 * records it holds are never expired and their bound keys never deleted; point reads
 * of a record skip it too (runMayHoldKey). A count too high only costs a run open.
 *
 * The repair opens the store without trusting the counts (openStoreInternal with
 * trustReservedEntryCounts false: every run the manifest lists is read for reserved
 * keys, as a run from before manifest format 3 is), so the lease restart rule at that
 * open sees every record and every tombstone: it expires the records a wrong 0 hid,
 * and never a record whose release (the tombstone) sits in a run miscounted as 0,
 * which an open trusting the counts would expire again, deleting its bound keys,
 * keys rewritten since without a lease included. It then rewrites the runs: a
 * compaction of every run (store.compact(), the store's own retention, so it drops
 * nothing the store still promises to read) writes new runs whose counts the run
 * writer takes from the entries it writes, and installs them in place of the old
 * ones by one manifest edit (atomic: the manifest has no edit that changes a live
 * run's descriptor, and a run's id is bound into its file's checks, so a descriptor
 * cannot be corrected without a new run). No reopen is needed: the restart rule
 * already ran over every run, and the rewrite changes no record's current state.
 *
 * Any other open of a store whose counts may be wrong must not trust them either:
 * `ladybug repair` opens for its WAL repair through openWithoutTrustingCounts
 * (src/cli/main.ts); that open then expires what a wrong 0 hid, before this one.
 *
 * Invariants: nothing is written when every count is right; the counts are checked
 * again after the rewrite and what is still wrong is reported, never hidden.
 */
import { openStoreInternal } from './open-store.js';
import type { StoreOptions } from './options.js';
import type { Store } from './store.js';
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
  /** Lease records of earlier opens that the repair's open (counts not trusted) expired: those a wrong 0 had hidden among them. */
  expiries: number;
  /** Runs whose count is still wrong after the repair (empty unless the rewrite failed to cover them). */
  remaining: ReservedCountMismatch[];
}

/** Opens the store in `directory` reading every run for reserved keys, whatever its reservedEntryCount says (see the module header). */
export function openWithoutTrustingCounts(directory: string, options: StoreOptions): Promise<Store> {
  return openStoreInternal(directory, options, { trustReservedEntryCounts: false });
}

/** Checks every counted run of the closed store in `directory` and rewrites the runs when a count is wrong (see the module header). */
export async function repairReservedEntryCounts(directory: string, options: { fileSystem?: FileSystem } = {}): Promise<ReservedCountRepair> {
  const before = await checkReservedEntryCounts(directory, options);
  const result: ReservedCountRepair = {
    checked: before.checked, mismatches: before.mismatches, rewritten: false, runsIn: 0, runsOut: 0, expiries: 0, remaining: [],
  };
  if (before.mismatches.length === 0) return result;
  const storeOptions: StoreOptions = options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem };
  const store = await openWithoutTrustingCounts(directory, storeOptions);
  try {
    result.expiries = store.leases.stats().expiries;
    const compaction = await store.compact();
    result.rewritten = compaction.outcome === 'compacted';
    result.runsIn = compaction.runsIn;
    result.runsOut = compaction.runsOut;
  } finally {
    await store.close();
  }
  result.remaining = (await checkReservedEntryCounts(directory, options)).mismatches;
  return result;
}
