/**
 * CompressionPool: compresses block payloads in piscina worker threads, so writing
 * a cold (compressed) run does not stall the event loop.
 *
 * The worker is the compiled src/run/compression-worker.js, which each thread loads
 * through the CommonJS entry compression-worker-entry.cjs (why: that file's header; a
 * pool closed while a thread booted aborted the process). When this module runs from
 * its TypeScript source (the test runner), the worker is taken from the build
 * (dist/src/run/): build first (`npm test` does).
 *
 * Invariants: at most `threads` workers (bounded by COMPRESSION_THREADS_MAX); a
 * task's payloads are copied into a buffer of the task's own (moved to the worker,
 * not cloned), so the caller may reuse its buffers at once; after close() every
 * compress() rejects.
 *
 * Batches: compressBatch sends several payloads in one task (one postMessage each
 * way) and resolves with their compressed bytes in the same order, the same bytes
 * as compressing each alone. Since run format 4 a cold block holds ~4 KiB, which
 * deflates in a few microseconds: one task per block spent most of a cold write in
 * piscina's per-task round trip. The run writer batches up to
 * COMPRESSION_BATCH_BLOCKS_MAX blocks or COMPRESSION_BATCH_BYTES_MAX bytes.
 *
 * ColdTierCompressor is what a store uses (the compactor's cold-tier output): it
 * starts its pool on the first compressed block (a store that never writes a cold
 * run starts no thread), ends it once no batch has come for
 * compressionPoolSettings.idleMs (src/util/idle-end.ts, as the flush and merge
 * threads end: piscina keeps its first thread for the pool's life, and a store that
 * wrote one cold run kept an idle isolate and its malloc arena for good), starting a
 * new one with the next batch, counts bytes in and out (the compression ratio in
 * stats), and compresses inline only when no built worker exists (tests run from
 * source without a build). A store dropped as a dead process (store[abandonStore]) abandons
 * it: the threads are destroyed at once and a compression still asked for (a
 * compaction racing the drop), or in flight then, fails with StoreClosedError instead
 * of starting them again.
 *
 * Thread deaths: a pool thread that ends with a task on it (a crash, its heap
 * exhausted, an exit) makes piscina reject the task with a plain Error (no code). A
 * thread that fails while it starts, with no task on it, makes piscina emit 'error' on
 * the pool (CompressionPool listens: an 'error' with no listener is the embedding
 * process's uncaught exception) and start no more threads, so tasks queued for that
 * thread wait forever (the merge, then close(), would hang). ColdTierCompressor
 * therefore retires a pool at the first such death (destroyed: whatever it still held
 * rejects) and compresses every batch it failed on the calling thread (compression is
 * a pure function of the payload: the same bytes), so the merge goes on as it does
 * when the merge thread dies; the next batch starts a new pool, and past
 * COMPRESSION_POOL_RESTARTS_MAX deaths the store compresses inline for good. Deaths
 * are counted (stats().storage.compressionThreadExits).
 *
 * Every pool not yet closed is listed (livePools), so tests can check that no
 * handle, closed or abandoned, leaves threads behind (compressionThreadsRunning).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { StoreClosedError } from '../errors.js';
import { assert } from '../util/assert.js';
import { IdleEnd } from '../util/idle-end.js';
import { newZlibGate, stopZlibGate } from '../util/zlib-gate.js';
import { BACKGROUND_THREAD_NICE_DEFAULT } from '../util/thread-priority.js';
import { compressPayload } from './block-compression.js';
import type { RunCompressionValue } from './run-format.js';
import { decodeBatchResult, type CompressionTask, type CompressionWorkerData } from './compression-worker.js';

export const COMPRESSION_THREADS_DEFAULT = 2;
export const COMPRESSION_THREADS_MAX = 16;
/**
 * How long a pool thread beyond the first stays alive with nothing to do. Piscina's
 * default (0) ends an idle thread at once, so a merge that waits on its in-flight
 * compressions between blocks started and stopped a worker thread for about every
 * block: a 1M-key cold merge took 54 s, 6 s with threads kept.
 */
export const COMPRESSION_THREAD_IDLE_MS = 10_000;

/**
 * `idleMs`: how long a ColdTierCompressor keeps its pool (all its threads) with no
 * batch (IdleEnd); the next batch starts a new pool. Tests shorten it.
 */
export const compressionPoolSettings: { idleMs: number } = { idleMs: COMPRESSION_THREAD_IDLE_MS };

/**
 * Most blocks in one compressBatch task (the run writer's batches). 8 packed blocks
 * are ~32 KiB of entries: a few hundred microseconds of deflate per task, so a task's
 * fixed cost is small beside it, while a batch still keeps both threads busy.
 */
export const COMPRESSION_BATCH_BLOCKS_MAX = 8;
/**
 * Compression pools a ColdTierCompressor replaces after a thread died in them; past
 * this many deaths it compresses on the calling thread for good (a thread that keeps
 * dying, a heap too small for it, would cost a new pool per batch).
 */
export const COMPRESSION_POOL_RESTARTS_MAX = 2;

/** A batch is sent once it holds this many payload bytes (bounds a batch of large blocks). */
export const COMPRESSION_BATCH_BYTES_MAX = 64 * 1024;

/**
 * A pool thread's heap bounds (MiB), as the flush and merge threads have theirs. A
 * task's objects are few (the payloads and results are off-heap), but each
 * compression's zlib stream holds native memory in the thread's malloc arena until the
 * stream object is collected, and with V8's default young generation (grown up to
 * 16 MiB a semi-space) that waited for many tasks. bench/large/compression-pool-memory
 * (2 threads, 4 batches of 8 deflated 4 KiB blocks in flight, 96,000 blocks; 3
 * alternated runs, busy, load 15-17): peak RSS 200-209 MiB with V8's defaults, of
 * which the threads' malloc arenas 76-83, against 150-153 and 45-48 with these bounds;
 * 3,500-5,400 blocks/s against 5,000-6,800. A thread that exhausts them ends, and
 * ColdTierCompressor compresses its batch inline (header).
 */
export const COMPRESSION_THREAD_OLD_GENERATION_MB = 32;
export const COMPRESSION_THREAD_YOUNG_GENERATION_MB = 2;

/** What writeRun needs: compress one payload, in order or not (the writer keeps the order). */
export interface BlockCompressor {
  compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array>;
  /**
   * Compresses several payloads in one task, results in the payloads' order (the
   * same bytes as compress() of each). Present when a task has a cost of its own
   * (a thread pool); the writer then keeps up to `parallelism` batches in flight.
   */
  compressBatch?(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]>;
  /** Compressions the writer may keep in flight at once. */
  readonly parallelism: number;
}

/** Where the compiled worker is (it may be missing when running from source before a build). */
function builtWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here.replace(/compression-pool\.js$/, 'compression-worker-entry.cjs');
  return here.replace(/\/src\/run\/compression-pool\.ts$/, '/dist/src/run/compression-worker-entry.cjs');
}

export function compressionWorkerPath(): string {
  const built = builtWorkerPath();
  assert(existsSync(built), `the compression worker is built (${built}): run npm run build`);
  return built;
}

/** Pools whose threads may still run: added when made, removed once destroy() has finished. */
const livePools = new Set<CompressionPool>();
/** The close of every pool and cold-tier compressor closing now (compressionPoolsSettled awaits them). */
const closingPools = new Set<Promise<void>>();

/** Worker threads of every CompressionPool in this process that is not fully closed (tests). */
export function compressionThreadsRunning(): number {
  let threads = 0;
  for (const pool of livePools) threads += pool.threadCount;
  return threads;
}

/** Resolves once every pool closing now has destroyed its threads (tests). */
export async function compressionPoolsSettled(): Promise<void> {
  await Promise.all(closingPools);
}

export class CompressionPool implements BlockCompressor {
  readonly #pool: Piscina<CompressionTask, Uint8Array>;
  /** Shared by the pool's threads: destroy() (which terminates them) waits until none is inside a zlib call (src/util/zlib-gate.ts). */
  readonly #zlibGate = newZlibGate();
  readonly parallelism: number;
  #closed = false;
  #closing: Promise<void> | undefined;
  #threadErrors = 0;

  /**
   * `onThreadError`: told when a thread failed with no task on it (see the header).
   * `nice`: how far each thread lowers its CPU priority (the store's backgroundThreadNice).
   */
  constructor(threads = COMPRESSION_THREADS_DEFAULT, onThreadError?: (error: Error) => void, nice = BACKGROUND_THREAD_NICE_DEFAULT) {
    if (!Number.isInteger(threads) || threads < 1 || threads > COMPRESSION_THREADS_MAX) {
      throw new RangeError(`compression threads must be an integer in 1..${COMPRESSION_THREADS_MAX}, got ${threads}`);
    }
    this.#pool = new Piscina<CompressionTask, Uint8Array>({
      filename: compressionWorkerPath(), minThreads: 1, maxThreads: threads, idleTimeout: COMPRESSION_THREAD_IDLE_MS,
      workerData: { nice, zlibGate: this.#zlibGate } satisfies CompressionWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: COMPRESSION_THREAD_OLD_GENERATION_MB, maxYoungGenerationSizeMb: COMPRESSION_THREAD_YOUNG_GENERATION_MB },
    });
    // A thread that failed with no task on it: piscina emits it here, and an 'error' with
    // no listener would be thrown as the process's uncaught exception.
    this.#pool.on('error', (error: Error) => {
      this.#threadErrors++;
      onThreadError?.(error);
    });
    this.parallelism = threads * 2;
    livePools.add(this);
  }

  /** Threads that failed with no task on them (piscina's 'error' event; see the header). */
  get threadErrors(): number {
    return this.#threadErrors;
  }

  /** Worker threads running now (0 once close() has finished). */
  get threadCount(): number {
    return this.#pool.threads.length;
  }

  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    const [compressed] = await this.compressBatch(compression, [payload]);
    assert(compressed !== undefined, 'a batch of one has one result');
    return compressed;
  }

  async compressBatch(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    assert(!this.#closed, 'compression pool used after close');
    assert(payloads.length > 0, 'a batch holds a payload');
    let inputBytes = 0;
    for (const payload of payloads) inputBytes += payload.length;
    // A buffer of the task's own (never Buffer's shared pool), so it moves to the worker whole.
    const input = new Uint8Array(inputBytes);
    const lengths: number[] = [];
    let offset = 0;
    for (const payload of payloads) {
      input.set(payload, offset);
      offset += payload.length;
      lengths.push(payload.length);
    }
    const output = await this.#pool.run({ compression, input, lengths }, { transferList: [input.buffer] });
    const parts = decodeBatchResult(output, payloads.length);
    assert(parts.length === payloads.length, 'one result per payload');
    return parts;
  }

  /**
   * Destroys the threads (tasks in flight reject) once none is inside a zlib call (a
   * compression in flight finishes first; later ones in the same task throw).
   * Idempotent: every call awaits the same destroy.
   */
  async close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    const pool = this.#pool;
    const closing = stopZlibGate(this.#zlibGate).then(() => pool.destroy()).finally(() => {
      livePools.delete(this);
      closingPools.delete(closing);
    });
    this.#closing = closing;
    closingPools.add(closing);
    return closing;
  }
}

/** Compresses on the calling thread (small runs, tests, no pool). */
export class InlineCompressor implements BlockCompressor {
  readonly parallelism = 1;
  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    return compressPayload(compression, payload);
  }
}

/** Bytes through a ColdTierCompressor since it was made (stats().storage.tiers). */
export interface CompressionCounters {
  blocks: number;
  inputBytes: number;
  outputBytes: number;
}

/** The store's compressor for cold runs: a lazily started pool, with byte counters (see the header). */
export class ColdTierCompressor implements BlockCompressor {
  readonly parallelism: number;
  readonly #threads: number;
  readonly #nice: number;
  #inner: BlockCompressor | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #abandoned = false;
  #threadExits = 0;
  /** Retired pools whose threads are being destroyed (close() waits for them). */
  readonly #retiring = new Map<CompressionPool, Promise<void>>();
  readonly #counters: CompressionCounters = { blocks: 0, inputBytes: 0, outputBytes: 0 };
  /** Ends the pool once no batch has come for compressionPoolSettings.idleMs (see the header). */
  readonly #idle = new IdleEnd();
  /** Batches given to a pool and not yet settled. */
  #batchesInFlight = 0;

  /** `nice`: how far the pool's threads lower their CPU priority (the store's backgroundThreadNice). */
  constructor(threads = COMPRESSION_THREADS_DEFAULT, nice = BACKGROUND_THREAD_NICE_DEFAULT) {
    if (!Number.isInteger(threads) || threads < 1 || threads > COMPRESSION_THREADS_MAX) {
      throw new RangeError(`compression threads must be an integer in 1..${COMPRESSION_THREADS_MAX}, got ${threads}`);
    }
    this.#threads = threads;
    this.#nice = nice;
    this.parallelism = threads * 2;
  }

  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    const [compressed] = await this.compressBatch(compression, [payload]);
    assert(compressed !== undefined, 'a batch of one has one result');
    return compressed;
  }

  async compressBatch(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    if (this.#abandoned) throw new StoreClosedError('compress a cold-tier block (the store was abandoned)');
    assert(!this.#closed, 'cold-tier compressor used after close');
    this.#idle.cancel();
    if (this.#inner === undefined) {
      if (existsSync(builtWorkerPath())) {
        const pool: CompressionPool = new CompressionPool(this.#threads, () => this.#retire(pool), this.#nice);
        this.#inner = pool;
      } else {
        this.#inner = new InlineCompressor();
      }
    }
    let inputBytes = 0;
    for (const payload of payloads) inputBytes += payload.length;
    const inner = this.#inner;
    let compressed: Uint8Array[];
    if (inner instanceof CompressionPool) {
      this.#batchesInFlight++;
      try {
        compressed = await this.#pooled(inner, compression, payloads);
      } finally {
        // The pool now current (a retired one's replacement, too) ends once no batch is on any.
        const current = this.#inner;
        if (--this.#batchesInFlight === 0 && current instanceof CompressionPool && !this.#closed) this.#idle.arm(compressionPoolSettings.idleMs, () => this.#endIdle(current));
      }
    } else {
      compressed = await Promise.all(payloads.map((payload) => inner.compress(compression, payload)));
    }
    this.#counters.blocks += compressed.length;
    this.#counters.inputBytes += inputBytes;
    for (const part of compressed) this.#counters.outputBytes += part.length;
    return compressed;
  }

  /**
   * The batch compressed by the pool; when its task fails (its thread died: see the
   * header), compressed here instead, unless the pool was closed or abandoned under it.
   */
  async #pooled(pool: CompressionPool, compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    try {
      return await pool.compressBatch(compression, payloads);
    } catch (error) {
      if (this.#abandoned || this.#closed) throw new StoreClosedError('compress a cold-tier block (the compression pool was closed)', { cause: error });
      this.#retire(pool);
      // A failure of the compression itself (not of its thread) throws here the same way.
      return payloads.map((payload) => compressPayload(compression, payload));
    }
  }

  /** A thread of `pool` died: destroy it (the batches it holds fail and are compressed here); the next batch makes a new one, or inline past the bound. */
  #retire(pool: CompressionPool): void {
    if (this.#inner !== pool || this.#closed) return; // retired already (another batch of it failed first), or closing
    this.#threadExits++;
    this.#inner = this.#threadExits > COMPRESSION_POOL_RESTARTS_MAX ? new InlineCompressor() : undefined;
    this.#retiring.set(pool, pool.close().finally(() => this.#retiring.delete(pool)));
  }

  /** Ends `pool` if it is still the current one with no batch on it (IdleEnd); the next batch starts another. */
  async #endIdle(pool: CompressionPool): Promise<void> {
    if (this.#inner !== pool || this.#batchesInFlight > 0 || this.#closed) return;
    this.#inner = undefined;
    const closing = pool.close().finally(() => this.#retiring.delete(pool));
    this.#retiring.set(pool, closing);
    await closing;
  }

  /** Pools retired after a thread died in them, counted once each (see the header). */
  get threadExits(): number {
    return this.#threadExits;
  }

  /** True while a worker pool runs (not before the first cold block, after an idle end until the next, nor without a built worker). */
  get pooled(): boolean {
    return this.#inner instanceof CompressionPool;
  }

  counters(): CompressionCounters {
    return { ...this.#counters };
  }

  /** Counts blocks compressed elsewhere for this store (the compactor's merge thread compresses inline). */
  recordCompressed(counters: CompressionCounters): void {
    this.#counters.blocks += counters.blocks;
    this.#counters.inputBytes += counters.inputBytes;
    this.#counters.outputBytes += counters.outputBytes;
  }

  /** Ends the pool and every retired one; listed at once among the closings compressionPoolsSettled awaits. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#idle.cancel();
    const closing = this.#closeThreads().finally(() => closingPools.delete(closing));
    closingPools.add(closing);
    this.#closing = closing;
    return closing;
  }

  async #closeThreads(): Promise<void> {
    await this.#idle.settled(); // an idle end under way: its threads are gone when close returns
    if (this.#inner instanceof CompressionPool) await this.#inner.close();
    await Promise.all(this.#retiring.values());
  }

  /**
   * The store was dropped as a dead process: destroy the threads now (without
   * waiting for the compactor, which may still be merging) and refuse later blocks.
   */
  abandon(): Promise<void> {
    this.#abandoned = true;
    return this.close();
  }
}
