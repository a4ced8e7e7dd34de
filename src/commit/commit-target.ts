/**
 * What the commit pipeline hands acknowledged commits to: the target that applies
 * them (the storage engine's memtables) and the one listener told of each visible
 * commit (the change feed). Both are called in ascending version order, only after
 * the fdatasync covering the commit's record resolved (src/commit/commit-pipeline.ts).
 */
import type { IndexOperation } from '../memory/memory-index.js';

/** Where acknowledged commits are applied, in version order (the storage engine's memtables). */
export interface CommitTarget {
  apply(version: number, operations: readonly IndexOperation[], pinnedVersion: number): void;
  /**
   * Called after the last commit of each WAL record is applied (a memtable is sealed
   * only there, never between two commits of one record). A seal calls `cutWal`,
   * which cuts the log (WalWriter#cutAtNextRecord) and returns the segment the next
   * record goes in. Runs under the wal.writer lock.
   */
  recordApplied?(cutWal: () => number): void;
  /**
   * Given once, at construction, the function that reads the bytes of commits queued
   * or in flight (admitted, not yet applied or refused): the write stall counts them,
   * so a large batch waiting for its fdatasync holds later writers back.
   */
  watchUnapplied?(unappliedBytes: () => number): void;
  /** Called whenever commits left the unapplied count (applied at a record's end, or refused). */
  unappliedFell?(): void;
  /** Called after each commit is counted as unapplied (enqueued, synchronously in submit). */
  unappliedRose?(): void;
}

/** Called with each acknowledged commit, in ascending version order. */
export type CommitVisibleListener = (version: number, operations: readonly IndexOperation[]) => void;
