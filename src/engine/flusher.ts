/**
 * The flusher: writes sealed memtables to run files, oldest first, and installs
 * each one; then the WAL segments the runs cover are deleted.
 *
 *   oldest sealed memtable -> writeRun (temp, datasync, rename, directory fsync),
 *      in the store's flush thread on the real file system, else in process
 *      (flush-run-writer.ts, which owns the thread)
 *   -> manifest edit (add run, flushed version, WAL start) under the manifest lock
 *   -> install: the run becomes visible and the memtable is retired, in one
 *      synchronous step (readers see one or the other, never neither)
 *   -> prepopulate the block cache with the run's blocks (below)
 *   -> delete WAL segments below the new WAL start, fsync the WAL directory
 *
 * Cache prepopulation (RocksDB's prepopulate_block_cache = kFlushOnly; issue 7's
 * hot gets): what was just written is likely to be read, so the flush keeps a copy
 * of the bytes of each data block it seals (exactly the bytes checksummed and
 * written), up to FLUSH_PREPOPULATE_CACHE_SHARE of
 * the cache's bound less what it holds when the flush starts (nothing while another
 * sealed memtable waits: writes outrun flushes, a bulk load, and the flush is the
 * bottleneck), plus the run's index and filter partitions. Once the run is
 * installed and its reader open, they are decoded as a read would and go into the
 * block cache under the key a read uses (run id, offset): partitions first, then data
 * blocks in key order, each only while it fits in the free room and the cache is below
 * that share, in slices with an event-loop turn between them (cache-prepopulation.ts:
 * in one step they held every commit in flight 14-195 ms per flush). It stops at the
 * next slice once close() or abandon() began or another memtable was sealed. Prepopulation never evicts (hot blocks of other
 * runs stay) and is best effort: a failure to open the reader leaves the cache as it
 * was (the first read opens it and reports). A compaction writes no cache entries.
 *
 * Invariants:
 * - One flush at a time, in memtable order: a newer memtable's run is never
 *   installed before an older one's (seed race 6), asserted by RunSet#install and
 *   Memtables#retireOldest.
 * - A memtable is retired only after its run is durable and recorded in the
 *   manifest (seed race 8: retireOldest re-checks, at the moment of dropping, that
 *   it is dropping the memtable whose run it installed). Readers that captured it
 *   keep it alive through their views.
 * - Disk full while writing a run: the partial file is removed and the flush is
 *   retried after FLUSH_RETRY_DELAY_MS; commits go on until the write stall. Likewise
 *   disk full on its manifest edit before any byte of it is durable (DiskFullError from
 *   manifest.apply): the run file, listed nowhere, is removed, and the flush retried.
 *   Never once close() began: the WAL keeps that memtable for the next open
 *   (a retry after close wrote a run after the directory lock was released).
 *   No file descriptor free (EMFILE, ENFILE: an open that failed wrote nothing) is
 *   retried the same way, FLUSH_DESCRIPTOR_RETRIES_MAX times in a row, then final.
 *   Any other failure (a failed fsync above all) is final: the flusher fails and
 *   the store refuses writes (never retried and trusted).
 * - A flush thread that exits under a flush is not a failure of the flush: the memtable
 *   is written again in process (flush-run-writer.ts, where that rule lives; on a handle
 *   abandoned as a dead process the flush fails with StoreClosedError instead). An error
 *   the thread answers is the flush's own (same class, merge-error.ts), under the two
 *   rules above.
 * - Blocks are prepopulated only for a run still live at that moment (checked at
 *   each slice, in the same synchronous step as its insertions), so a run replaced
 *   meanwhile by a compaction gets no more entries; none once close() began (close
 *   waits for the flush, so nothing is inserted after it resolves).
 */
import { performance } from 'node:perf_hooks';
import { DiskFullError } from '../errors.js';
import { isFileSystemError, joinPath, type FileSystem } from '../fs/file-system.js';
import { isOutOfFileDescriptors } from '../fs/out-of-descriptors.js';
import type { Manifest } from '../manifest/manifest.js';
import type { StorageMetrics } from '../metrics/recorders.js';
import { runDetached } from '../lock/held-locks.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { removeSegmentsBelow } from '../wal/segment-files.js';
import type { Memtables, SealedMemtable } from './memtables.js';
import type { MemoryIndex } from '../memory/memory-index.js';
import type { PointCache } from './point-cache.js';
import type { RunSet } from './run-set.js';
import { CachePrepopulation, FLUSH_PREPOPULATE_CACHE_SHARE } from './cache-prepopulation.js';
import { FlushRunWriter } from './flush-run-writer.js';

/** Wait before retrying a flush that ran out of disk space (or of file descriptors). */
export const FLUSH_RETRY_DELAY_MS = 200;

/**
 * Flushes in a row that may fail for want of a file descriptor (EMFILE, ENFILE) and be
 * retried: 50 at FLUSH_RETRY_DELAY_MS is 10 s. The next such failure is final, as any other.
 */
export const FLUSH_DESCRIPTOR_RETRIES_MAX = 50;

export { FLUSH_ARRIVAL_ORDER_BYTES_MAX, FLUSH_THREAD_MIN_MEMTABLE_BYTES, FLUSH_THREAD_RESTARTS_MAX, flushSettings } from './flush-settings.js';

export interface FlusherConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  walDirectory: string;
  hash: Hash64;
  memtables: Memtables;
  runSet: RunSet;
  manifest: Manifest;
  /** The segment the WAL writer appends to (a covered segment below it may be deleted; it is never). */
  currentWalSegment: () => number;
  /** Called after every install (a stalled writer may go on). */
  onProgress: () => void;
  /** Runs `finish`, the rest of a retired memtable's flush after its install: it counts in stats() meanwhile (MemtableHolds#releasing). */
  releasing?: (memtable: MemoryIndex, finish: () => Promise<void>) => Promise<void>;
  /** Records each installed flush's duration and run bytes. */
  metrics: StorageMetrics;
  /** Told of each install, so it keeps the entries of keys the flushed memtable does not hold. */
  pointCache?: PointCache;
}

export interface FlushStats {
  flushes: number;
  flushedBytes: number;
  flushRetries: number;
  walSegmentsDeleted: number;
  /** Data blocks and partitions a flush put into the block cache. */
  prepopulatedBlocks: number;
  /** Runs written by the flush thread (flush-thread.ts). */
  threadFlushes: number;
  /** Flushes whose thread exited under them (crash, out of memory): written again in process. */
  flushThreadExits: number;
  failure: Error | undefined;
}

export class Flusher {
  readonly #config: FlusherConfig;
  #running: Promise<void> | undefined;
  /** True from the start to the end of flushOne (one flush at a time). */
  #flushing = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #failure: Error | undefined;
  #lastDiskFull: DiskFullError | undefined;
  /** Flushes in a row that failed for want of a file descriptor (FLUSH_DESCRIPTOR_RETRIES_MAX); 0 after one that succeeds. */
  #descriptorFailures = 0;
  #stats = { flushes: 0, flushedBytes: 0, flushRetries: 0, walSegmentsDeleted: 0, prepopulatedBlocks: 0 };
  #idleWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  /** Writes each run, in the flush thread or in process (flush-run-writer.ts). */
  readonly #runWriter: FlushRunWriter;
  #abandoned = false;
  /** Set when close() begins: a flush that then fails disk full arms no retry (it would write a run after the directory lock was released). */
  #closed = false;
  /** Told once of a final failure (onFailure). */
  #failureListeners: Array<(failure: Error) => void> = [];

  constructor(config: FlusherConfig) {
    this.#config = config;
    this.#runWriter = new FlushRunWriter({ fileSystem: config.fileSystem, runsDirectory: config.runsDirectory, hash: config.hash });
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * `listener` is called once with the final failure when flushing fails for good (at
   * once if it has): the store's failure (src/store/store-failure.ts). Called after the
   * flush's idle waiters were rejected; it must not throw, block or take a lock.
   */
  onFailure(listener: (failure: Error) => void): void {
    if (this.#failure !== undefined) listener(this.#failure);
    else this.#failureListeners.push(listener);
  }

  /** The disk-full error of the last flush attempt, until a flush succeeds. */
  get lastDiskFull(): DiskFullError | undefined {
    return this.#lastDiskFull;
  }

  stats(): FlushStats {
    const writer = this.#runWriter;
    return { ...this.#stats, threadFlushes: writer.threadFlushes, flushThreadExits: writer.threadExits, failure: this.#failure };
  }

  /**
   * Starts flushing if a sealed memtable waits and no flush runs. `afterTurn`: the
   * flush's first step (sorting the memtable, starting the thread) waits one event-loop
   * turn (setImmediate), so open returns before it (StorageEngine#finishReplay, issue 7);
   * the flush counts as running from this call (close() and flushAll() wait for it).
   */
  schedule(afterTurn = false): void {
    if (this.#running !== undefined || this.#retryTimer !== undefined || this.#failure !== undefined) return;
    if (this.#config.memtables.oldest() === undefined) return this.#wakeIdle();
    // Detached: the seal that schedules a flush runs inside the commit path's critical section.
    const drain = afterTurn ? () => nextTurn().then(() => this.#drain()) : () => this.#drain();
    this.#running = runDetached(drain).finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves once every memtable sealed before this call has its run installed. */
  async flushAll(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    if (this.#config.memtables.oldest() === undefined && this.#running === undefined) return;
    const idle = new Promise<void>((resolve, reject) => this.#idleWaiters.push({ resolve, reject }));
    this.schedule();
    await idle;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const sealed = this.#config.memtables.oldest();
      if (sealed === undefined) return this.#wakeIdle();
      try {
        await this.flushOne(sealed);
      } catch (error) {
        // Out of file descriptors: the open that failed wrote nothing (writeRun removes what it
        // made), so the flush is retried as after a full disk, a bounded number of times in a row.
        const descriptors = isOutOfFileDescriptors(error) && ++this.#descriptorFailures <= FLUSH_DESCRIPTOR_RETRIES_MAX;
        if (error instanceof DiskFullError || descriptors) {
          if (error instanceof DiskFullError) this.#lastDiskFull = error;
          // Closing: the WAL keeps the memtable for the next open; no retry once close() waits for this flush.
          if (this.#closed) return this.#wakeIdle(error);
          this.#stats.flushRetries++;
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.schedule();
          }, FLUSH_RETRY_DELAY_MS);
          this.#retryTimer.unref();
          return this.#wakeIdle(error);
        }
        this.#failure = error instanceof Error ? error : new Error(String(error));
        this.#wakeIdle(this.#failure);
        const listeners = this.#failureListeners;
        this.#failureListeners = [];
        for (const listener of listeners) listener(this.#failure);
        return;
      }
    }
  }

  #wakeIdle(error?: unknown): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    this.#config.onProgress();
  }

  /**
   * Writes, records and installs the run of `sealed`, then deletes the WAL it covers.
   * REQUIRES: no other flush runs (the `flush` row of LOCK_ORDER.md: one task, no
   * mutex), asserted here.
   */
  async flushOne(sealed: SealedMemtable): Promise<RunDescriptor | undefined> {
    assert(!this.#flushing, `memtable ${sealed.sequence} flushed while another flush runs`);
    this.#flushing = true;
    try {
      if (sealed.index.stats().keys === 0) return await this.#recordVersionsOnly(sealed);
      return await this.#flushOneAlone(sealed);
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * A memtable with versions but no key: what a WAL repair that kept no commit leaves (its
   * version marker, wal-repair.ts, replayed at this open or the next). No run is written (a
   * run holds one entry at least): the manifest records the versions as flushed and the WAL
   * start past them, so no later open replays the marker or reuses its versions, then the
   * memtable is retired in the same order as any flushed one (seed race 6) and the WAL it
   * covers deleted.
   */
  async #recordVersionsOnly(sealed: SealedMemtable): Promise<undefined> {
    const { fileSystem, manifest, memtables } = this.#config;
    await manifest.apply({
      flushedVersion: sealed.lastVersion,
      walStartSegment: sealed.walStartSegment,
      versionHighWater: Math.max(manifest.state.versionHighWater, sealed.lastVersion),
    });
    const release = memtables.retireOldest(sealed);
    if (release !== undefined) await release.finish();
    this.#lastDiskFull = undefined;
    this.#descriptorFailures = 0;
    this.#config.onProgress();
    const deleteBelow = Math.min(sealed.walStartSegment, this.#config.currentWalSegment());
    try {
      this.#stats.walSegmentsDeleted += (await removeSegmentsBelow(fileSystem, this.#config.walDirectory, deleteBelow)).length;
    } catch (error) {
      if (!isFileSystemError(error, 'ENOSPC')) throw error;
    }
    return undefined;
  }

  async #flushOneAlone(sealed: SealedMemtable): Promise<RunDescriptor> {
    const { fileSystem, manifest, runSet, memtables } = this.#config;
    const startedMs = performance.now();
    const cache = runSet.config.cache;
    // A backlog (another sealed memtable waits) means writes outrun flushes: a bulk load, not
    // data about to be read, and the flush is the bottleneck: no prepopulation then.
    const backlog = memtables.immutableCount > 1;
    const prepopulateBytes = Math.floor(cache.maxBytes * FLUSH_PREPOPULATE_CACHE_SHARE) - cache.bytes;
    const prepopulate = !backlog && prepopulateBytes > 0;
    const newPrepopulation = (): CachePrepopulation | undefined => (prepopulate ? new CachePrepopulation(prepopulateBytes) : undefined);
    // In the flush thread or in process; written again in process under a new run id if the thread exits under it.
    const { descriptor, runId, prepopulation } = await this.#runWriter.write({
      sealed, runId: manifest.allocateRunId(), allocateRunId: () => manifest.allocateRunId(),
      prepopulation: newPrepopulation(), newPrepopulation, prepopulateBytes, backlog,
    });
    try {
      await manifest.apply({
        addRuns: [descriptor],
        nextRunId: runId + 1,
        flushedVersion: sealed.lastVersion,
        walStartSegment: sealed.walStartSegment,
        versionHighWater: Math.max(manifest.state.versionHighWater, sealed.lastVersion),
      });
    } catch (error) {
      // DiskFullError: nothing of the edit is durable (manifest.ts), so the run is listed
      // nowhere; its file goes now, giving back space the retry needs.
      if (error instanceof DiskFullError) await fileSystem.unlink(joinPath(this.#config.runsDirectory, descriptor.fileName)).catch(() => undefined);
      throw error;
    }
    // Install: one synchronous step, re-checking that this is still the oldest memtable.
    const runsBefore = runSet.runs;
    const handle = runSet.install(descriptor);
    this.#config.pointCache?.carryOverFlush(runsBefore, runSet.runs, (key) => sealed.index.holds(key));
    const release = memtables.retireOldest(sealed);
    this.#lastDiskFull = undefined;
    this.#descriptorFailures = 0;
    this.#stats.flushes++;
    this.#stats.flushedBytes += descriptor.fileBytes;
    this.#config.metrics.recordFlush(startedMs, descriptor.fileBytes);
    this.#config.onProgress();
    // The rest of this flush holds the retired memtable (its keys and chains stay live until it
    // ends): it counts in stats() meanwhile (MemtableHolds#releasing), not only while the release
    // of its values runs (a slice per event-loop turn, slab-reuse.ts).
    const rest = async (): Promise<void> => {
      if (release !== undefined) await release.finish();
      // In slices across event-loop turns (cache-prepopulation.ts); stops once close() or
      // abandon() began (close waits for this flush: no insert after it resolves) or another
      // memtable was sealed meanwhile (writes outrun flushes: the next flush matters more).
      if (prepopulation !== undefined) {
        const stop = (): boolean => this.#closed || this.#abandoned || memtables.immutableCount > 0;
        this.#stats.prepopulatedBlocks += await prepopulation.insert(handle, runSet, cache, stop);
      }
      // A seal's cut may still wait for its rotation (the disk was full): the writer's
      // segment is then below the memtable's WAL start, holds no later record, and is
      // left for a later flush or the next open to delete (never the open segment).
      const deleteBelow = Math.min(sealed.walStartSegment, this.#config.currentWalSegment());
      try {
        this.#stats.walSegmentsDeleted += (await removeSegmentsBelow(fileSystem, this.#config.walDirectory, deleteBelow)).length;
      } catch (error) {
        // The run is installed: a full disk here (a rename into the pool) leaves covered segments
        // for a later flush, checkpoint or open to remove, not a failed flush (that was final).
        if (!isFileSystemError(error, 'ENOSPC')) throw error;
      }
    };
    await (this.#config.releasing?.(sealed.index, rest) ?? rest());
    return descriptor;
  }

  /** Stops retry timers; a running flush finishes (close waits for it through flushAll); then the flush thread ends. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running?.catch(() => undefined);
    await this.#runWriter.close();
  }

  /**
   * The store was dropped as a dead process: the flush thread ends now (its output
   * is an orphan the next open removes); a flush in flight fails and is not written
   * again in process.
   */
  abandon(): void {
    this.#abandoned = true;
    this.#runWriter.abandon();
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export { memtableEntries, memtableEntriesInArrivalOrder } from './memtable-entries.js';
export { FLUSH_PREPOPULATE_CACHE_SHARE } from './cache-prepopulation.js';
