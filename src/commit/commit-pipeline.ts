/**
 * The commit path: version assignment under the commit lock, then group commit.
 *
 *   submit -> [commit lock] assign version, enqueue  (synchronous: nothing interleaves)
 *          -> flusher [wal.writer lock]: one record for everything queued,
 *             one write + one fdatasync
 *          -> apply to memory in version order -> advance the visible version
 *          -> acknowledge (resolve each commit's promise)
 *
 * Invariants:
 * - Nothing is applied to memory or acknowledged before the fdatasync covering its
 *   record resolved (asserted in commit-acknowledger.ts).
 * - Versions are assigned in queue order under the commit lock, so the queue is in
 *   ascending version order and groups are applied in that order; the visible
 *   version only ever moves forward over fully applied commits.
 * - One group is in flight at a time. A commit rejected before reaching disk (disk
 *   full) leaves a gap in the version sequence, never a reordering.
 * - A failed write or fdatasync is never retried: the pipeline enters the failed
 *   state; written commits get CommitOutcomeUnknownError, the others StoreFailedError
 *   (commit-refusals.ts).
 * - A commit computed inside the commit lock from the latest ordered state
 *   (submitOrdered: store.transactionSync) may have read unapplied commits: it is
 *   acknowledged only after all of them (group order), and refused whenever any of
 *   them is (a failed store refuses everything queued; a disk-full group refusal also
 *   refuses every queued ordered commit). Readers never see it before its fdatasync.
 * - Every commit is settled exactly once, on every path: an exception anywhere in
 *   the flusher (writeGroup, the acknowledgement check, apply) fails the store and
 *   settles the in-flight group and the queue as above; nothing stays pending.
 *
 * The next group is cut in a microtask or after an event-loop turn, and a record's
 * fdatasync may block the loop, by the hints of group-pacing.ts (group-commit.ts).
 *
 * Parts in their own modules: the ordering step under the commit lock (conflict
 * check, version, conflict log) is version-order.ts; the queue and its flush under
 * the wal.writer lock (group commit, settling a failed group) is group-commit.ts;
 * the apply step (apply in version
 * order, visible version, acknowledgement) is commit-acknowledger.ts; the refusals
 * (disk full, failed store) are commit-refusals.ts; the other wal.writer sections
 * (seal and checkpoint cuts, spare segments) are wal-sections.ts; the waiters without
 * a commit of their own (whenSettled, close's wait for idle) are pipeline-waiters.ts.
 */
import { StoreClosedError, type StoreFailedError } from '../errors.js';
import { OrderedMutex } from '../lock/ordered-mutex.js';
import type { IndexOperation } from '../memory/memory-index.js';
import { CommitMetrics } from '../metrics/recorders.js';
import type { EncodableOperation } from '../wal/wal-format.js';
import type { WalWriter } from '../wal/wal-writer.js';
import type { ReleasedSpace } from '../wal/next-segment.js';
import { CommitAcknowledger } from './commit-acknowledger.js';
import { CommitRefusals } from './commit-refusals.js';
import type { CommitTarget, CommitVisibleListener } from './commit-target.js';
import { GroupCommit } from './group-commit.js';
import { type CommitResult, newPendingCommit, type PendingCommit, type UnappliedWrite, type Validation } from './pending-commit.js';
import { UnappliedCommits } from './unapplied-commits.js';
import { PipelineWaiters } from './pipeline-waiters.js';
import { VersionOrder } from './version-order.js';
import { WalSections } from './wal-sections.js';

export type { CommitTarget, CommitVisibleListener } from './commit-target.js';
export type { CommitResult, UnappliedWrite, Validation } from './pending-commit.js';

export interface CommitPipelineStats {
  commits: number;
  groupCommits: number;
  groupSizeMax: number;
  /** Commits refused once queued, none of them written (disk full, the store failing). */
  rejectedCommits: number;
  /** Commits rejected with CommitOutcomeUnknownError (written when the store failed: they may be durable). */
  outcomeUnknownCommits: number;
  queued: number;
  /** Bytes of commits queued or in flight (the write stall counts them). */
  unappliedBytes: number;
  conflictLogEntries: number;
  /** The conflict log's estimated bytes (src/transaction/conflict-log.ts). */
  conflictLogBytes: number;
}

export class CommitPipeline {
  readonly #oldestTransactionVersion: () => number;
  readonly #commitLock = new OrderedMutex('commit');
  readonly #walLock = new OrderedMutex('wal.writer');
  /** GUARDED_BY commit lock: conflict check, version assignment, conflict log. */
  readonly #versionOrder: VersionOrder;
  /** The queue and its flush under the wal.writer lock; the store's failure (group-commit.ts). */
  readonly #groups: GroupCommit;
  #closed = false;
  /** Transactions waiting for a version to settle, and close() waiting for idle. */
  readonly #waiters = new PipelineWaiters();
  /** Bytes (framed sizes) of the commits queued or in flight: enqueued, not yet applied or refused. */
  readonly #unapplied: UnappliedCommits;
  /** Commit latency, group size and lock waits (store.metrics()). */
  readonly metrics = new CommitMetrics();
  /** Applies and acknowledges durable records; owns the visible version. */
  readonly #acknowledger: CommitAcknowledger;
  /** Rejects the commits refused after they were enqueued. */
  readonly #refusals: CommitRefusals;
  /** The wal.writer sections other than group commit (seal and checkpoint cuts, spare segments). */
  readonly #walSections: WalSections;

  /**
   * `pinnedVersion`: the oldest version any reader still reads (retention spares it).
   * `oldestTransactionVersion`: the oldest read version of a running transaction
   * (the conflict log keeps nothing at or below it).
   */
  constructor(
    writer: WalWriter,
    index: CommitTarget,
    lastVersion: number,
    pinnedVersion: () => number,
    oldestTransactionVersion: () => number,
  ) {
    this.#versionOrder = new VersionOrder(lastVersion);
    this.#oldestTransactionVersion = oldestTransactionVersion;
    this.#unapplied = new UnappliedCommits(index);
    this.#walSections = new WalSections(this.#walLock, writer, () => this.#groups.failure !== undefined, (cause) => this.#groups.failBesideGroup(cause));
    const cutWal = this.#walSections.cutAtNextRecord;
    const parts = { writer, index, unapplied: this.#unapplied, waiters: this.#waiters, metrics: this.metrics, pinnedVersion, cutWal };
    this.#acknowledger = new CommitAcknowledger(parts, lastVersion);
    this.#refusals = new CommitRefusals(this.#unapplied, this.#versionOrder);
    this.#groups = new GroupCommit({
      writer, walLock: this.#walLock, acknowledger: this.#acknowledger, refusals: this.#refusals,
      unapplied: this.#unapplied, waiters: this.#waiters, metrics: this.metrics,
    });
  }

  /** The newest version whose effects are durable and visible to reads. */
  get visibleVersion(): number {
    return this.#acknowledger.visibleVersion;
  }

  /**
   * Resolves once `version` is visible, or once it can no longer become visible (the
   * commits up to it were settled, refused or the store failed). A transaction that
   * lost to `version` waits for this before retrying: earlier, it would read below
   * the winner and lose again.
   */
  whenSettled(version: number): Promise<void> {
    if (version <= this.#acknowledger.visibleVersion || this.#groups.failure !== undefined || this.#closed) return Promise.resolve();
    return this.#waiters.settled(version);
  }

  /**
   * Sets the one listener told of every commit after it is durable and visible, in
   * version order (src/watch/ fans it out). It runs inside acknowledgement: it must
   * not throw and must not block (it only queues).
   */
  setVisibleListener(listener: CommitVisibleListener): void {
    this.#acknowledger.setVisibleListener(listener);
  }

  get failure(): StoreFailedError | undefined {
    return this.#groups.failure;
  }

  /**
   * Each group commit asks `check` before its WAL write: the directory lock's lease
   * (src/store/lock-holder-check.ts confirmLease, wired by open-store.ts; GroupCommit#setLeaseCheck).
   */
  confirmLeaseBeforeWrites(check: () => Promise<void> | undefined): void {
    this.#groups.setLeaseCheck(check);
  }

  /**
   * Registers `listener`, called once with the failure when the store fails (at once
   * if it has), after every commit the failure refused was settled: for those waiting
   * on the store rather than on a commit of their own (lease waiters, watch feeds),
   * each registered once per store. It must not throw, block or take a lock.
   */
  onFailure(listener: (failure: StoreFailedError) => void): void {
    this.#groups.onFailure(listener);
  }

  /**
   * Submits one commit (already validated and encoded). Resolves once it is durable
   * and visible; rejects with DiskFullError, CommitOutcomeUnknownError (written, maybe
   * durable), StoreFailedError (never written) or StoreClosedError.
   */
  submit(
    operations: readonly EncodableOperation[],
    operationsSizeBytes: number,
    indexOperations: readonly IndexOperation[],
    validate?: Validation,
  ): Promise<CommitResult> {
    const pending = newPendingCommit(operations, operationsSizeBytes, indexOperations, validate, false);
    if (this.#commitLock.tryRunExclusiveSync(this.#enqueueHeld, pending)) this.metrics.uncontendedCommitLock++;
    else {
      // The commit lock is held across an await (close, later checkpoint): wait our turn,
      // then #enqueue re-checks closed/failed, since either may have changed meanwhile.
      this.#commitLock.runExclusive(() => {
        this.metrics.commitLockWait.recordSince(pending.submittedMs);
        this.#enqueue(pending);
      }).catch(pending.reject);
    }
    return pending.acknowledged;
  }

  /**
   * Runs `section(argument)` now, holding the commit lock, if the lock is free, and
   * returns true; else returns false without calling it (then use runOrderedAsync).
   * The section may call unappliedWrite and submitOrdered (store.transactionSync).
   */
  runOrderedSync<A>(section: (argument: A) => void, argument: A): boolean {
    return this.#commitLock.tryRunExclusiveSync(section, argument);
  }

  /** Runs `section` holding the commit lock, in FIFO order, across its awaits. */
  runOrderedAsync(section: () => Promise<void> | void): Promise<void> {
    return this.#commitLock.runExclusive(section);
  }

  /**
   * REQUIRES: commit lock held. The newest write of `key` among the commits ordered
   * but not yet visible (queued or in flight), or undefined when none writes it.
   * Together with a read as of the visible version it gives the latest ordered state.
   */
  unappliedWrite(key: string): UnappliedWrite | undefined {
    this.#commitLock.assertHeld();
    return this.#groups.newestUnappliedWrite(key);
  }

  /**
   * REQUIRES: commit lock held. Queues a commit computed in this same section from the
   * latest ordered state: no validation (nothing can be ordered between its reads and
   * its version). Resolves once durable and visible, as submit's promise does.
   */
  submitOrdered(operations: readonly EncodableOperation[], operationsSizeBytes: number, indexOperations: readonly IndexOperation[]): Promise<CommitResult> {
    this.#commitLock.assertHeld();
    const pending = newPendingCommit(operations, operationsSizeBytes, indexOperations, undefined, true);
    this.#enqueue(pending);
    return pending.acknowledged;
  }

  /** #enqueue as a function value made once (the fast path passes it per commit, no closure). */
  readonly #enqueueHeld = (pending: PendingCommit): void => this.#enqueue(pending);

  /**
   * REQUIRES: commit lock held. Validates (a transaction's conflict check, against
   * every commit above its read version, durable or still queued), assigns the
   * version, logs the written keys and queues the commit, in one synchronous section.
   */
  #enqueue(pending: PendingCommit): void {
    this.#commitLock.assertHeld();
    const failure = this.#groups.failure;
    if (failure !== undefined) return pending.reject(failure);
    if (this.#closed) return pending.reject(new StoreClosedError('write'));
    const visibleVersion = this.#acknowledger.visibleVersion;
    const refusal = this.#versionOrder.order(pending, Math.min(this.#oldestTransactionVersion(), visibleVersion), visibleVersion);
    if (refusal !== undefined) return pending.reject(refusal);
    this.#groups.enqueue(pending);
  }

  /**
   * Stops accepting commits and waits until every queued commit is durable and
   * acknowledged (or rejected). Takes the commit lock so no commit slips in between.
   */
  async close(): Promise<void> {
    await this.#commitLock.runExclusive(async () => {
      this.#closed = true;
      while (this.#groups.busy) {
        await this.#waiters.idle();
      }
    });
  }

  /** A checkpoint's cut of the WAL, then `atCut` (the memtable seal), in one wal.writer section (WalSections#cutForCheckpoint). */
  cutWalForCheckpoint(atCut: () => void): Promise<void> {
    return this.#walSections.cutForCheckpoint(atCut);
  }

  /** compact()'s release of the WAL's spare segments under the wal.writer lock (WalSections#releaseSpareSegments). */
  releaseSpareWalSegments(): Promise<ReleasedSpace> {
    return this.#walSections.releaseSpareSegments();
  }

  stats(): CommitPipelineStats {
    return {
      commits: this.#acknowledger.commits,
      groupCommits: this.#acknowledger.groupCommits,
      groupSizeMax: this.#acknowledger.groupSizeMax,
      rejectedCommits: this.#refusals.count,
      outcomeUnknownCommits: this.#refusals.unknownCount,
      queued: this.#groups.queued,
      unappliedBytes: this.#unapplied.bytes,
      conflictLogEntries: this.#versionOrder.conflictLogEntries,
      conflictLogBytes: this.#versionOrder.conflictLogBytes,
    };
  }
}
