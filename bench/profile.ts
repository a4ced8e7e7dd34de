/**
 * Run profiles: how long each measurement lasts and how much data it loads.
 *
 * full: 3 interleaved rounds (the median round is reported), sized to finish
 *       in about 5 minutes on a 2-core VM.
 * quick: 1 round with tiny durations, a CI smoke test well under 60 s. It loads
 *        the same 100,000 keys for reads as the full run: the size of the read
 *        set changes hot-get rates severalfold (CPU caches), so a smaller set
 *        would measure something else.
 */

import type { KeyOrder } from './data.js';

export type ProfileName = 'quick' | 'full';

export interface Profile {
  readonly name: ProfileName;
  /** Interleaved repetitions of every (workload, engine) pair. */
  readonly rounds: number;
  /** Unrecorded run-in before each closed-loop measurement. */
  readonly warmupMs: number;
  /** Recorded duration of each closed-loop measurement. */
  readonly measureMs: number;
  /** tinybench warm-up and time budgets for hot gets. */
  readonly getWarmupMs: number;
  readonly getMeasureMs: number;
  /** Keys loaded before the read workloads. */
  readonly preloadKeyCount: number;
  /** Size of the raw limit's preallocated file. */
  readonly rawPreallocatedBytes: number;
  /** In-flight puts in the concurrent workload (and group size of the raw limit). */
  readonly concurrency: number;
  /** Entries read by one range scan. */
  readonly scanLimit: number;
  /** Order in which keys are inserted (see data.ts). */
  readonly keyOrder: KeyOrder;
  /** Accounts the transfer transactions draw their two keys from: low and high contention. */
  readonly lowContentionAccounts: number;
  readonly highContentionAccounts: number;
  /** Records written before the timed reopen (with each engine's bulkLoadBatchSize). */
  readonly reopenRecordCount: number;
  /** Keys of the large-load workloads (both key orders; workloads/large-data.ts). */
  readonly largeLoadKeyCount: number;
  /** Keys of the large-reopen workload (reopen and gets at 1M in both profiles). */
  readonly largeReopenKeyCount: number;
  /** Gets of each kind (uniform, skewed) in the large-data workloads. */
  readonly largeReadCount: number;
  /** ladybug's memoryBudgetBytes in the large-data workloads. */
  readonly largeMemoryBudgetBytes: number;
  /** Keys of the update-heavy and delete-heavy workloads (workloads/compaction-space.ts). */
  readonly compactionKeyCount: number;
  /** Overwrites of every key after its first write in the update-heavy workload. */
  readonly compactionOverwriteCount: number;
  /** Gets timed idle (and at most as many during compaction) in those workloads. */
  readonly compactionGetCount: number;
}

const MEBIBYTE = 1 << 20;

const FULL: Profile = {
  name: 'full',
  rounds: 3,
  warmupMs: 300,
  measureMs: 1_500,
  getWarmupMs: 200,
  getMeasureMs: 1_000,
  preloadKeyCount: 100_000,
  rawPreallocatedBytes: 32 * MEBIBYTE,
  concurrency: 64,
  scanLimit: 100,
  keyOrder: 'random',
  lowContentionAccounts: 100_000,
  highContentionAccounts: 10,
  reopenRecordCount: 1_000_000,
  largeLoadKeyCount: 10_000_000,
  largeReopenKeyCount: 1_000_000,
  largeReadCount: 200_000,
  largeMemoryBudgetBytes: 64 * MEBIBYTE,
  compactionKeyCount: 1_000_000,
  compactionOverwriteCount: 10,
  compactionGetCount: 100_000,
};

const QUICK: Profile = {
  ...FULL,
  name: 'quick',
  rounds: 1,
  warmupMs: 50,
  measureMs: 250,
  getWarmupMs: 30,
  getMeasureMs: 150,
  rawPreallocatedBytes: 8 * MEBIBYTE,
  reopenRecordCount: 50_000,
  largeLoadKeyCount: 200_000,
  compactionKeyCount: 50_000,
  compactionOverwriteCount: 4,
  compactionGetCount: 10_000,
};

export function profileFor(name: ProfileName, overrides: Partial<Profile> = {}): Profile {
  return { ...(name === 'quick' ? QUICK : FULL), ...overrides };
}
