/**
 * The flusher: writes sealed memtables to run files, oldest first, and installs
 * each one; then the WAL segments the runs cover are deleted.
 *
 *   oldest sealed memtable -> writeRun (temp, datasync, rename, directory fsync)
 *   -> manifest edit (add run, flushed version, WAL start) under the manifest lock
 *   -> install: the run becomes visible and the memtable is retired, in one
 *      synchronous step (readers see one or the other, never neither)
 *   -> delete WAL segments below the new WAL start, fsync the WAL directory
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
 *   retried after FLUSH_RETRY_DELAY_MS; commits go on until the write stall.
 *   Any other failure (a failed fsync above all) is final: the flusher fails and
 *   the store refuses writes (never retried and trusted).
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DiskFullError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { encodeStored } from '../codec/values.js';
import type { Manifest } from '../manifest/manifest.js';
import type { StorageMetrics } from '../metrics/recorders.js';
import { runDetached } from '../lock/ordered-mutex.js';
import type { MemoryIndex } from '../memory/memory-index.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import { writeRun } from '../run/run-writer.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { removeSegmentsBelow } from '../wal/segment-files.js';
import type { Memtables, SealedMemtable } from './memtables.js';
import { NOT_RETAINED_BYTE } from './resolve.js';
import type { RunSet } from './run-set.js';

/** Wait before retrying a flush that ran out of disk space. */
export const FLUSH_RETRY_DELAY_MS = 200;

const NOT_RETAINED_VALUE = Uint8Array.of(NOT_RETAINED_BYTE);

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
  /** Records each installed flush's duration and run bytes. */
  metrics: StorageMetrics;
}

export interface FlushStats {
  flushes: number;
  flushedBytes: number;
  flushRetries: number;
  walSegmentsDeleted: number;
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
  #stats = { flushes: 0, flushedBytes: 0, flushRetries: 0, walSegmentsDeleted: 0 };
  #idleWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(config: FlusherConfig) {
    this.#config = config;
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  /** The disk-full error of the last flush attempt, until a flush succeeds. */
  get lastDiskFull(): DiskFullError | undefined {
    return this.#lastDiskFull;
  }

  stats(): FlushStats {
    return { ...this.#stats, failure: this.#failure };
  }

  /** Starts flushing if a sealed memtable waits and no flush runs. */
  schedule(): void {
    if (this.#running !== undefined || this.#retryTimer !== undefined || this.#failure !== undefined) return;
    if (this.#config.memtables.oldest() === undefined) return this.#wakeIdle();
    // Detached: the seal that schedules a flush runs inside the commit path's critical section.
    this.#running = runDetached(() => this.#drain()).finally(() => {
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
        if (error instanceof DiskFullError) {
          this.#lastDiskFull = error;
          this.#stats.flushRetries++;
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.schedule();
          }, FLUSH_RETRY_DELAY_MS);
          this.#retryTimer.unref();
          return this.#wakeIdle(error);
        }
        this.#failure = error instanceof Error ? error : new Error(String(error));
        return this.#wakeIdle(this.#failure);
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
  async flushOne(sealed: SealedMemtable): Promise<RunDescriptor> {
    assert(!this.#flushing, `memtable ${sealed.sequence} flushed while another flush runs`);
    this.#flushing = true;
    try {
      return await this.#flushOneAlone(sealed);
    } finally {
      this.#flushing = false;
    }
  }

  async #flushOneAlone(sealed: SealedMemtable): Promise<RunDescriptor> {
    const { fileSystem, runsDirectory, hash, manifest, runSet, memtables } = this.#config;
    const startedMs = performance.now();
    const runId = manifest.allocateRunId();
    const descriptor = await writeRun({
      fileSystem, runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 0, hash,
      entries: memtableEntries(sealed.index),
    });
    await manifest.apply({
      addRuns: [descriptor],
      nextRunId: runId + 1,
      flushedVersion: sealed.lastVersion,
      walStartSegment: sealed.walStartSegment,
      versionHighWater: Math.max(manifest.state.versionHighWater, sealed.lastVersion),
    });
    // Install: one synchronous step, re-checking that this is still the oldest memtable.
    runSet.install(descriptor);
    memtables.retireOldest(sealed);
    this.#lastDiskFull = undefined;
    this.#stats.flushes++;
    this.#stats.flushedBytes += descriptor.fileBytes;
    this.#config.metrics.recordFlush(startedMs, descriptor.fileBytes);
    this.#config.onProgress();
    // A seal's cut may still wait for its rotation (the disk was full): the writer's
    // segment is then below the memtable's WAL start, holds no later record, and is
    // left for a later flush or the next open to delete (never the open segment).
    const deleteBelow = Math.min(sealed.walStartSegment, this.#config.currentWalSegment());
    this.#stats.walSegmentsDeleted += (await removeSegmentsBelow(fileSystem, this.#config.walDirectory, deleteBelow)).length;
    return descriptor;
  }

  /** Stops retry timers; a running flush finishes (close waits for it through flushAll). */
  async close(): Promise<void> {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running?.catch(() => undefined);
  }
}

/**
 * A sealed memtable's entries in run order: key ascending, version descending; a
 * chain trimmed by retention ends with a NOT_RETAINED marker at its first version
 * (see resolve.ts), so the run still knows older versions existed.
 */
export function* memtableEntries(index: MemoryIndex): IterableIterator<RunEntry> {
  for (const [key, chain] of index.orderedChains()) {
    for (let position = chain.length - 1; position >= 0; position--) {
      const slot = chain.slotAt(position);
      yield { key, version: chain.versionAt(position), value: slot === TOMBSTONE ? undefined : encodeStored(slot) };
    }
    if (chain.trimmedBelow !== 0 && chain.firstVersion < chain.versionAt(0)) {
      yield { key, version: chain.firstVersion, value: NOT_RETAINED_VALUE };
    }
  }
}
