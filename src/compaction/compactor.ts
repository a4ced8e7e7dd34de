/**
 * The compactor: decides when runs merge and which (compaction-policy.ts), and runs
 * each compaction's protocol (compaction-protocol.ts: horizon, merge through
 * merge-output.ts, abort checks, one manifest edit, RunSet#replace, the inputs'
 * readers retired through replaced-runs.ts and their files unlinked). This module owns
 * the scheduling: the compactions in flight, background merges after flushes,
 * compact() calls, the backlog stall, cancellation and close.
 *
 * compact({ retainFrom }) first raises the store-wide retention floor
 * (retention-floor.ts) in the deciding step, from the horizon it reads there, and
 * starts the manifest edit recording it in that step; the merge, once that edit is
 * durable, drops what only reads below the floor could see (version-gc.ts).
 *
 * Results, running totals and stats() are in compaction-stats.ts.
 *
 * Invariants:
 * - At most two compactions at a time (`#running`), asserted: a second only beside a
 *   background merge of a deeper tier, only a tier-0 merge of newer runs, only with the
 *   merge thread (#shallowPick; docs/ARCHITECTURE.md "Two merges at once"). Their picks
 *   are disjoint slices of adjacent runs; each runs the protocol above on its own (its
 *   own horizon, abort checks, manifest edit, replace of its own slice). They run
 *   detached from the commit path and yield to the event loop while merging.
 * - Inputs are adjacent live runs; only the compactor removes runs, and a second
 *   compaction never touches the first's inputs, so they are still live (and adjacent:
 *   flushes only append newer runs) when installed. The protocol's own invariants
 *   (failures, the manifest edit, deletion after it) are in compaction-protocol.ts.
 * - Backlog (the write stall's second cause): `backlogged` is true while background
 *   compaction is on and healthy, more than compactionSettings.stallRunCount runs
 *   (COMPACTION_STALL_RUNS) are live and the policy has a merge to do. Writes wait
 *   then (StorageEngine#admit); `onChange` wakes them after each compaction ends.
 *   A compaction that failed lifts the stall until one succeeds again: the store
 *   stays writable with more runs (slower reads), never blocked on a full disk.
 * - Cancellation (close(), as RocksDB's CancelAllBackgroundWork): cancel() stops
 *   scheduling and aborts the running compaction's signal, background or a
 *   store.compact() call alike. The merge checks it at its yields (merge-runs.ts),
 *   the compactor before merging and once more in the synchronous step before the
 *   manifest edit: a cancelled compaction removes its output (the temporary file,
 *   through writeRun, or the renamed file) and installs nothing, so the inputs stay
 *   live, the manifest is unchanged and the debt stays for the next open. Once the
 *   manifest edit has started the compaction installs fully (close waits for that
 *   one edit). It is counted in `cancelled`, not `failures`; a compact() call it
 *   cancelled rejects with StoreClosedError. A crash after the rename and before
 *   the unlink leaves a complete file the manifest does not list: an orphan open removes.
 * - The merge thread (merge-thread.ts; docs/ARCHITECTURE.md "The merge thread"): over
 *   the real file system the merge and writeRun run in the store's worker thread, the
 *   rest of the protocol stays on this thread unchanged. A cancel is posted to it and
 *   answered at its next yield; close() terminates it (after a grace period if it does
 *   not answer), abandon() at once. It reads without repair: a damaged input is merged
 *   again in process, where the store's readers repair and count it.
 *   A thread that dies mid-merge (a crash, its heap exhausted) fails nothing: the merge
 *   is done again in process under a new run id (merge-output.ts).
 */
import type { FileSystem } from '../fs/file-system.js';
import type { RunSet } from '../engine/run-set.js';
import type { PointCache } from '../engine/point-cache.js';
import type { Manifest } from '../manifest/manifest.js';
import type { StorageMetrics } from '../metrics/recorders.js';
import { assert } from '../util/assert.js';
import { StoreClosedError } from '../errors.js';
import { MergeOutput, type MergeSlot } from './merge-output.js';
import type { Hash64 } from '../wal/wal-format.js';
import { type CompactionPick, type CompactionPolicyName, compactionSettings, pickCompaction, pickRange } from './compaction-policy.js';
import { type CompactionProgress, type CompactionResult, type CompactionStats, compactionStats, emptyResult, newCompactionTotals } from './compaction-stats.js';
import type { BlockCompressor, CompressionCounters } from '../run/compression-pool.js';
import type { VersionTimes } from './version-times.js';
import { reachableFloor, RetentionFloor } from './retention-floor.js';
import { type CompactionContext, compactPick } from './compaction-protocol.js';
import { ReplacedRuns } from './replaced-runs.js';

// Importers of this name before the protocol of one compaction moved out (tests).
export { compactionTestHooks } from './compaction-protocol.js';

export interface CompactorConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  hash: Hash64;
  manifest: Manifest;
  runSet: RunSet;
  maxVersionsPerKey: number;
  /** Default: compactionSettings.policy when the compactor is made. */
  policy?: CompactionPolicyName;
  /** Records each completed compaction's duration and bytes in and out. */
  metrics: StorageMetrics;
  /** Called after every compaction ends (installed, aborted or failed): stalled writes re-check. */
  onChange?: () => void;
  /** Retention by age: its samples are persisted with each compaction's manifest edit. */
  versionTimes?: VersionTimes | undefined;
  /**
   * Compresses the blocks of cold-tier output (compressionForTier) merged in process;
   * default: on this thread. The merge thread compresses inline and reports its bytes
   * to `recordCompressed` (the store's ColdTierCompressor counts them for stats).
   */
  compressor?: BlockCompressor & { recordCompressed?: (counters: CompressionCounters) => void };
  /** How far the merge thread lowers its CPU priority (MergeOutputConfig). */
  backgroundThreadNice?: number | undefined;
  /** Told of each install, so it keeps the keys a merge cannot change (PointCache#carryOverCompaction). */
  pointCache?: PointCache;
  /** True while a memtable holds a version newer than the runs (read in a compaction's deciding step). */
  memoryHoldsNewer?: () => boolean;
  /** True while a memtable holds one of `keys` (read in the install's synchronous step). */
  memoryHoldsAnyKey?: (keys: readonly string[]) => boolean;
}

/** A compaction in flight (at most two: see Compactor#schedule). */
interface Running {
  promise: Promise<CompactionResult>;
  /** Started by schedule() (a compact() call may supersede it), not by a compact() call. */
  background: boolean;
  /** Aborts it (cancel(), or a compact() of every run superseding a background one). */
  cancel: AbortController;
  pick: CompactionPick;
  /** Its merge thread: 0, or 1 for the second, shallow merge. */
  slot: MergeSlot;
}

export class Compactor {
  readonly #config: CompactorConfig;
  #pinFloor: () => number = () => Infinity;
  /** The compactions in flight, oldest first: none, one, or a deep background one and a shallow one. */
  #running: Running[] = [];
  #backgroundEnabled = false;
  /** Set by cancel() (and close()): no compaction starts from then on. */
  #closed = false;
  /** compact() calls waiting for the running compactions: no second merge starts meanwhile. */
  #compactWaiting = 0;
  /** Writes a pick's merged run, in the merge thread or in process (merge-output.ts). */
  readonly #output: MergeOutput;
  /** What each compaction's protocol reads and updates: totals, replaced runs, the settled run. */
  readonly #context: CompactionContext;
  #lastError: Error | undefined;
  /** The last compaction's failure, cleared by the next success (lifts the backlog stall meanwhile). */
  #failedSinceSuccess = false;

  readonly #policy: CompactionPolicyName;
  /** The store-wide retention floor; read views read it at each resolve. */
  readonly retentionFloor: RetentionFloor;

  constructor(config: CompactorConfig) {
    this.#config = config;
    this.retentionFloor = new RetentionFloor(config.manifest.state.retentionFloor ?? 0);
    this.#policy = config.policy ?? compactionSettings.policy;
    this.#output = new MergeOutput(config);
    this.#context = {
      config,
      output: this.#output,
      totals: newCompactionTotals(),
      replacedRuns: new ReplacedRuns(),
      retentionFloor: this.retentionFloor,
      pinFloor: () => this.#pinFloor(),
      raiseFloor: (requested, horizon) => this.#raiseFloor(requested, horizon),
      settled: undefined,
    };
  }

  /**
   * Starts background compaction; `pinFloor` is ReadPins#oldest of the store. With
   * the merge thread in use, a merge the policy wants starts now (as LevelDB schedules
   * at open: it runs on the other core); merging in process, the first merge waits
   * for the first flush after open, so an open that only reads is not slowed.
   */
  start(pinFloor: () => number): void {
    this.#pinFloor = pinFloor;
    this.#backgroundEnabled = true;
    if (this.usesMergeThread) this.schedule();
  }

  /**
   * True while a compaction is in flight: its merge slices (in process) and its install
   * need the event loop to turn, so Store#get forces a turn now and then meanwhile
   * (src/store/event-loop-turns.ts). One comparison: it is read on every get.
   */
  get inFlight(): boolean {
    return this.#running.length > 0;
  }

  /** True when merges run in the merge thread (merge-output.ts). Read per compaction. */
  get usesMergeThread(): boolean {
    return this.#output.usesThread;
  }

  /**
   * A flush installed a run: compact in the background if the policy asks. Not while a
   * compact() call waits for the running compactions: it would find the new one running
   * and wait (or cancel it) again, and a cancelled background merge's end reschedules
   * while backlogged, so that loop never ended (all in microtasks: the process hung).
   * The compact() call reschedules when it ends.
   */
  schedule(): void {
    if (!this.#backgroundEnabled || this.#closed || this.#compactWaiting > 0) return;
    const pick = this.#running.length === 0 ? pickCompaction(this.#config.runSet.runs, this.#policy) : this.#shallowPick();
    if (pick === undefined) return;
    const running = this.#run(pick, true);
    void running.then(
      () => this.schedule(),
      (error: unknown) => {
        if (error instanceof CompactionCancelled) return; // close() stopped it: not a failure
        this.#lastError = error instanceof Error ? error : new Error(String(error));
      },
    );
  }

  /**
   * The second merge (slot 1), or undefined: only with the merge thread, only while the
   * one running is a background merge of a deeper tier (output tier 2 or more), no
   * compact() call waits, and only a tier-0 -> tier-1 merge of runs newer than the deep
   * merge's inputs. The two picks are disjoint slices of adjacent runs, each installed
   * by its own manifest edit and RunSet#replace (flushes only append newer runs, the
   * only other remover is this compactor), so the read path's rules hold unchanged.
   */
  #shallowPick(): CompactionPick | undefined {
    if (this.#running.length !== 1 || this.#compactWaiting > 0 || !this.usesMergeThread) return undefined;
    const deep = this.#running[0]!;
    if (!deep.background || deep.pick.outputLevel < 2) return undefined;
    const runs = this.#config.runSet.runs;
    // Its inputs are gone once it installed (it is unlinking them): its end reschedules.
    const after = runs.indexOf(deep.pick.inputs.at(-1)!) + 1;
    if (after === 0) return undefined;
    const pick = pickCompaction(runs.slice(after), this.#policy);
    return pick !== undefined && pick.outputLevel === 1 ? pick : undefined;
  }

  /**
   * Compacts now: the runs whose keys meet [gte, lt) (all runs when no bound is
   * given) merge into one. Waits for a running compaction first; a background one is
   * cancelled instead when this call merges every run (its output would be merged again).
   * Rejects with StoreClosedError when close() cancels it, or cancelled compaction
   * before it started (nothing changed).
   */
  async compact(range: { gte?: string; lt?: string; retainFrom?: number } = {}, onProgress?: CompactionProgress): Promise<CompactionResult> {
    // Not an assertion: store.compact() awaits the WAL's spare-segment release first, and
    // close() may cancel compaction meanwhile (it does so before taking the lifecycle lock).
    if (this.#closed) throw new StoreClosedError('compact');
    this.#compactWaiting++;
    try {
      while (this.#running.length > 0) {
        // A background merge that a full compact() rewrites anyway is cancelled rather than
        // awaited (with the merge thread one starts at open: `ladybug compact` merged twice).
        const everyRun = range.gte === undefined && range.lt === undefined;
        for (const running of this.#running) {
          if (everyRun && running.background) running.cancel.abort(new CompactionCancelled('superseded by a compact() of every run'));
        }
        await Promise.all(this.#running.map((running) => running.promise.catch(() => undefined)));
      }
    } finally {
      this.#compactWaiting--;
    }
    if (this.#closed) throw new StoreClosedError('compact');
    const pick = pickRange(this.#config.runSet.runs, range.gte, range.lt);
    if (pick === undefined) {
      const horizon = this.#pinFloor();
      const floor = range.retainFrom === undefined ? this.retentionFloor.version : this.#raiseFloor(range.retainFrom, horizon);
      await this.retentionFloor.recorded();
      this.schedule(); // the background merges skipped while this call waited
      return emptyResult('nothing', horizon, floor);
    }
    try {
      return await this.#run(pick, false, onProgress, range.retainFrom);
    } catch (error) {
      throw error instanceof CompactionCancelled ? new StoreClosedError('compact') : error;
    }
  }

  /**
   * Raises the floor toward `requested` as far as `horizon` (the pins, read in the
   * caller's synchronous step) and the flushed data allow; returns the floor in force.
   * A raise starts its manifest edit in the same step (retention-floor.ts): the floor
   * is kept whatever happens to the merge after it.
   */
  #raiseFloor(requested: number, horizon: number): number {
    const before = this.retentionFloor.version;
    const floor = this.retentionFloor.raise(reachableFloor(requested, horizon, this.#config.manifest.state.flushedVersion));
    if (floor > before) this.retentionFloor.recording(this.#config.manifest.apply({ retentionFloor: floor }));
    return floor;
  }

  /**
   * True while writes should wait for compaction (see the module header). Cheap
   * when the run count is under the bound: one comparison.
   */
  get backlogged(): boolean {
    const runs = this.#config.runSet.runs;
    if (runs.length <= compactionSettings.stallRunCount) return false;
    if (!this.#backgroundEnabled || this.#closed || this.#failedSinceSuccess) return false;
    return pickCompaction(runs, this.#policy) !== undefined;
  }

  #run(pick: CompactionPick, background: boolean, onProgress?: CompactionProgress, retainFrom?: number): Promise<CompactionResult> {
    assert(this.#running.length === 0 || (this.#running.length === 1 && background && pick.outputLevel === 1), 'at most a second, shallow compaction');
    assert(!this.#closed, 'no compaction starts after cancel()');
    const cancel = new AbortController();
    const slot: MergeSlot = this.#running.length === 0 ? 0 : 1;
    const entry: Running = { promise: undefined as unknown as Promise<CompactionResult>, background, cancel, pick, slot };
    const running = compactPick(this.#context, { pick, signal: cancel.signal, slot, onProgress, retainFrom, mayMove: background && this.#policy === 'tiered' }).then(
      (result) => {
        this.#failedSinceSuccess = false;
        return result;
      },
      (error: unknown) => {
        if (cancel.signal.aborted && (error === cancel.signal.reason || error instanceof CompactionCancelled)) {
          this.#context.totals.cancelled++;
          throw cancel.signal.reason;
        }
        this.#failedSinceSuccess = true;
        throw error;
      },
    ).finally(() => {
      this.#running = this.#running.filter((other) => other !== entry);
      // Writers wait while backlogged: keep merging even when this run was a compact()
      // call (a background run reschedules itself anyway; this is then a no-op).
      if (this.backlogged) this.schedule();
      this.#config.onChange?.();
    });
    entry.promise = running;
    this.#running = [...this.#running, entry];
    return running;
  }

  /** Merges done in the merge thread, merges retried in process after it met a damaged input or exited under them (tests). */
  get mergeThreadCounters(): { threadMerges: number; inProcessRetries: number; threadExits: number; threadRunning: boolean } {
    return this.#output.counters;
  }

  stats(flushedBytes: number): CompactionStats {
    return compactionStats(this.#context.totals, {
      policy: this.#policy,
      runs: this.#config.runSet.runs,
      bytesOnDisk: this.#config.runSet.fileBytes,
      runningCount: this.#running.length,
      retentionFloor: this.retentionFloor.durableVersion,
      replacedRunsHeld: this.#context.replacedRuns.heldCount,
      replacedRunBytesHeld: this.#context.replacedRuns.heldBytes,
      mergeThreadExits: this.#output.counters.threadExits,
      lastError: this.#lastError,
    }, flushedBytes);
  }

  /**
   * Stops compaction for good (the first step of close, RocksDB's
   * CancelAllBackgroundWork): no compaction starts from now on and the running one,
   * background or a compact() call, is cancelled at its next check (see the module
   * header). Synchronous; close() waits for the cancelled compaction to unwind.
   * Writers stalled on the backlog re-check (`backlogged` is false from now on).
   */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A merge thread that does not answer the cancel is terminated after a grace period,
    // timed from here, not from close(): Store#close awaits a cancelled compact() call
    // (it holds the store lock) before it closes the engine.
    for (const running of this.#running) {
      running.cancel.abort(new CompactionCancelled());
      this.#output.terminateUnlessSettled(running.promise, running.slot);
    }
    this.#config.onChange?.();
  }

  /**
   * The store was dropped as a dead process (store[abandonStore]): cancel, and end the
   * merge thread at once (a dead process has no threads; its writes must stop before a
   * new handle owns the directory). The merge in flight rejects; its files are orphans
   * the next open removes.
   */
  abandon(): void {
    this.cancel();
    this.#output.abandon();
  }

  /**
   * Cancels compaction (cancel()), waits for the running one to unwind (it stops
   * within one merge yield, or finishes the manifest edit it started) and closes
   * the readers of replaced runs: no view reads after the engine closed. (A file a
   * crash leaves is an orphan the next open removes.)
   */
  async close(): Promise<void> {
    this.cancel();
    // A stuck thread is terminated (cancel()). No compaction starts after cancel().
    await Promise.all(this.#running.map((running) => running.promise.catch(() => undefined)));
    await this.#output.close();
    await this.#context.replacedRuns.closeAll();
  }
}

/**
 * The reason a cancelled compaction's signal carries: close() stopped it, or a compact()
 * of every run superseded a background merge. Internal, so it has no `code`: compact()
 * turns it into StoreClosedError and schedule() ignores it; it never reaches a caller.
 */
class CompactionCancelled extends Error {
  constructor(reason = 'close()') {
    super(`compaction cancelled by ${reason}`);
    this.name = 'CompactionCancelled';
  }
}

