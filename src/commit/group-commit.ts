/**
 * Group commit: the queue of ordered commits and its flush under the wal.writer lock,
 * each flush writing everything queued as one record (several when a segment ends),
 * one write + one fdatasync each, then handing the durable commits to the
 * acknowledger (commit-acknowledger.ts). The commit pipeline (commit-pipeline.ts)
 * orders commits under the commit lock and enqueues them here.
 *
 * Invariants:
 * - The queue is in ascending version order (commits are enqueued under the commit
 *   lock in the order their versions were assigned), and one group is in flight at a
 *   time: the wal.writer lock is held from taking the queue to the group's end.
 * - Nothing is acknowledged before the fdatasync covering its record resolved (the
 *   writer resolves writeGroup only then; the acknowledger asserts syncedLsn).
 * - Every commit is settled exactly once, on every path: an exception anywhere in the
 *   flush (writeGroup, the acknowledgement check, apply) settles the in-flight group
 *   and the queue (#settleAfterError): disk full refuses the group and the queued
 *   ordered commits and the pipeline goes on; anything else fails the store (final:
 *   #failure), and commits handed to write() get CommitOutcomeUnknownError, the
 *   others StoreFailedError (commit-refusals.ts).
 * - A failed write or fdatasync is never retried.
 * - No group is written while the directory lock's lease is expired (setLeaseCheck,
 *   src/store/lock-holder-check.ts confirmLease): the check runs once per group, after
 *   the queue is taken and before its first write; when it must wait (a heartbeat) it
 *   waits under the wal.writer lock, and a refusal fails the group as a failed write
 *   would, before anything of it was handed to write().
 *
 * The next group is cut in a microtask or after an event-loop turn, and a record's
 * fdatasync may block the loop, by the hints of group-pacing.ts.
 */
import { performance } from 'node:perf_hooks';
import { DiskFullError, type StoreFailedError } from '../errors.js';
import type { OrderedMutex } from '../lock/ordered-mutex.js';
import type { CommitMetrics } from '../metrics/recorders.js';
import { assert } from '../util/assert.js';
import type { GroupWriteResult, WalWriter } from '../wal/wal-writer.js';
import type { CommitAcknowledger } from './commit-acknowledger.js';
import { type CommitRefusals, storeFailure } from './commit-refusals.js';
import { GroupPacing, RESOLVED } from './group-pacing.js';
import { InFlightGroup, newestWrite, type PendingCommit, type UnappliedWrite } from './pending-commit.js';
import type { PipelineWaiters } from './pipeline-waiters.js';
import type { UnappliedCommits } from './unapplied-commits.js';

/** What a group commit works with (the pipeline's parts). */
export interface GroupCommitParts {
  readonly writer: WalWriter;
  /** The 'wal.writer' lock: one group in flight at a time. */
  readonly walLock: OrderedMutex;
  readonly acknowledger: CommitAcknowledger;
  readonly refusals: CommitRefusals;
  readonly unapplied: UnappliedCommits;
  readonly waiters: PipelineWaiters;
  readonly metrics: CommitMetrics;
}

export class GroupCommit {
  readonly #writer: WalWriter;
  readonly #walLock: OrderedMutex;
  readonly #acknowledger: CommitAcknowledger;
  readonly #refusals: CommitRefusals;
  /** Bytes (framed sizes) of the commits queued or in flight: enqueued, not yet applied or refused. */
  readonly #unapplied: UnappliedCommits;
  readonly #waiters: PipelineWaiters;
  readonly #metrics: CommitMetrics;
  /** When the next group is cut, and whether a record's fdatasync may block. */
  readonly #pacing = new GroupPacing();
  #queue: PendingCommit[] = [];
  #inFlight: InFlightGroup | undefined;
  #flushScheduled = false;
  #flushing = false;
  /** performance.now() when the running flush asked for the wal.writer lock (its wait metric). */
  #flushRequestedMs = 0;
  #failure: StoreFailedError | undefined;
  /** Before each group's write: undefined when it may go ahead, else a wait (a heartbeat) that may refuse it. */
  #leaseCheck: (() => Promise<void> | undefined) | undefined;
  /** Told once of the failure, after every commit it refused was settled (CommitPipeline#onFailure). */
  #failureListeners: Array<(failure: StoreFailedError) => void> = [];

  constructor(parts: GroupCommitParts) {
    this.#writer = parts.writer;
    this.#walLock = parts.walLock;
    this.#acknowledger = parts.acknowledger;
    this.#refusals = parts.refusals;
    this.#unapplied = parts.unapplied;
    this.#waiters = parts.waiters;
    this.#metrics = parts.metrics;
  }

  /** The store's failure, once a flush failed (final). */
  get failure(): StoreFailedError | undefined {
    return this.#failure;
  }

  /**
   * `listener` is called once with the failure when the store fails (at once if it has
   * failed), after the in-flight group and the queue were settled. It runs inside the
   * flush's error path: it must not throw, and must not block or take a lock (it only
   * settles promises, so it adds no lock-order edge).
   */
  onFailure(listener: (failure: StoreFailedError) => void): void {
    if (this.#failure !== undefined) listener(this.#failure);
    else this.#failureListeners.push(listener);
  }

  /**
   * From now on each group asks `check` before its WAL write (the directory lock's lease,
   * src/store/lock-holder-check.ts): undefined means write now; a promise is waited for
   * (under the wal.writer lock), and its rejection fails the group and the store.
   * `check` must take no lock (the heartbeat it may run takes none).
   */
  setLeaseCheck(check: () => Promise<void> | undefined): void {
    this.#leaseCheck = check;
  }

  /** Commits queued, not yet taken by a flush. */
  get queued(): number {
    return this.#queue.length;
  }

  /** True while a commit is queued or a flush is scheduled or running (close waits for false). */
  get busy(): boolean {
    return this.#queue.length > 0 || this.#flushing || this.#flushScheduled;
  }

  /**
   * REQUIRES: commit lock held, `pending` ordered (its version assigned, above every
   * queued one). Queues it, counts its bytes as unapplied, and schedules a flush.
   */
  enqueue(pending: PendingCommit): void {
    assert(this.#failure === undefined, 'a failed store queues nothing');
    this.#queue.push(pending);
    this.#unapplied.admitted(pending.sizeBytes);
    this.#scheduleFlush();
  }

  /**
   * REQUIRES: commit lock held. The newest write of `key` among the commits ordered
   * but not yet visible (queued or in flight), or undefined when none writes it.
   */
  newestUnappliedWrite(key: string): UnappliedWrite | undefined {
    const found = newestWrite(this.#queue, 0, key);
    if (found !== undefined) return found;
    const inFlight = this.#inFlight;
    return inFlight === undefined ? undefined : newestWrite(inFlight.commits, inFlight.settled, key);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing) return;
    this.#flushScheduled = true;
    this.#pacing.schedule(this.#startFlush, this.#acknowledger.lastGroupSize);
  }

  readonly #startFlush = (): void => {
    this.#flushScheduled = false;
    if (this.#queue.length === 0) return this.#notifyIdle();
    this.#flushing = true;
    this.#flush();
  };

  /**
   * One flush under the wal.writer lock. A promise chain whose steps are function
   * values made once per pipeline (no async frame or closure per group). Never
   * rejects: a failure settles the group through #settleAfterError.
   */
  #flush(): void {
    this.#flushRequestedMs = performance.now();
    void this.#walLock.runExclusive(this.#flushQueueHeld).then(this.#flushEnded, this.#flushFailed);
  }

  readonly #flushFailed = (error: unknown): void => {
    try {
      this.#settleAfterError(error);
    } finally {
      this.#flushEnded();
    }
  };

  readonly #flushEnded = (): void => {
    this.#flushing = false;
    if (this.#queue.length > 0) this.#scheduleFlush();
    else this.#notifyIdle();
  };

  /** #flushQueue as a function value made once (no closure per group), with the lock-wait metric. */
  readonly #flushQueueHeld = (): Promise<void> => {
    this.#metrics.walWriterLockWait.recordSince(this.#flushRequestedMs);
    return this.#flushQueue();
  };

  /**
   * REQUIRES: wal.writer lock held. Writes everything queued now, possibly as several
   * records (#writeNextRecord, #recordWritten, in turn). Any exception propagates to
   * #settleAfterError, which settles the group.
   */
  #flushQueue(): Promise<void> {
    this.#walLock.assertHeld();
    assert(this.#inFlight === undefined, 'one group in flight at a time');
    this.#inFlight = new InFlightGroup(this.#queue);
    this.#queue = [];
    const waiting = this.#leaseCheck?.();
    if (waiting !== undefined) return waiting.then(this.#writeFirstRecord);
    return this.#writeNextRecord() ?? RESOLVED;
  }

  /** #writeNextRecord as a function value made once, for a group whose lease check waited. */
  readonly #writeFirstRecord = (): Promise<void> | undefined => this.#writeNextRecord();

  /**
   * REQUIRES: wal.writer lock held. Writes the next record of the in-flight group, or
   * ends the group when all of it is settled (undefined when nothing is left to await).
   */
  #writeNextRecord(): Promise<void> | undefined {
    const inFlight = this.#inFlight;
    assert(inFlight !== undefined, 'a group is in flight while its records are written');
    if (inFlight.settled === inFlight.commits.length) {
      // A seal cut the log: move to the new segment now (not at the next write), so the
      // flush of the sealed memtable finds its last segment closed and deletes it.
      if (this.#writer.cutPending) return this.#writer.rotateAtCut().then(this.#groupEnded);
      return this.#groupEnded();
    }
    const settled = inFlight.settled;
    inFlight.recordStart = settled;
    const remaining = settled === 0 ? inFlight.commits : inFlight.commits.slice(settled);
    const mayBlock = this.#pacing.mayBlock(this.#queue.length);
    return this.#writer.writeGroup(remaining, this.#beforeWrite, mayBlock).then(this.#recordWritten);
  }

  /** The in-flight group's beforeWrite as a function value made once (no closure per group). */
  readonly #beforeWrite = (commitCount: number): void => {
    const inFlight = this.#inFlight;
    assert(inFlight !== undefined, 'a record is handed to write() while its group is in flight');
    inFlight.beforeWrite(commitCount);
  };

  /** A record is durable: acknowledge its commits, then write the group's next record. */
  readonly #recordWritten = (written: GroupWriteResult): Promise<void> | undefined => {
    const inFlight = this.#inFlight;
    assert(inFlight !== undefined, 'a written record belongs to the group in flight');
    // Before the acknowledgement resolves anyone: only commits that arrived during the fdatasync.
    this.#pacing.recordSynced(this.#queue.length);
    // A record the writer reports written was handed to write(), announced or not.
    inFlight.handedToWrite = Math.max(inFlight.handedToWrite, inFlight.recordStart + written.commitCount);
    this.#acknowledger.acknowledge(inFlight, written.commitCount, written.endLsn);
    return this.#writeNextRecord();
  };

  readonly #groupEnded = (): undefined => {
    this.#inFlight = undefined;
    return undefined;
  };

  /**
   * Fails the store for a WAL failure outside a group (a checkpoint's rotation, which
   * the writer keeps for good: every later group would fail on it), now rather than at
   * the next commit. REQUIRES: the wal.writer lock held (no group in flight).
   */
  failBesideGroup(cause: unknown): StoreFailedError {
    assert(this.#inFlight === undefined, 'no group in flight under the wal.writer lock');
    this.#settleAfterError(cause);
    return this.#failure!;
  }

  /**
   * Settles every commit the failed flush left unsettled. Disk full refuses the rest
   * of the group (nothing of it is durable: its record is incomplete and the next one
   * overwrites it) and the pipeline goes on. Anything else fails the store: commits
   * handed to write() get CommitOutcomeUnknownError, the others StoreFailedError.
   */
  #settleAfterError(error: unknown): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    const unsettled = inFlight === undefined ? [] : inFlight.commits.slice(inFlight.settled);
    if (error instanceof DiskFullError && inFlight !== undefined) {
      // A queued ordered commit may have read what the refused ones wrote: refused too.
      const dependent = this.#queue.filter((commit) => commit.ordered);
      if (dependent.length > 0) this.#queue = this.#queue.filter((commit) => !commit.ordered);
      return this.#refusals.refuseOnDiskFull(unsettled, dependent, error);
    }
    const failure = this.#failure ?? this.#failWith(error);
    const unknownCount = inFlight === undefined ? 0 : Math.max(0, inFlight.handedToWrite - inFlight.settled);
    this.#refusals.refuseFailedGroup(unsettled, unknownCount, failure);
    this.#fail(error);
    // Last, with every commit settled: those who wait for the store rather than for a
    // commit (lease waiters, watch feeds) hear that nothing will ever be committed again.
    const listeners = this.#failureListeners;
    this.#failureListeners = [];
    for (const listener of listeners) listener(failure);
  }

  #failWith(cause: unknown): StoreFailedError {
    this.#failure = storeFailure(cause);
    return this.#failure;
  }

  /** Enters the failed state (once) and rejects every queued commit: none was written. */
  #fail(cause: unknown): void {
    const failure = this.#failure ?? this.#failWith(cause);
    const queued = this.#queue;
    this.#queue = [];
    this.#refusals.rejectAll(queued, failure);
  }

  #notifyIdle(): void {
    // Nothing is queued or in flight: every assigned version is settled one way or another.
    this.#waiters.notifyIdle(this.#acknowledger.visibleVersion);
  }
}
