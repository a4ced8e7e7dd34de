/**
 * The apply step of the commit pipeline (src/commit/commit-pipeline.ts): once the
 * fdatasync covering a WAL record resolved, the record's commits are applied to
 * memory in version order, the visible version advances over each, its submitter's
 * promise is resolved and the visible-commit listener is told. At the record's end
 * the target may seal a memtable (CommitTarget#recordApplied), the write stall hears
 * that the unapplied bytes fell, and the transactions waiting for a version wake.
 *
 * Invariants:
 * - Nothing is applied to memory or acknowledged before the fdatasync covering its
 *   record resolved: asserted against the writer's synced LSN (seed race 1,
 *   write-behind, designed out).
 * - Commits are applied in ascending version order and the visible version only
 *   moves forward over fully applied commits. Each commit is resolved right after it
 *   is applied, so if an apply throws, exactly the commits before it are acknowledged.
 * - GUARDED_BY wal.writer lock: only the pipeline's flush acknowledges.
 */
import { AssertionFailedError } from '../errors.js';
import type { CommitMetrics } from '../metrics/recorders.js';
import { assert } from '../util/assert.js';
import type { WalWriter } from '../wal/wal-writer.js';
import type { CommitTarget, CommitVisibleListener } from './commit-target.js';
import type { InFlightGroup } from './pending-commit.js';
import type { PipelineWaiters } from './pipeline-waiters.js';
import type { UnappliedCommits } from './unapplied-commits.js';

/** What the acknowledger works with, all owned by the pipeline. */
export interface AcknowledgerParts {
  writer: WalWriter;
  index: CommitTarget;
  unapplied: UnappliedCommits;
  waiters: PipelineWaiters;
  metrics: CommitMetrics;
  /** The oldest version any reader still reads (retention spares it). */
  pinnedVersion: () => number;
  /** Cuts the WAL at the next record (CommitTarget#recordApplied hands it to a seal). */
  cutWal: () => number;
}

export class CommitAcknowledger {
  readonly #writer: WalWriter;
  readonly #index: CommitTarget;
  readonly #unapplied: UnappliedCommits;
  readonly #waiters: PipelineWaiters;
  readonly #metrics: CommitMetrics;
  readonly #pinnedVersion: () => number;
  readonly #cutWal: () => number;
  #visibleVersion: number;
  /** Told of each commit once it is durable, applied and acknowledged (the change feed, src/watch/). */
  #visibleListener: CommitVisibleListener | undefined;
  #commits = 0;
  #groupCommits = 0;
  #groupSizeMax = 0;
  #lastGroupSize = 0;

  constructor(parts: AcknowledgerParts, lastVersion: number) {
    this.#writer = parts.writer;
    this.#index = parts.index;
    this.#unapplied = parts.unapplied;
    this.#waiters = parts.waiters;
    this.#metrics = parts.metrics;
    this.#pinnedVersion = parts.pinnedVersion;
    this.#cutWal = parts.cutWal;
    this.#visibleVersion = lastVersion;
  }

  /** The newest version whose effects are durable and visible to reads. */
  get visibleVersion(): number {
    return this.#visibleVersion;
  }

  /** Commits acknowledged. */
  get commits(): number {
    return this.#commits;
  }

  /** Records acknowledged (each a group, or the part of one a record held). */
  get groupCommits(): number {
    return this.#groupCommits;
  }

  /** The most commits one record acknowledged. */
  get groupSizeMax(): number {
    return this.#groupSizeMax;
  }

  /** The commits of the last group still unsettled when its last record was acknowledged (the pipeline paces the next group by it). */
  get lastGroupSize(): number {
    return this.#lastGroupSize;
  }

  /** Sets the one listener told of every commit after it is durable and visible (CommitPipeline#setVisibleListener). */
  setVisibleListener(listener: CommitVisibleListener): void {
    assert(this.#visibleListener === undefined, 'one visible-commit listener per pipeline');
    this.#visibleListener = listener;
  }

  /**
   * Applies and acknowledges the next `count` commits of the in-flight group, in
   * version order. Each is resolved right after it is applied, so if an apply throws,
   * exactly the commits before it are acknowledged (durable and visible).
   */
  acknowledge(inFlight: InFlightGroup, count: number, endLsn: number): void {
    // Messages built only on failure (once per record).
    if (!(this.#writer.syncedLsn >= endLsn)) throw new AssertionFailedError(`acknowledging LSN ${endLsn} before it is synced (${this.#writer.syncedLsn})`);
    const end = inFlight.settled + count;
    if (!(count > 0 && end <= inFlight.commits.length)) throw new AssertionFailedError(`record of ${count} commits lies within its group`);
    const groupSize = inFlight.commits.length - inFlight.settled;
    const pinned = this.#pinnedVersion();
    for (let index = inFlight.settled; index < end; index++) {
      const commit = inFlight.commits[index]!;
      this.#index.apply(commit.version, commit.indexOperations, pinned);
      this.#unapplied.left(commit.sizeBytes);
      this.#visibleVersion = commit.version;
      inFlight.settled = index + 1;
      this.#commits++;
      commit.resolve({ version: commit.version });
      this.#visibleListener?.(commit.version, commit.indexOperations);
    }
    // The end of a record: every record written so far is applied, so a seal may cut the log here.
    this.#index.recordApplied?.(this.#cutWal);
    this.#unapplied.fell();
    this.#groupCommits++;
    this.#metrics.recordGroup(inFlight.commits, end - count, end);
    this.#lastGroupSize = groupSize;
    if (count > this.#groupSizeMax) this.#groupSizeMax = count;
    this.#waiters.wakeSettled(this.#visibleVersion, false);
  }
}
