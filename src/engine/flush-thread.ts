/**
 * FlushThread: the main side of a store's flush thread (the worker is
 * flush-worker.ts). The flusher hands it a sealed memtable's entries and the run's
 * identity; this side walks the entries in order and packs them into chunks
 * (flush-chunks.ts) that are transferred to the thread, which runs writeRun (blocks,
 * filter, checksums, stripes and parity, writes, datasync) into the run's temporary
 * file and answers the descriptor and the sealed blocks kept for the block cache (the
 * messages: flush-protocol.ts). Everything before and after (run id, the temporary
 * file's rename and directory fsync through the store's fenced file system:
 * src/run/run-install.ts, manifest edit, install, retire, prepopulation, WAL deletion)
 * stays on the main thread in flusher.ts.
 *
 * - Its own thread, not the merge thread's: a merge may hold that one for seconds and
 *   it is niced, while a flush is on the write stall's critical path. Started at the
 *   first flush, referenced only while it flushes (an idle thread never keeps the
 *   process alive), ended by close() (terminate) or abandon(), and once it has had no
 *   flush for flushThreadSettings.idleMs (src/util/idle-end.ts): the next flush starts
 *   a new one.
 * - One flush at a time, asserted.
 * - Flow control: in key order at most FLUSH_CHUNKS_IN_FLIGHT chunks sent and not yet
 *   consumed (in arrival order the thread holds a key range's chunks until it has
 *   written the range, and nothing waits: flush-key-order.ts, a memtable of at most
 *   FLUSH_ARRIVAL_ORDER_BYTES_MAX); the packing yields to the event loop while it
 *   waits for the thread, and between stretches paced by PackingPace
 *   (flush-packing-pace.ts): a stretch ends once it has run as long as the loop's last
 *   turn of other work, at least FLUSH_PACK_STRETCH_MS_MIN, and never later than
 *   FLUSH_PACK_YIELD_ENTRIES entries. So a flush never holds the loop for long, under
 *   commits' short turns its stretches stay short (each one delays every commit in
 *   flight by its length: issue 12's p99), and a memtable's entries cross in bounded
 *   memory. The thread hands each consumed chunk's buffer back and the packing reuses
 *   it (flush-chunks.ts): a buffer is allocated only when none is spare, so in key
 *   order at most FLUSH_CHUNKS_IN_FLIGHT exist (in flight, being packed, spare),
 *   allocated by a thread's first flush; the next ones allocate none (a flush in
 *   arrival order allocates what its ranges need beyond the spares, and at most
 *   FLUSH_CHUNKS_IN_FLIGHT are kept).
 * - A thread that exits with a flush in flight (a crash, an out-of-memory, terminate)
 *   fails that flush with FlushThreadExited; the next flush starts a new thread. The
 *   flusher then writes that memtable in process (flusher.ts).
 * - Errors come back as the same classes with the same fields (merge-error.ts): a
 *   DiskFullError stays one, so the flusher's retry rule holds; the flusher removes the
 *   thread's partial file (src/run/run-install.ts).
 *
 * The worker is the compiled src/engine/flush-worker.js; running from the TypeScript
 * source (tests), it is taken from dist/ (build first; `npm test` does).
 * flushWorkerBuilt() is false when it is missing: the flusher then flushes in process.
 * Starting a thread, its heap bounds and the process's list of live ones:
 * flush-thread-workers.ts.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { deserializeError } from '../compaction/merge-error.js';
import { StoreClosedError } from '../errors.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { IdleEnd } from '../util/idle-end.js';
import { terminateWithin } from '../util/terminate-worker.js';
import { terminateSafely } from '../util/zlib-gate.js';
import { FLUSH_CHUNK_BYTES, FLUSH_CHUNKS_IN_FLIGHT, FlushChunkPacker } from './flush-chunks.js';
import type { ArrivalOrderEntries } from './memtable-entries.js';
import { PackingPace } from './flush-packing-pace.js';
import type { FlushFault, FlushJob, FlushMainToWorker, FlushOutcome, FlushWorkerToMain } from './flush-protocol.js';
import { flushThreadSettings, forgetFlushWorker, startFlushWorker } from './flush-thread-workers.js';

export { FLUSH_CHUNKS_IN_FLIGHT } from './flush-chunks.js';
export { FLUSH_PACK_CLOCK_CHECK_ENTRIES, FLUSH_PACK_STRETCH_MS_MIN, FLUSH_PACK_YIELD_ENTRIES, PackingPace } from './flush-packing-pace.js';
export type { FlushFault, FlushJob, FlushMainToWorker, FlushOutcome, FlushWorkerToMain, ReturnedBlock } from './flush-protocol.js';
export {
  FLUSH_THREAD_OLD_GENERATION_MB, FLUSH_THREAD_YOUNG_GENERATION_MB, flushThreadSettings, flushThreadsRunning, flushWorkerBuilt, terminateFlushThreads,
} from './flush-thread-workers.js';


/** The clock of a FlushThread's pacing (tests give their own). */
const monotonicNowMs = (): number => performance.now();

/**
 * Test hooks: `holdNextFlush` makes the next flush's thread stop after its writer
 * consumed the first chunk, call `onHeld` then, and wait until resumeHeldFlushes()
 * (or until it is terminated); `holdNextFlushBeforeCreate` the same, before the thread
 * checks the lock and creates its temporary file (a thread stalled across a takeover).
 */
export const flushThreadTestHooks: { holdNextFlush: boolean; holdNextFlushBeforeCreate: boolean; onHeld: (() => void) | undefined; failNextFlush: FlushFault | undefined } = {
  holdNextFlush: false, holdNextFlushBeforeCreate: false, onHeld: undefined, failNextFlush: undefined,
};

/** Resumers of the flushes held by `holdNextFlush` and not yet settled. */
const heldFlushes = new Set<() => void>();

/** Test hook: lets the `count` earliest held flushes (default: every one) go on (each completes normally). */
export function resumeHeldFlushes(count = Infinity): void {
  for (const resume of [...heldFlushes].slice(0, count)) resume();
}

/**
 * Flushes written by a flush thread (of them, those sent in arrival order:
 * flush-key-order.ts), flushes whose thread exited (written again in process by the
 * flusher), and chunk buffers allocated by the packing (the rest were handed back by
 * the thread: flush-chunks.ts), in this process.
 */
export const flushThreadCounters = { threadFlushes: 0, arrivalOrderFlushes: 0, threadExits: 0, chunkBuffersAllocated: 0 };

/**
 * The flush thread ended (terminated by close/abandon, or crashed) with a flush in flight.
 * Internal, so it has no `code`: the flusher catches it and writes the memtable in
 * process, or, on a handle abandoned as a dead process, fails the flush with
 * StoreClosedError (flusher.ts); it never reaches a caller (test/internal-errors.test.ts).
 */
export class FlushThreadExited extends Error {
  constructor(exitCode: number, cause: Error | undefined) {
    super(`the flush thread exited (code ${exitCode}) during a flush${cause === undefined ? '' : `: ${cause.message}`}`, { cause });
    this.name = 'FlushThreadExited';
  }
}

interface Pending {
  id: number;
  resolve: (outcome: FlushOutcome) => void;
  reject: (error: unknown) => void;
  settled: boolean;
  /** Chunks sent and not yet consumed. */
  inFlight: number;
  /** Woken when a chunk is consumed or the flush settles. */
  wake: (() => void) | undefined;
}

export class FlushThread {
  readonly #now: () => number;
  #worker: Worker | undefined;
  #pending: Pending | undefined;
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #idle = new IdleEnd();
  /** Chunk buffers the thread handed back, packed again before a new one is allocated (at most FLUSH_CHUNKS_IN_FLIGHT). */
  #spareChunks: ArrayBuffer[] = [];

  /** `now`: the pacing clock in ms (PackingPace; tests give a fake one). */
  constructor(now: () => number = monotonicNowMs) {
    this.#now = now;
  }

  /** True while a thread is running (started and not exited). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Writes the run of `entries` (run order, at least one; read synchronously between
   * yields, as memtableEntries requires) in the thread. `arrivalOrder`: the entries come
   * by key range, each range's keys in arrival order, each key's entries together in
   * run order (memtableEntriesInArrivalOrder), and the thread sorts each range's keys
   * (flush-key-order.ts). Rejects with the thread's error (same class), or FlushThreadExited.
   */
  async flush(job: FlushJob, entries: Iterator<RunEntry>): Promise<FlushOutcome>;
  async flush(job: FlushJob, entries: ArrivalOrderEntries, arrivalOrder: true): Promise<FlushOutcome>;
  async flush(job: FlushJob, entries: Iterator<RunEntry> | ArrivalOrderEntries, arrivalOrder = false): Promise<FlushOutcome> {
    if (this.#closed) throw new StoreClosedError('flush memtables (the flush thread is closed)');
    assert(this.#pending === undefined, 'one flush at a time in the flush thread');
    this.#idle.cancel();
    const worker = this.#start();
    const id = this.#nextId++;
    // Referenced while it flushes: a process awaiting only a checkpoint must not exit under it.
    worker.ref();
    const outcome = new Promise<FlushOutcome>((resolve, reject) => {
      const settle = (): void => {
        pending.settled = true;
        if (this.#pending === pending) this.#pending = undefined;
        if (this.#worker === worker) {
          worker.unref();
          if (!this.#closed) this.#idle.arm(flushThreadSettings.idleMs, () => this.#endIdle(worker));
        }
        pending.wake?.();
      };
      const pending: Pending = {
        id, settled: false, inFlight: 0, wake: undefined,
        resolve: (value) => { settle(); resolve(value); },
        reject: (error) => { settle(); reject(error); },
      };
      this.#pending = pending;
    });
    const pending = this.#pending as Pending | undefined;
    assert(pending !== undefined && pending.id === id, 'the flush is pending');
    outcome.catch(() => undefined); // observed below; the packing may stop early when it fails
    const holdAfterFirstChunk = flushThreadTestHooks.holdNextFlush;
    const holdBeforeCreate = flushThreadTestHooks.holdNextFlushBeforeCreate;
    const fault = flushThreadTestHooks.failNextFlush;
    flushThreadTestHooks.holdNextFlush = false;
    flushThreadTestHooks.holdNextFlushBeforeCreate = false;
    flushThreadTestHooks.failNextFlush = undefined;
    const resume = (): void => this.#post(worker, { type: 'resume', id });
    if (holdAfterFirstChunk || holdBeforeCreate) heldFlushes.add(resume);
    try {
      this.#post(worker, { type: 'begin', id, arrivalOrder, holdAfterFirstChunk, holdBeforeCreate, fault, ...job });
      try {
        await this.#sendEntries(worker, pending, entries, arrivalOrder);
      } catch (error) {
        // This side failed (an assertion over the memtable): the thread waits for chunks that
        // never come. End it (its temporary file is an orphan the next open removes).
        if (!pending.settled) pending.reject(error);
        if (this.#worker === worker) this.#worker = undefined; // the next flush starts a new thread
        void terminateSafely(worker);
      }
      if (!pending.settled) this.#post(worker, { type: 'end', id });
      const written = await outcome;
      if (arrivalOrder) flushThreadCounters.arrivalOrderFlushes++;
      return written;
    } finally {
      heldFlushes.delete(resume);
    }
  }

  /**
   * Packs and sends every entry, yielding as PackingPace says and (in key order) while
   * the thread is behind; stops early once the flush settled (failed). In arrival order
   * a key range's last chunk is marked (and holds no entry of the next range), and the
   * thread holds a range's chunks until it has written the range: waiting for them
   * would hold the next range's packing until then (the writer waited for the packing
   * and the packing for the writer: no overlap), so nothing waits, and the memory in
   * transit is at most the memtable's packed entries (flusher.ts bounds the memtables
   * sent so).
   */
  async #sendEntries(worker: Worker, pending: Pending, entries: Iterator<RunEntry> | ArrivalOrderEntries, arrivalOrder: boolean): Promise<void> {
    const packer = new FlushChunkPacker(() => this.#spareChunks.pop() ?? FlushThread.#newChunkBuffer());
    const pace = new PackingPace(this.#now);
    const ranges = arrivalOrder ? (entries as ArrivalOrderEntries) : undefined;
    let range = 0;
    let sent = 0;
    const behind = (): boolean => ranges === undefined && pending.inFlight >= FLUSH_CHUNKS_IN_FLIGHT && !pending.settled;
    /** `rangeEnd`: the chunk ends the key range being packed (arrival order; the thread then sorts the range). */
    const send = async (rangeEnd: boolean): Promise<void> => {
      const chunk = packer.take();
      this.#post(worker, { type: 'chunk', id: pending.id, chunk, rangeEnd }, [chunk.buffer]);
      sent++;
      pending.inFlight++;
      if (!behind()) return;
      pace.paused();
      while (behind()) {
        await new Promise<void>((resolve) => (pending.wake = resolve));
        pending.wake = undefined;
      }
      pace.resumed(false);
    };
    for (let next = entries.next(); next.done !== true; next = entries.next()) {
      const entry = next.value;
      if (ranges !== undefined && ranges.range !== range) {
        // The first entry of the next key range: the range before ends with the chunk packed so far.
        assert(ranges.range > range && packer.entryCount > 0, 'key ranges ascend, none empty');
        await send(true);
        range = ranges.range;
        if (pending.settled) return;
      }
      if (!packer.add(entry)) {
        await send(false);
        if (pending.settled) return;
        assert(packer.add(entry), 'an entry always fits an empty chunk');
      }
      if (!pace.packed()) continue;
      // Between entries: the entry is copied, and the sealed memtable does not change.
      pace.paused();
      await new Promise((resolve) => setImmediate(resolve));
      pace.resumed(true);
      if (pending.settled) return;
    }
    if (packer.entryCount > 0) await send(ranges !== undefined);
    assert(sent > 0 || pending.settled, 'a flushed memtable has at least one entry');
  }

  static #newChunkBuffer(): ArrayBuffer {
    flushThreadCounters.chunkBuffersAllocated++;
    return new ArrayBuffer(FLUSH_CHUNK_BYTES);
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startFlushWorker(); // unlisted on its exit before the listener below runs
    worker.on('message', (message: FlushWorkerToMain) => this.#onMessage(message));
    // An uncaught error ends the thread: 'exit' follows and fails the flush in flight with it.
    let crash: Error | undefined;
    worker.on('error', (error) => (crash = error));
    worker.on('exit', (exitCode) => {
      if (this.#worker !== worker) return; // ended on purpose and replaced: a flush in flight is another thread's
      this.#worker = undefined;
      const pending = this.#pending;
      if (pending !== undefined) {
        flushThreadCounters.threadExits++;
        pending.reject(new FlushThreadExited(exitCode, crash));
      }
    });
    this.#worker = worker;
    return worker;
  }

  #post(worker: Worker, message: FlushMainToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.#worker !== worker) return; // exited: the flush in flight has been failed
    worker.postMessage(message, transfer);
  }

  #onMessage(message: FlushWorkerToMain): void {
    const pending = this.#pending;
    if (pending === undefined || pending.id !== message.id) return;
    switch (message.type) {
      case 'consumed':
        pending.inFlight--;
        assert(pending.inFlight >= 0, 'the thread consumes only chunks it was sent');
        if (message.spare !== undefined && this.#spareChunks.length < FLUSH_CHUNKS_IN_FLIGHT) this.#spareChunks.push(message.spare);
        pending.wake?.();
        return;
      case 'held':
        flushThreadTestHooks.onHeld?.();
        return;
      case 'done':
        flushThreadCounters.threadFlushes++;
        pending.resolve({
          descriptor: message.descriptor, temporary: message.temporary === true,
          blocks: message.blocks.map((block) => ({ ...block, bytes: Buffer.from(block.bytes) })),
        });
        return;
      case 'failed':
        pending.reject(deserializeError(message.error));
        return;
    }
  }

  /** Ends `worker` if it is still this side's thread with no flush (IdleEnd); the next flush starts another. */
  async #endIdle(worker: Worker): Promise<void> {
    if (this.#worker !== worker || this.#pending !== undefined || this.#closed) return;
    this.#worker = undefined; // its exit is no flush's failure
    this.#spareChunks = [];
    if (await terminateWithin(worker, flushThreadSettings.terminateGraceMs)) forgetFlushWorker(worker);
  }

  /** Ends the thread (a flush in flight rejects); no flush starts afterwards. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#idle.cancel();
    this.#spareChunks = [];
    this.#closing ??= (async () => {
      await this.#idle.settled(); // an idle end under way: its thread is gone when close returns
      const worker = this.#worker;
      if (worker === undefined) return;
      // A thread blocked in a system call ends only when the call returns (terminate-worker.ts).
      const ended = await terminateWithin(worker, flushThreadSettings.terminateGraceMs);
      if (ended) {
        forgetFlushWorker(worker);
        return;
      }
      if (this.#worker === worker) this.#worker = undefined; // listed (flushThreadsRunning) until it exits
      this.#pending?.reject(new FlushThreadExited(-1, new Error(`the thread did not end within ${flushThreadSettings.terminateGraceMs} ms of terminate (blocked in a system call)`)));
    })();
    return this.#closing;
  }

  /** The store was dropped as a dead process: end the thread now, without waiting. */
  abandon(): void {
    void this.close();
  }
}
