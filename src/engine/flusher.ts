/**
 * The flusher: writes sealed memtables to run files, oldest first, and installs
 * each one; then the WAL segments the runs cover are deleted.
 *
 *   oldest sealed memtable -> writeRun (temp, datasync, rename, directory fsync),
 *      in the store's flush thread on the real file system (flush-thread.ts: this
 *      thread walks and packs the entries, the thread writes the same bytes)
 *   -> manifest edit (add run, flushed version, WAL start) under the manifest lock
 *   -> install: the run becomes visible and the memtable is retired, in one
 *      synchronous step (readers see one or the other, never neither)
 *   -> prepopulate the block cache with the run's blocks (below)
 *   -> delete WAL segments below the new WAL start, fsync the WAL directory
 *
 * Cache prepopulation (RocksDB's prepopulate_block_cache = kFlushOnly; issue 7's
 * hot gets): what was just written is likely to be read, so the flush keeps a copy
 * of the bytes of each data block it seals (exactly the bytes checksummed and
 * written) and decodes it as a read would, up to FLUSH_PREPOPULATE_CACHE_SHARE of
 * the cache's bound less what it holds when the flush starts (nothing while another
 * sealed memtable waits: writes outrun flushes, a bulk load, and the flush is the
 * bottleneck), plus the run's index and filter partitions. Once the run is
 * installed and its reader open, they go into the block cache under the key a read
 * uses (run id, offset): partitions first, then data blocks in key order, each only
 * while it fits in the free room and the cache is below that share. Prepopulation never evicts (hot blocks of other
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
 *   retried after FLUSH_RETRY_DELAY_MS; commits go on until the write stall.
 *   Never once close() began: the WAL keeps that memtable for the next open
 *   (a retry after close wrote a run after the directory lock was released).
 *   Any other failure (a failed fsync above all) is final: the flusher fails and
 *   the store refuses writes (never retried and trusted).
 * - A flush thread that exits under a flush (crash, out of memory, terminated) is not
 *   a failure of the flush: its run id's files are removed and the memtable is
 *   written in process under a new run id. An error the thread answers is the
 *   flush's own (same class, merge-error.ts), under the two rules above.
 * - Blocks are prepopulated only for a run still live at that moment (checked in
 *   the same synchronous step as the insertions), so a run replaced meanwhile by a
 *   compaction gets no entries.
 */
import { Buffer } from 'node:buffer';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DiskFullError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { encodeStored } from '../codec/values.js';
import type { Manifest } from '../manifest/manifest.js';
import type { StorageMetrics } from '../metrics/recorders.js';
import { runDetached } from '../lock/ordered-mutex.js';
import type { MemoryIndex } from '../memory/memory-index.js';
import { TOMBSTONE, type VersionChain } from '../memory/version-chain.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, type BlockCache } from '../run/block-cache.js';
import { decodeDataBlock, type DecodedBlock } from '../run/data-block.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import { runFileName } from '../run/run-format.js';
import type { CheckedBlock } from '../run/run-file.js';
import { decodeFilter, decodeIndexPartition, FILTER_PARTITION_OVERHEAD_BYTES } from '../run/run-metadata.js';
import type { RunReader } from '../run/run-reader.js';
import type { RunPartition } from '../run/run-partitions.js';
import { RUN_TEMPORARY_SUFFIX, writeRun, type SealedBlock } from '../run/run-writer.js';
import { KillableFileSystem } from '../fs/killable-file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { FlushThread, FlushThreadExited, flushWorkerBuilt } from './flush-thread.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { removeSegmentsBelow } from '../wal/segment-files.js';
import type { Memtables, SealedMemtable } from './memtables.js';
import type { PointCache } from './point-cache.js';
import { NOT_RETAINED_BYTE } from './resolve.js';
import type { RunHandle, RunSet } from './run-set.js';

/** Wait before retrying a flush that ran out of disk space. */
export const FLUSH_RETRY_DELAY_MS = 200;

/**
 * A flush prepopulates the block cache only while the cache is below this share of
 * its bound: flushed blocks are a guess at what will be read, blocks that reads
 * brought in are known to be; the rest of the room stays for them. (Filling the
 * whole cache during a 1M-key load at a 64 MiB budget raised peak RSS by ~45 MiB,
 * test/memory-budget.test.ts, and half of it still ~12 MiB there; a quarter left that
 * test's peak at 212-225 MiB against its 224 MiB bound and failed CI once. An eighth
 * still keeps the flush of the hot-get bench, ~13 MB at the 256 MiB default, cached.)
 */
export const FLUSH_PREPOPULATE_CACHE_SHARE = 0.125;

const NOT_RETAINED_VALUE = Uint8Array.of(NOT_RETAINED_BYTE);

/**
 * Starting the flush thread took 77-88 ms before its first run was written (a 10-key
 * flush in process: 2-11 ms; on the running thread: 5-6 ms; busy machine): a small
 * store's first flush (often the checkpoint of its close) would wait for that. Below
 * this estimated memtable size (~5-7k keys of 100 B: ~10-15 ms of main-thread
 * flushing) the first flushes stay in process; once a larger one started the thread,
 * every flush uses it. (4 MiB kept in process the ~3 MiB memtables that 64
 * concurrent writers seal at the WAL checkpoint bound at a 64 MiB budget.)
 */
export const FLUSH_THREAD_MIN_MEMTABLE_BYTES = 1024 * 1024;

/**
 * `flushThread` (internal, tests and the bench): 'worker' writes runs in the store's
 * flush thread when the file system is the real one and the worker is built
 * (Flusher#usesThread); 'main' always writes them on the main thread.
 * `threadMinMemtableBytes`: a memtable smaller than this is flushed in process unless
 * the thread already runs (FLUSH_THREAD_MIN_MEMTABLE_BYTES; tests lower it).
 */
export const flushSettings: { flushThread: 'worker' | 'main'; threadMinMemtableBytes: number } = {
  flushThread: 'worker',
  threadMinMemtableBytes: FLUSH_THREAD_MIN_MEMTABLE_BYTES,
};

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
  #stats = { flushes: 0, flushedBytes: 0, flushRetries: 0, walSegmentsDeleted: 0, prepopulatedBlocks: 0, threadFlushes: 0, flushThreadExits: 0 };
  #idleWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  /** Made at the first flush that uses it (usesThread), ended by close() or abandon(). */
  #thread: FlushThread | undefined;
  #abandoned = false;
  /** Set when close() begins: a flush that then fails disk full arms no retry (it would write a run after the directory lock was released). */
  #closed = false;

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
    // Started on the next turn of the event loop, not in the caller's step: the flush's
    // first synchronous stretch (sorting the memtable's waiting keys, packing or encoding the
    // first entries: 36-40 ms for a replayed memtable of 39k keys) then delays neither the
    // commit group whose record sealed nor an open that sealed its replayed memtable.
    this.#running = runDetached(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return this.#drain();
    }).finally(() => {
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
    const { fileSystem, runsDirectory, manifest, runSet, memtables } = this.#config;
    const startedMs = performance.now();
    let runId = manifest.allocateRunId();
    const cache = runSet.config.cache;
    // A backlog (another sealed memtable waits) means writes outrun flushes: a bulk load, not
    // data about to be read, and the flush is the bottleneck: no prepopulation then.
    const backlog = memtables.immutableCount > 1;
    const prepopulateBytes = Math.floor(cache.maxBytes * FLUSH_PREPOPULATE_CACHE_SHARE) - cache.bytes;
    const prepopulate = !backlog && prepopulateBytes > 0;
    let prepopulation = prepopulate ? new CachePrepopulation(joinPath(runsDirectory, runFileName(runId)), prepopulateBytes) : undefined;
    let descriptor: RunDescriptor;
    if (this.usesThread && (this.#thread?.running === true || sealed.memoryBytes >= flushSettings.threadMinMemtableBytes)) {
      try {
        descriptor = await this.#writeInThread(sealed, runId, prepopulation, prepopulateBytes);
      } catch (error) {
        if (!(error instanceof FlushThreadExited) || this.#abandoned) throw error;
        // The thread crashed or was ended under the flush: its output (temporary or renamed,
        // never in the manifest) is removed and the memtable is written in process, under a
        // new run id (the ended thread's last system call may still be returning).
        await fileSystem.unlink(joinPath(runsDirectory, runFileName(runId) + RUN_TEMPORARY_SUFFIX)).catch(() => undefined);
        await fileSystem.unlink(joinPath(runsDirectory, runFileName(runId))).catch(() => undefined);
        this.#stats.flushThreadExits++;
        runId = manifest.allocateRunId();
        prepopulation = prepopulate ? new CachePrepopulation(joinPath(runsDirectory, runFileName(runId)), prepopulateBytes) : undefined;
        descriptor = await this.#writeInProcess(sealed, runId, prepopulation);
      }
    } else {
      descriptor = await this.#writeInProcess(sealed, runId, prepopulation);
    }
    await manifest.apply({
      addRuns: [descriptor],
      nextRunId: runId + 1,
      flushedVersion: sealed.lastVersion,
      walStartSegment: sealed.walStartSegment,
      versionHighWater: Math.max(manifest.state.versionHighWater, sealed.lastVersion),
    });
    // Install: one synchronous step, re-checking that this is still the oldest memtable.
    const runsBefore = runSet.runs;
    const handle = runSet.install(descriptor);
    this.#config.pointCache?.carryOverFlush(runsBefore, runSet.runs, (key) => sealed.index.chain(key) !== undefined);
    memtables.retireOldest(sealed);
    this.#lastDiskFull = undefined;
    this.#stats.flushes++;
    this.#stats.flushedBytes += descriptor.fileBytes;
    this.#config.metrics.recordFlush(startedMs, descriptor.fileBytes);
    this.#config.onProgress();
    if (prepopulation !== undefined) this.#stats.prepopulatedBlocks += await prepopulation.insert(handle, runSet, cache);
    // A seal's cut may still wait for its rotation (the disk was full): the writer's
    // segment is then below the memtable's WAL start, holds no later record, and is
    // left for a later flush or the next open to delete (never the open segment).
    const deleteBelow = Math.min(sealed.walStartSegment, this.#config.currentWalSegment());
    this.#stats.walSegmentsDeleted += (await removeSegmentsBelow(fileSystem, this.#config.walDirectory, deleteBelow)).length;
    return descriptor;
  }

  /**
   * True when runs are written in the flush thread (flush-thread.ts): flushSettings
   * allows it, the worker is built and the file system is the real one (a
   * KillableFileSystem over a NodeFileSystem). The fault-injecting file systems of the
   * tests keep the in-process path, which every crash sweep covers. Read per flush.
   */
  get usesThread(): boolean {
    if (flushSettings.flushThread !== 'worker' || this.#abandoned) return false;
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
   * the order they were sealed, as an in-process write offers them.
   */
  async #writeInThread(sealed: SealedMemtable, runId: number, prepopulation: CachePrepopulation | undefined, prepopulateBytes: number): Promise<RunDescriptor> {
    this.#thread ??= new FlushThread();
    const { descriptor, blocks } = await this.#thread.flush(
      { runsDirectory: this.#config.runsDirectory, runId, generation: randomInt(1, 2 ** 32 - 1), level: 0, keepDataBytes: prepopulation === undefined ? -1 : prepopulateBytes },
      memtableEntries(sealed.index),
    );
    assert(prepopulation !== undefined || blocks.length === 0, 'the thread keeps blocks only for a prepopulation');
    for (const block of blocks) prepopulation?.offer(block, true);
    this.#stats.threadFlushes++;
    return descriptor;
  }

  /** Stops retry timers; a running flush finishes (close waits for it through flushAll); then the flush thread ends. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#running?.catch(() => undefined);
    await this.#thread?.close();
  }

  /**
   * The store was dropped as a dead process: the flush thread ends now (its output
   * is an orphan the next open removes); a flush in flight fails and is not written
   * again in process.
   */
  abandon(): void {
    this.#abandoned = true;
    this.#thread?.abandon();
  }
}

/**
 * A sealed memtable's entries in run order: key ascending, version descending; a
 * chain trimmed by retention ends with a NOT_RETAINED marker at its first version
 * (see resolve.ts), so the run still knows older versions existed.
 *
 * One entry object and one iterator result are reused for every entry (a fresh
 * object per version, a tuple per key and a generator's results were a flush's
 * garbage): each `next()` overwrites what the previous one returned. The run
 * writer copies what it keeps (the key string, the encoded bytes) before asking for
 * the next entry. REQUIRES of a consumer: nothing of an entry but its key string
 * and value bytes is kept past the next `next()`.
 */
export function memtableEntries(index: MemoryIndex): IterableIterator<RunEntry> {
  return new MemtableEntries(index);
}

class MemtableEntries implements IterableIterator<RunEntry> {
  readonly #index: MemoryIndex;
  readonly #appliedVersion: number;
  readonly #keys: readonly string[];
  readonly #chains: readonly VersionChain[];
  /** Index of the key being read (-1 before the first). */
  #keyIndex = -1;
  /** The chain being read, undefined between keys. */
  #chain: VersionChain | undefined;
  /** Next chain position to yield, newest first; -1: the NOT_RETAINED marker is next, if any. */
  #position = -1;
  readonly #entry: RunEntry = { key: '', version: 0, value: undefined };
  readonly #result: IteratorYieldResult<RunEntry> = { done: false, value: this.#entry };

  constructor(index: MemoryIndex) {
    this.#index = index;
    this.#appliedVersion = index.appliedVersion;
    const { keys, chains } = index.orderedKeysAndChains();
    assert(keys.length === chains.length, 'one chain per key');
    this.#keys = keys;
    this.#chains = chains;
  }

  [Symbol.iterator](): IterableIterator<RunEntry> {
    return this;
  }

  next(): IteratorResult<RunEntry> {
    const entry = this.#entry;
    for (;;) {
      const chain = this.#chain;
      if (chain !== undefined) {
        const position = this.#position--;
        if (position >= 0) {
          const slot = chain.slotAt(position);
          entry.version = chain.versionAt(position);
          entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
          return this.#result;
        }
        this.#chain = undefined;
        if (chain.trimmedBelow !== 0 && chain.firstVersion < chain.versionAt(0)) {
          entry.version = chain.firstVersion;
          entry.value = NOT_RETAINED_VALUE;
          return this.#result;
        }
      }
      const keyIndex = ++this.#keyIndex;
      if (keyIndex >= this.#keys.length) return { done: true, value: undefined };
      assert(this.#index.appliedVersion === this.#appliedVersion, 'no apply while a flush reads the memtable');
      const next = this.#chains[keyIndex]!;
      entry.key = this.#keys[keyIndex]!;
      const length = next.length;
      if (length === 1 && next.trimmedBelow === 0) {
        // Most keys of a load: one version, nothing trimmed (read from the chain's own fields).
        const slot = next.newest;
        entry.version = next.newestVersion;
        entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
        return this.#result;
      }
      this.#chain = next;
      this.#position = length - 1;
    }
  }
}

/**
 * What one flush offers the block cache: copies of the sealed data blocks, decoded
 * as a read decodes them, while their decoded sizes fit `roomBytes` (the cache's free
 * room when the flush started), and the index and filter partitions (the run's
 * metadata, a few percent of it), decoded once the reader is open. Memory: at most
 * `roomBytes` of data blocks plus the run's partitions, for the length of a flush.
 */
class CachePrepopulation {
  readonly #path: string;
  readonly #roomBytes: number;
  #dataBytes = 0;
  #dataFull = false;
  readonly #dataBlocks: Array<{ offset: number; block: DecodedBlock }> = [];
  readonly #indexPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];
  readonly #filterPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];

  constructor(path: string, roomBytes: number) {
    assert(roomBytes > 0, 'prepopulation has room');
    this.#path = path;
    this.#roomBytes = roomBytes;
  }

  /**
   * The writer's onBlockSealed: `sealed.bytes` are reused after this returns, so they
   * are copied, unless `owned` (blocks sent back by the flush thread are this flush's own).
   */
  readonly offer = (sealed: SealedBlock, owned = false): void => {
    const checked: CheckedBlock = { bytes: owned ? sealed.bytes : Buffer.from(sealed.bytes), payloadBytes: sealed.payloadBytes, entryCount: sealed.entryCount };
    if (sealed.kind === 'index') return void this.#indexPartitions.push({ offset: sealed.offset, checked });
    if (sealed.kind === 'filter') return void this.#filterPartitions.push({ offset: sealed.offset, checked });
    if (this.#dataFull) return;
    const block = decodeDataBlock(this.#path, sealed.offset, checked.bytes, checked.payloadBytes, checked.entryCount);
    this.#dataBytes += block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    if (this.#dataBytes > this.#roomBytes) {
      this.#dataFull = true;
      return;
    }
    this.#dataBlocks.push({ offset: sealed.offset, block });
  };

  /**
   * Opens the installed run's reader and, if the run is still live, inserts the
   * partitions and then the data blocks while each fits the cache's free room (never
   * evicting). Returns how many were inserted; 0 if the reader could not be opened.
   */
  async insert(handle: RunHandle, runSet: RunSet, cache: BlockCache): Promise<number> {
    let reader: RunReader;
    try {
      reader = await handle.reader();
    } catch {
      return 0; // best effort: the first read opens the run again and reports what failed
    }
    // One synchronous step from here: the run cannot be replaced (and its blocks dropped) in between.
    if (!runSet.runs.includes(handle)) return 0;
    const top = reader.topLevelIndex;
    assert(top !== undefined && top.count === this.#indexPartitions.length && top.count === this.#filterPartitions.length, 'a flushed run is format 3 with every partition offered');
    const runId = handle.descriptor.runId;
    let inserted = 0;
    for (let number = 0; number < top.count; number++) {
      const { offset: filterOffset, checked: filterChecked } = this.#filterPartitions[number]!;
      assert(top.filterOffset(number) === filterOffset, 'filter partitions offered in file order');
      const filter = decodeFilter(reader.path, filterOffset, filterChecked, top.keyCount(number));
      if (cache.insertPartitionIfRoom(runId, filterOffset, filter, FILTER_PARTITION_OVERHEAD_BYTES + filter.bits.byteLength)) inserted++;
      const { offset: indexOffset, checked: indexChecked } = this.#indexPartitions[number]!;
      assert(top.indexOffset(number) === indexOffset, 'index partitions offered in file order');
      const partition: RunPartition = { index: decodeIndexPartition(reader.path, top, number, indexChecked), number, firstBlock: top.firstBlock(number) };
      if (cache.insertPartitionIfRoom(runId, indexOffset, partition, partition.index.memoryBytes)) inserted++;
    }
    const limitBytes = Math.floor(cache.maxBytes * FLUSH_PREPOPULATE_CACHE_SHARE);
    for (const { offset, block } of this.#dataBlocks) {
      if (cache.bytes >= limitBytes || !cache.insertIfRoom(runId, offset, block)) break;
      inserted++;
    }
    return inserted;
  }
}
