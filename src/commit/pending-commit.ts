/**
 * A commit on its way through the pipeline (src/commit/commit-pipeline.ts): from
 * submit, through the queue and the group in flight, to its acknowledgement or
 * refusal; and the search of those commits for a key's newest unapplied write (the
 * serial transaction path reads the latest ordered state through it).
 *
 * Invariants:
 * - A PendingCommit is settled exactly once: `resolve` after it is applied (durable
 *   and visible), or `reject` (refused, failed, or outcome unknown).
 * - An InFlightGroup's commits are in ascending version order; [0, settled) are
 *   acknowledged, and settled <= commits.length.
 * - handedToWrite only grows within a group: once a record's commits are handed to
 *   write(), their outcome on failure is unknown (part of the record may be on disk).
 */
import { performance } from 'node:perf_hooks';
import type { IndexOperation } from '../memory/memory-index.js';
import type { ConflictLog } from '../transaction/conflict-log.js';
import { assert } from '../util/assert.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type FramedCommit } from '../wal/wal-format.js';

export interface CommitResult {
  version: number;
}

/** A write of a commit that is ordered but not yet visible (CommitPipeline#unappliedWrite). */
export interface UnappliedWrite {
  operation: IndexOperation;
  version: number;
  /** Settles when that commit is acknowledged (durable and visible) or refused. */
  acknowledged: Promise<CommitResult>;
}

/**
 * A transaction's check, run under the commit lock just before its version is
 * assigned: returns the error to refuse the commit with, or undefined to go ahead.
 */
export type Validation = (log: ConflictLog) => Error | undefined;

export interface PendingCommit extends FramedCommit {
  version: number;
  indexOperations: readonly IndexOperation[];
  validate: Validation | undefined;
  /**
   * Computed inside the commit lock from the latest ordered state (store.transactionSync):
   * it may have read what earlier unapplied commits wrote, so a disk-full refusal of an
   * earlier commit refuses it too.
   */
  ordered: boolean;
  /** The promise the submitter got (a serial read-only transaction that read this commit waits on it). */
  acknowledged: Promise<CommitResult>;
  /** performance.now() at submit (commit latency, store.metrics()). */
  submittedMs: number;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/*
 * The settling functions of the newest acknowledged promise. A Promise executor runs
 * synchronously, so one executor made once per process hands them over through these
 * two variables: no executor closure and context per commit (issue 12).
 */
let capturedResolve: ((result: CommitResult) => void) | undefined;
let capturedReject: ((error: unknown) => void) | undefined;

function captureSettlers(resolve: (result: CommitResult) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A new pending commit (version 0 until assigned) and the promise its submitter gets. */
export function newPendingCommit(
  operations: readonly EncodableOperation[],
  operationsSizeBytes: number,
  indexOperations: readonly IndexOperation[],
  validate: Validation | undefined,
  ordered: boolean,
): PendingCommit {
  const acknowledged = new Promise<CommitResult>(captureSettlers);
  const resolve = capturedResolve;
  const reject = capturedReject;
  assert(resolve !== undefined && reject !== undefined, 'the executor ran synchronously');
  capturedResolve = undefined;
  capturedReject = undefined;
  return {
    version: 0,
    operations,
    sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes,
    indexOperations,
    validate,
    ordered,
    acknowledged,
    submittedMs: performance.now(),
    resolve,
    reject,
  };
}

/** The group being written and how far along it is. GUARDED_BY wal.writer lock. */
export class InFlightGroup {
  readonly commits: readonly PendingCommit[];
  /** Commits [0, settled) are acknowledged. */
  settled = 0;
  /** Commits [0, handedToWrite) had their record handed to write(): on failure their outcome is unknown. */
  handedToWrite = 0;
  /** The first commit of the record being written. */
  recordStart = 0;

  constructor(commits: readonly PendingCommit[]) {
    this.commits = commits;
  }

  /**
   * The record's first `commitCount` commits are handed to write() (WalWriter#writeGroup's
   * beforeWrite, through one function per pipeline: no closure per group).
   */
  beforeWrite(commitCount: number): void {
    assert(this.recordStart + commitCount <= this.commits.length, 'a record lies within its group');
    this.handedToWrite = this.recordStart + commitCount;
  }
}

/** The newest write of `key` in commits[from..], searching from the end. */
export function newestWrite(commits: readonly PendingCommit[], from: number, key: string): UnappliedWrite | undefined {
  for (let index = commits.length - 1; index >= from; index--) {
    const commit = commits[index]!;
    const operations = commit.indexOperations;
    for (let operation = operations.length - 1; operation >= 0; operation--) {
      if (operations[operation]!.key === key) {
        return { operation: operations[operation]!, version: commit.version, acknowledged: commit.acknowledged };
      }
    }
  }
  return undefined;
}
