/**
 * Where a flush writes its run (flusher.ts asks; the manifest edit, the install and the
 * WAL deletion stay there): in the store's flush thread on the real file system
 * (flush-thread.ts: the main thread walks and packs the entries, the thread writes the
 * same bytes into the temporary file; the rename and the fsync are the main thread's,
 * through the store's fenced file system: src/run/run-install.ts), else in process
 * (memtableEntries straight into writeRun). Owns the flush thread: made at the first
 * flush that uses it, ended by close() or abandon().
 *
 * Invariants:
 * - A flush thread that exits under a flush (crash, out of memory, terminated) is not
 *   a failure of the flush: its run id's files are removed and the memtable is
 *   written in process under a new run id (the next flush starts a new thread; past
 *   FLUSH_THREAD_RESTARTS_MAX exits every flush stays in process); on a handle
 *   abandoned as a dead process the flush fails with StoreClosedError instead. FlushThreadExited (no `code`) is
 *   internal: it never leaves this module (test/internal-errors.test.ts). An error the
 *   thread answers is the flush's own (same class, merge-error.ts), under the flusher's
 *   rules (disk full retried, anything else final).
 */
import { randomInt } from 'node:crypto';
import { StoreClosedError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { KillableFileSystem } from '../fs/killable-file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { clearTemporaryRun, installTemporaryRun, removeTemporaryRun, lockPathFor } from '../run/run-install.js';
import { writeRun } from '../run/run-writer.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { CachePrepopulation } from './cache-prepopulation.js';
import { FLUSH_THREAD_RESTARTS_MAX, flushSettings } from './flush-settings.js';
import { type FlushOutcome, FlushThread, FlushThreadExited, flushWorkerBuilt } from './flush-thread.js';
import { memtableEntries, memtableEntriesInArrivalOrder } from './memtable-entries.js';
import type { SealedMemtable } from './memtables.js';

export interface FlushRunWriterConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  hash: Hash64;
}

/** One flush's run to write (flusher.ts #flushOneAlone). */
export interface FlushRunRequest {
  sealed: SealedMemtable;
  /** The run id allocated for it; a write again after a thread exit takes a new one (allocateRunId). */
  runId: number;
  allocateRunId: () => number;
  /** Takes the blocks the write seals (undefined: no prepopulation); made again (newPrepopulation) for a write again. */
  prepopulation: CachePrepopulation | undefined;
  newPrepopulation: () => CachePrepopulation | undefined;
  /** The prepopulation's room in bytes (what the thread keeps of the data blocks). */
  prepopulateBytes: number;
  /** Another sealed memtable waits (writes outrun flushes): the memtable goes in key order. */
  backlog: boolean;
}

export class FlushRunWriter {
  readonly #config: FlushRunWriterConfig;
  /** Made at the first flush that uses it (usesThread), ended by close() or abandon(). */
  #thread: FlushThread | undefined;
  #abandoned = false;
  /** Runs written by the flush thread. */
  #threadFlushes = 0;
  /** Flushes whose thread exited under them: written again in process. */
  #threadExits = 0;

  constructor(config: FlushRunWriterConfig) {
    this.#config = config;
  }

  get threadFlushes(): number {
    return this.#threadFlushes;
  }

  get threadExits(): number {
    return this.#threadExits;
  }

  /**
   * Writes the run of `request.sealed`; resolves with it, the run id it has and the
   * prepopulation that took its blocks (both new when it was written again in process
   * after the thread exited under it).
   */
  async write(request: FlushRunRequest): Promise<{ descriptor: RunDescriptor; runId: number; prepopulation: CachePrepopulation | undefined }> {
    const { sealed } = request;
    let { runId, prepopulation } = request;
    if (!(this.usesThread && (this.#thread?.running === true || sealed.memoryBytes >= flushSettings.threadMinMemtableBytes))) {
      return { descriptor: await this.#writeInProcess(sealed, runId, prepopulation), runId, prepopulation };
    }
    try {
      return { descriptor: await this.#writeInThread(sealed, runId, prepopulation, request.prepopulateBytes, request.backlog), runId, prepopulation };
    } catch (error) {
      if (!(error instanceof FlushThreadExited)) throw error;
      // FlushThreadExited never leaves the flusher: a handle abandoned as a dead process
      // fails the flush as closed (a checkpoint() waiting for it rejects so), nothing is
      // written again in process (its output is an orphan the next open removes).
      if (this.#abandoned) throw new StoreClosedError('flush a memtable (the handle was abandoned)', { cause: error });
      // The thread crashed or was ended under the flush: its temporary file (a thread never
      // renames) was removed (#writeInThread) and the memtable is written in process, under
      // a new run id (the ended thread's last system call may still be returning).
      this.#threadExits++;
      runId = request.allocateRunId();
      prepopulation = request.newPrepopulation();
      return { descriptor: await this.#writeInProcess(sealed, runId, prepopulation), runId, prepopulation };
    }
  }

  /**
   * True when runs are written in the flush thread (flush-thread.ts): flushSettings
   * allows it, at most FLUSH_THREAD_RESTARTS_MAX threads died under a flush, the worker
   * is built and the file system is the real one (a KillableFileSystem over a
   * NodeFileSystem). The fault-injecting file systems of the tests keep the in-process
   * path, which every crash sweep covers. Read per flush.
   */
  get usesThread(): boolean {
    if (flushSettings.flushThread !== 'worker' || this.#abandoned || this.#threadExits > FLUSH_THREAD_RESTARTS_MAX) return false;
    const fileSystem = this.#config.fileSystem;
    const real = fileSystem instanceof KillableFileSystem ? fileSystem.inner : fileSystem;
    return real instanceof NodeFileSystem && flushWorkerBuilt();
  }

  /** The run of `sealed` written in process (memtableEntries straight into writeRun). */
  async #writeInProcess(sealed: SealedMemtable, runId: number, prepopulation: CachePrepopulation | undefined): Promise<RunDescriptor> {
    const { fileSystem, runsDirectory, hash } = this.#config;
    return await writeRun({
      fileSystem, runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 0, hash,
      entries: memtableEntries(sealed.index),
      onBlockSealed: prepopulation?.offer,
    });
  }

  /**
   * The run of `sealed` written in the flush thread: this thread walks and packs the
   * entries, the thread writes the file; the blocks it kept go to `prepopulation` in
   * the order they were sealed, as an in-process write offers them. A memtable whose
   * keys did not arrive in key order (random keys), up to arrivalOrderMaxBytes, is
   * walked by key range in arrival order and the thread puts each range in key order
   * (flush-key-order.ts): the key-order walk read its chains and values all over
   * memory (issue 12). That moves work to the thread and the writer waits for the
   * first range, so such a flush takes longer: with a backlog (writes outrun flushes,
   * the next seal would stall them) the memtable goes in key order, which the thread
   * writes as it is packed. (Arrival order with a backlog too was tried, f6d3f88,
   * reverted: the bulk load's main-thread CPU fell but the work moved to the flush
   * thread, total CPU and peak RSS rose, keys/s no better; docs/PERFORMANCE.md.)
   */
  async #writeInThread(sealed: SealedMemtable, runId: number, prepopulation: CachePrepopulation | undefined, prepopulateBytes: number, backlog: boolean): Promise<RunDescriptor> {
    const { fileSystem, runsDirectory } = this.#config;
    this.#thread ??= new FlushThread();
    const job = {
      runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 0, keepDataBytes: prepopulation === undefined ? -1 : prepopulateBytes,
      lockPath: lockPathFor(fileSystem),
    };
    const arrival = !backlog && sealed.memoryBytes <= flushSettings.arrivalOrderMaxBytes ? memtableEntriesInArrivalOrder(sealed.index) : undefined;
    // The thread writes only `<id>.tmp`; every name in runs/ changes here, through the fence (run-install.ts).
    await clearTemporaryRun(fileSystem, runsDirectory, runId);
    let outcome: FlushOutcome;
    try {
      outcome = arrival === undefined ? await this.#thread.flush(job, memtableEntries(sealed.index)) : await this.#thread.flush(job, arrival, true);
    } catch (error) {
      await removeTemporaryRun(fileSystem, runsDirectory, runId);
      throw error;
    }
    const { descriptor, blocks } = outcome;
    if (outcome.temporary) await installTemporaryRun(fileSystem, runsDirectory, runId);
    assert(prepopulation !== undefined || blocks.length === 0, 'the thread keeps blocks only for a prepopulation');
    for (const block of blocks) prepopulation?.offer(block, true);
    this.#threadFlushes++;
    return descriptor;
  }

  /** Ends the flush thread (after the flush in flight: the flusher's close waited for it). */
  async close(): Promise<void> {
    await this.#thread?.close();
  }

  /** The store was dropped as a dead process: the thread ends now, and a flush in flight is not written again in process. */
  abandon(): void {
    this.#abandoned = true;
    this.#thread?.abandon();
  }
}
