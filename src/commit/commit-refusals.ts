/**
 * How the commit pipeline (src/commit/commit-pipeline.ts) refuses the commits it
 * will never apply, once they were enqueued (queued or in flight): each leaves the
 * unapplied count, is rejected once, and is counted once: in `count` when none of it was
 * written (stats().rejectedCommits), in `unknownCount` when its record was handed to
 * write() (stats().sinceOpen.outcomeUnknownCommits: it may be durable).
 *
 * Invariants:
 * - A failed write or fdatasync is never retried: the pipeline enters the failed
 *   state. Commits of the in-flight group whose record was handed to write() (even
 *   if that write threw: part of it may be in the page cache, and recovery would
 *   make it durable) are rejected with CommitOutcomeUnknownError; the rest of the
 *   group, every queued and every later commit, never written, with StoreFailedError.
 * - Disk full refuses the rest of the group (nothing of it is durable) and every
 *   queued ordered commit (it may have read what they wrote); their versions become
 *   gaps in the sequence (VersionOrder#refused), never a reordering.
 * - The write stall hears that the unapplied bytes fell after every batch of
 *   refusals that held a commit (nothing else may ever wake a writer stalled on them).
 */
import { CommitOutcomeUnknownError, type DiskFullError, StoreFailedError } from '../errors.js';
import { isOutOfFileDescriptors, OUT_OF_DESCRIPTORS_ADVICE } from '../fs/out-of-descriptors.js';
import type { PendingCommit } from './pending-commit.js';
import type { UnappliedCommits } from './unapplied-commits.js';
import type { VersionOrder } from './version-order.js';

/** The error a failed pipeline refuses everything with, describing `cause`. */
export function storeFailure(cause: unknown): StoreFailedError {
  if (cause instanceof StoreFailedError) return cause; // the store's failure itself (the lock's lease: lock-holder-check.ts)
  let reason: string;
  try {
    reason = cause instanceof Error ? cause.message : String(cause);
  } catch {
    reason = 'an exception that cannot be described';
  }
  // The next segment's open (rotation) found no descriptor: the store still fails (a WAL
  // step is never retried), but the message says what to do before reopening.
  if (isOutOfFileDescriptors(cause)) reason = `${reason}: ${OUT_OF_DESCRIPTORS_ADVICE}`;
  return new StoreFailedError(`WAL write, fdatasync or apply failed (${reason})`, { cause });
}

export class CommitRefusals {
  readonly #unapplied: UnappliedCommits;
  readonly #versionOrder: VersionOrder;
  #count = 0;
  #unknownCount = 0;

  constructor(unapplied: UnappliedCommits, versionOrder: VersionOrder) {
    this.#unapplied = unapplied;
    this.#versionOrder = versionOrder;
  }

  /** Commits refused so far, none of their bytes written. */
  get count(): number {
    return this.#count;
  }

  /** Commits rejected with CommitOutcomeUnknownError so far (their record was handed to write()). */
  get unknownCount(): number {
    return this.#unknownCount;
  }

  /** Rejects commits that were enqueued (queued or in flight): they leave the unapplied count. */
  rejectAll(commits: readonly PendingCommit[], error: unknown): void {
    this.#count += commits.length;
    for (const commit of commits) {
      this.#unapplied.left(commit.sizeBytes);
      commit.reject(error);
    }
    if (commits.length > 0) this.#unapplied.fell();
  }

  /**
   * Disk full: refuses `unsettled` (the rest of the group: its record is incomplete
   * and the next one overwrites it) and `dependent` (the queued ordered commits, already
   * taken out of the queue); the pipeline goes on.
   */
  refuseOnDiskFull(unsettled: readonly PendingCommit[], dependent: readonly PendingCommit[], error: DiskFullError): void {
    for (const commit of unsettled) this.#versionOrder.refused(commit.version);
    for (const commit of dependent) this.#versionOrder.refused(commit.version);
    this.rejectAll(unsettled, error);
    this.rejectAll(dependent, error);
  }

  /**
   * The store failed with `failure`: of `unsettled` (the rest of the in-flight group),
   * the first `unknownCount` were handed to write() and get CommitOutcomeUnknownError,
   * the others `failure`.
   */
  refuseFailedGroup(unsettled: readonly PendingCommit[], unknownCount: number, failure: StoreFailedError): void {
    const unknown = unsettled.slice(0, unknownCount);
    this.#unknownCount += unknown.length;
    for (const commit of unknown) {
      this.#unapplied.left(commit.sizeBytes);
      commit.reject(new CommitOutcomeUnknownError(commit.version, { cause: failure }));
    }
    // Writers stalled on these bytes must hear that they left (nothing else may ever wake them).
    if (unknown.length > 0) this.#unapplied.fell();
    this.rejectAll(unsettled.slice(unknownCount), failure);
  }
}
