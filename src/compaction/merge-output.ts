/**
 * MergeOutput: writes the merged run of a decided pick, for the compactor
 * (compaction-protocol.ts runs the protocol around it: horizon, abort checks, manifest
 * edit, install, unlinks). Two ways, same result (test/merge-worker.test.ts):
 *
 * - In the store's merge thread (merge-thread.ts) when compactionSettings.mergeThread
 *   is 'worker', the worker is built and the file system is the real one (a
 *   KillableFileSystem over a NodeFileSystem). The fault-injecting file systems of the
 *   tests keep the in-process path, which every crash sweep covers.
 * - In process: cursors over the inputs' readers (fillCache false), mergeRunBatches yielding
 *   every MERGE_YIELD_ENTRIES entries, writeRun compressing through `compressor`.
 *
 * Invariants:
 * - One merge per slot at a time (the compactor runs at most two: Compactor#schedule).
 *   Slot 1's thread is ended when its merge settles, so no idle second isolate stays.
 * - The inputs' main-thread readers are open before a thread merge (ReplacedRuns#retire
 *   needs them: views that still hold a replaced run read through them after its file
 *   is unlinked).
 * - The thread reads without parity repair: a CorruptionError from it is merged again
 *   in process, where the store's readers repair the block, count and log it; damage
 *   beyond repair fails there with the same CorruptionError.
 * - The thread writes only the output's temporary file; its rename and directory fsync
 *   (after 'done'), and its removal (after a failure, a cancel or the thread's exit),
 *   are made here through the store's file system, which refuses them once another
 *   process took the directory lock over (src/run/run-install.ts). A crash of the
 *   process leaves orphans that open removes. Terminated after a cancel,
 *   the merge rejects with the signal's reason, as a cancelled in-process merge does;
 *   ended by close() without a cancel, with StoreClosedError (merge-thread.ts).
 * - A thread that exited under a merge nobody cancelled (a crash, its heap exhausted) is
 *   not a failure of the compaction: the merge is done again in process under a NEW run id
 *   (task.allocateRunId), so the dead thread's output, whose last system call may still
 *   be returning, can never be taken for the new one (as the flusher does for its flush
 *   thread). The next merge starts a fresh thread; past MERGE_THREAD_RESTARTS_MAX exits
 *   every merge of this store stays in process.
 */
import { randomInt } from 'node:crypto';
import { CorruptionError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { KillableFileSystem } from '../fs/killable-file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import type { BlockCompressor, CompressionCounters } from '../run/compression-pool.js';
import type { RunCursor } from '../run/run-cursor.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import { clearTemporaryRun, installTemporaryRun, removeTemporaryRun, lockPathFor } from '../run/run-install.js';
import { writeRun } from '../run/run-writer.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { type CompactionPick, compactionSettings, compressionForTier } from './compaction-policy.js';
import { MERGE_THREAD_RESTARTS_MAX, MergeThread, MergeThreadExited, mergeThreadSettings, mergeWorkerBuilt, threadExitOf } from './merge-thread.js';
import { type MergeCounters, mergeRunBatches } from './merge-runs.js';
import type { VersionGcRule } from './version-gc.js';

export interface MergeOutputConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  hash: Hash64;
  /**
   * Compresses cold-tier blocks merged in process; default: on this thread. The merge
   * thread compresses inline and reports its bytes to `recordCompressed` (the store's
   * ColdTierCompressor counts them for stats().storage.tiers).
   */
  compressor?: (BlockCompressor & { recordCompressed?: (counters: CompressionCounters) => void }) | undefined;
  /** How far the merge threads lower their CPU priority (the store's backgroundThreadNice); default 5. */
  backgroundThreadNice?: number | undefined;
}

export interface MergeTask {
  pick: CompactionPick;
  runId: number;
  rule: VersionGcRule;
  /** Filled with the merge's counters. */
  counters: MergeCounters;
  onProgress: ((entriesRead: number) => void) | undefined;
  signal: AbortSignal;
  /** A fresh run id from the manifest (Manifest#allocateRunId): the in-process merge after a thread exit writes under it. */
  allocateRunId: () => number;
  /**
   * 0: the store's merge thread (kept while the store is open). 1: the compactor's
   * second, shallow merge (a tier-0 merge while a deeper one holds slot 0): a thread of
   * its own, ended once its merge settles (an idle isolate costs ~17 MiB RSS).
   */
  slot: MergeSlot;
}

export type MergeSlot = 0 | 1;

export class MergeOutput {
  readonly #config: MergeOutputConfig;
  /** The merge threads per slot: slot 0's made at its first merge, slot 1's per merge. */
  readonly #threads: [MergeThread | undefined, MergeThread | undefined] = [undefined, undefined];
  #threadMerges = 0;
  #inProcessRetries = 0;
  /** Merges whose thread exited under them (merged again in process); past MERGE_THREAD_RESTARTS_MAX no thread is used. */
  #threadExits = 0;

  constructor(config: MergeOutputConfig) {
    this.#config = config;
  }

  /** True when merges run in the merge thread (see the header). Read per merge. */
  get usesThread(): boolean {
    if (compactionSettings.mergeThread !== 'worker') return false;
    const fileSystem = this.#config.fileSystem;
    const real = fileSystem instanceof KillableFileSystem ? fileSystem.inner : fileSystem;
    return real instanceof NodeFileSystem && mergeWorkerBuilt() && this.#threadExits <= MERGE_THREAD_RESTARTS_MAX;
  }

  /**
   * Merges done in the thread, merges retried in process after it met a damaged input,
   * merges done again in process after their thread exited, and whether a thread runs (tests).
   */
  get counters(): { threadMerges: number; inProcessRetries: number; threadExits: number; threadRunning: boolean } {
    return {
      threadMerges: this.#threadMerges, inProcessRetries: this.#inProcessRetries, threadExits: this.#threadExits,
      threadRunning: this.#threads.some((thread) => thread?.running === true),
    };
  }

  /** The merged run of the pick's inputs, durable under its final name (undefined when nothing survives). */
  async write(task: MergeTask): Promise<RunDescriptor | undefined> {
    const generation = randomInt(1, 2 ** 32 - 1);
    if (!this.usesThread) return this.#inProcess(task, generation);
    // A thread not yet running starts one event-loop turn later, its inputs opened then
    // too: the Worker's start costs this thread 2-11 ms of CPU (more on a busy machine)
    // and its isolate's boot takes the other core, and the merge Compactor#start begins at
    // open landed inside the microtasks of the first read after open (issue 7: open + first
    // get of a reopened 10M-key store). Moved, not saved. A loop of awaited gets still lets
    // it start: the compaction is in flight from here, so every 256th get yields a turn
    // (src/store/event-loop-turns.ts).
    if (this.#threads[task.slot]?.running !== true) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const input of task.pick.inputs) await input.reader();
    task.signal.throwIfAborted();
    try {
      return await this.#inThread(task, generation);
    } catch (error) {
      if (task.signal.aborted) throw error;
      if (error instanceof MergeThreadExited) {
        // Its output is removed (#inThread); the run id is not reused (see the header).
        this.#threadExits++;
        resetCounters(task.counters);
        const runId = task.allocateRunId();
        assert(runId !== task.runId, 'the merge after a thread exit writes under a new run id');
        return this.#inProcess({ ...task, runId }, randomInt(1, 2 ** 32 - 1));
      }
      if (!(error instanceof CorruptionError)) throw error;
      this.#inProcessRetries++;
      resetCounters(task.counters);
      return this.#inProcess(task, generation);
    }
  }

  async #inThread(task: MergeTask, generation: number): Promise<RunDescriptor | undefined> {
    const { pick, runId, rule, counters, onProgress, signal, slot } = task;
    const thread = this.#threads[slot] ?? new MergeThread(this.#config.backgroundThreadNice);
    this.#threads[slot] = thread;
    const { fileSystem, runsDirectory } = this.#config;
    try {
      // The thread writes only `<id>.tmp`; every name in runs/ changes here, through the fence (run-install.ts).
      await clearTemporaryRun(fileSystem, runsDirectory, runId);
      const outcome = await thread.merge({
        runsDirectory: this.#config.runsDirectory, inputs: pick.inputs.map((input) => input.descriptor).reverse(), rule, runId, generation,
        level: pick.outputLevel, compression: compressionForTier(pick.outputLevel), lockPath: lockPathFor(fileSystem),
      }, signal, onProgress);
      Object.assign(counters, outcome.counters);
      if (outcome.compressed.blocks > 0) this.#config.compressor?.recordCompressed?.(outcome.compressed);
      this.#threadMerges++;
      if (outcome.descriptor !== undefined && outcome.temporary) await installTemporaryRun(fileSystem, runsDirectory, runId);
      return outcome.descriptor;
    } catch (error) {
      await removeTemporaryRun(fileSystem, runsDirectory, runId);
      const exited = threadExitOf(error);
      throw exited !== undefined && signal.aborted ? signal.reason : error;
    } finally {
      if (slot === 1 && this.#threads[1] === thread) {
        this.#threads[1] = undefined;
        await thread.close();
      }
    }
  }

  /** The merge on this thread (yielding every MERGE_YIELD_ENTRIES entries). */
  async #inProcess(task: MergeTask, generation: number): Promise<RunDescriptor | undefined> {
    const { pick, runId, rule, counters, onProgress, signal } = task;
    const cursors: RunCursor[] = [];
    try {
      for (const input of pick.inputs.slice().reverse()) cursors.push(await input.cursor({}, false, { fillCache: false }));
    } catch (error) {
      for (const cursor of cursors) cursor.close();
      throw error;
    }
    const merged = mergeRunBatches(cursors, rule, counters, onProgress, signal);
    try {
      const first = await merged.next();
      if (first.done === true) return undefined;
      const { fileSystem, runsDirectory, hash } = this.#config;
      return await writeRun({
        fileSystem, runsDirectory, runId, generation, level: pick.outputLevel, hash,
        entries: { batches: prepend(first.value, merged) },
        compression: compressionForTier(pick.outputLevel), compressor: this.#config.compressor,
      });
    } finally {
      // Closes the cursors however the write ended (the generator's finally).
      await merged.return(undefined);
    }
  }

  /**
   * `running` was cancelled: if the thread has not answered within
   * mergeThreadSettings.cancelGraceMs (a hung disk), terminate it.
   */
  terminateUnlessSettled(running: Promise<unknown>, slot: MergeSlot): void {
    const thread = this.#threads[slot];
    if (thread === undefined) return;
    const timer = setTimeout(() => void thread.close(), mergeThreadSettings.cancelGraceMs);
    void running.catch(() => undefined).finally(() => clearTimeout(timer));
  }

  /** Ends the merge thread (a merge in flight rejects). */
  async close(): Promise<void> {
    for (const thread of this.#threads) await thread?.close();
  }

  /** The store was dropped as a dead process: end the thread at once. */
  abandon(): void {
    for (const thread of this.#threads) thread?.abandon();
  }
}

function resetCounters(counters: MergeCounters): void {
  Object.assign(counters, { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 });
  delete counters.floorDeletesDropped;
  delete counters.floorDeleteKeys;
}

async function* prepend(first: RunEntry[], rest: AsyncIterator<RunEntry[]>): AsyncGenerator<RunEntry[]> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}
