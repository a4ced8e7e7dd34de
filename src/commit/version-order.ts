/**
 * The ordering step of the commit path (src/commit/commit-pipeline.ts): under the
 * commit lock, a commit's conflict check, its version and its entry in the conflict
 * log, in one synchronous step (seed race 2: no check under one lock and commit
 * under another).
 *
 * Invariants (order() REQUIRES the commit lock, which the pipeline asserts; refused()
 * is called by the flusher after a disk-full refusal, under wal.writer only: it just
 * queues the version, which the next order() forgets under the commit lock):
 * - Versions are handed out one at a time, ascending, each above the last one handed
 *   out and at most VERSION_MAX; a refused validation takes no version, nor does a
 *   commit once VERSION_MAX is handed out (VersionSpaceExhaustedError, not a failure).
 * - The conflict log holds every ordered commit above the prune horizon, except those
 *   refused before reaching disk (disk full): a version that never happened is
 *   forgotten before the next check, so no transaction conflicts with it.
 */
import { VersionSpaceExhaustedError } from '../errors.js';
import { VERSION_MAX } from '../limits.js';
import { ConflictLog } from '../transaction/conflict-log.js';
import { assert } from '../util/assert.js';
import type { PendingCommit } from './pending-commit.js';

export class VersionOrder {
  /** GUARDED_BY commit lock. */
  readonly #conflictLog = new ConflictLog();
  /** GUARDED_BY commit lock: the last version handed out. */
  #assignedVersion: number;
  /** Versions refused before reaching disk, to forget in the conflict log (at the next order(), under the commit lock). */
  #refusedVersions: number[] = [];

  constructor(lastVersion: number) {
    this.#assignedVersion = lastVersion;
  }

  /** Entries in the conflict log (stats). */
  get conflictLogEntries(): number {
    return this.#conflictLog.size;
  }

  /** The conflict log's estimated bytes (stats). */
  get conflictLogBytes(): number {
    return this.#conflictLog.bytes;
  }

  /**
   * REQUIRES: commit lock held. Prunes the conflict log at or below `pruneHorizon` (and
   * at or below `visibleVersion` while over its bytes bound),
   * forgets refused versions, runs the commit's validation (a transaction's conflict
   * check, against every commit above its read version, durable or still queued),
   * then assigns the version and logs the written keys. Returns the refusal, or
   * undefined once `pending.version` is set.
   */
  order(pending: PendingCommit, pruneHorizon: number, visibleVersion: number): Error | undefined {
    // Over its bytes bound the log also drops visible entries above the horizon (conflict-log.ts).
    this.#conflictLog.prune(pruneHorizon, visibleVersion);
    if (this.#refusedVersions.length > 0) {
      // A commit refused before reaching disk (disk full) never happened: it must not
      // make transactions conflict with a version that does not exist.
      for (const version of this.#refusedVersions) this.#conflictLog.forget(version);
      this.#refusedVersions = [];
    }
    const refusal = pending.validate?.(this.#conflictLog);
    if (refusal !== undefined) return refusal;
    // The last version is handed out: refused before the commit takes one or reaches the
    // WAL, so the store stays usable for reads and every later commit is refused the same way.
    if (this.#assignedVersion >= VERSION_MAX) return new VersionSpaceExhaustedError(this.#assignedVersion);
    pending.version = ++this.#assignedVersion;
    assert(pending.version <= VERSION_MAX, 'versions stay within VERSION_MAX');
    this.#conflictLog.append(pending.version, pending.indexOperations);
    return undefined;
  }

  /**
   * A commit with this version was refused before reaching disk: forgotten at the next
   * order(). Needs no lock (a synchronous push; the flusher calls it under wal.writer).
   */
  refused(version: number): void {
    this.#refusedVersions.push(version);
  }
}
