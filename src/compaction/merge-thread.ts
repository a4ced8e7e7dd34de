/**
 * MergeThread: the main side of a store's merge thread (the worker is
 * merge-worker.ts). The compactor hands it a decided merge (inputs, rule, run id,
 * generation, level, compression) and gets back the output's descriptor and the
 * merge counters; the thread writes the output's temporary file only, and everything
 * before and after (the pick, the horizon, the abort checks, the output's rename and
 * directory fsync through the store's fenced file system: src/run/run-install.ts, the
 * manifest edit, the install, the unlinks) stays on the main thread.
 *
 * - One thread per merge slot of a store (the compactor's second, shallow slot has its
 *   own, ended when its merge settles), started at the first merge that uses it, referenced only while
 *   it merges (an idle thread never keeps the process alive), ended by close() (terminate) or abandon(),
 *   and once it has had no merge for mergeThreadSettings.idleMs (src/util/idle-end.ts): the next merge
 *   starts a new one.
 *   A thread that exits (a crash, an out-of-memory) fails the running merge with
 *   MergeThreadExited, which never leaves MergeOutput#write: it merges again in process
 *   under a new run id (up to MERGE_THREAD_RESTARTS_MAX times per store, then every merge
 *   stays in process); the next merge starts a new thread. After close()/abandon() the
 *   merge in flight rejects with StoreClosedError (the exit as its cause) instead.
 * - One merge at a time per thread, asserted.
 * - Process-wide bound (merge-thread-slots.ts): a thread takes one of the process's
 *   merge thread slots before it starts and gives it back at its exit, so the live merge
 *   threads of all stores stay within mergeThreadSlotSettings.max. A merge that finds
 *   none free waits its turn (FIFO across stores) with no thread; its abort signal or
 *   close() ends the wait at once. While merges wait, an idle thread ends at once
 *   (reclaim; its merge settling) instead of after idleMs, giving its slot to the first.
 * - Cancel: the merge's signal posts 'cancel'; the thread stops at its next merge yield
 *   and answers 'cancelled' (MergeOutput removes its temporary output); merge() then rejects with the
 *   signal's reason, as the in-process merge does. close() terminates the thread even
 *   if it never answers, so close cannot hang on it.
 * - Errors come back as the same classes with the same fields (merge-error.ts).
 * - Compressed blocks are compressed in the thread; the bytes in and out come back
 *   with the run (MergeOutcome.compressed) for the store's tier stats.
 * - Priority: the thread lowers its own CPU priority by the store's backgroundThreadNice
 *   (workerData; src/util/thread-priority.ts), so commits and reads run first on contended cores.
 *
 * The worker is the compiled src/compaction/merge-worker.js; running from the
 * TypeScript source (tests), it is taken from dist/ (build first; `npm test` does).
 * mergeWorkerBuilt() is false when it is missing: the compactor then merges in process.
 * Every live thread is listed, so tests can assert that none outlives its store
 * (mergeThreadsRunning).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreClosedError } from '../errors.js';
import type { CompressionCounters } from '../run/compression-pool.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { RunCompressionName } from '../run/run-format.js';
import { assert } from '../util/assert.js';
import { IdleEnd } from '../util/idle-end.js';
import { terminateWithin } from '../util/terminate-worker.js';
import { newZlibGate, registerZlibGate, terminateSafely } from '../util/zlib-gate.js';
import { BACKGROUND_THREAD_NICE_DEFAULT } from '../util/thread-priority.js';
import { deserializeError } from './merge-error.js';
import { mergeThreadSlots, type SlotLease, type SlotWait, slotWaitClosed } from './merge-thread-slots.js';
import type { MergeCounters } from './merge-runs.js';
import type { MainToWorker, MergeRequest, MergeWorkerData, WorkerToMain } from './merge-worker.js';
import type { VersionGcRule } from './version-gc.js';

/** Entries read between two progress messages (compact()'s progress bar). */
export const MERGE_PROGRESS_ENTRIES = 16_384;
/**
 * The merge thread's heap bounds (MiB). A merge holds a few decoded blocks per input
 * and the output's index and filter partitions: 7-8 MiB of heap in use measured after
 * each merge of a 1M-key load. A small young generation collects the short-lived
 * blocks (and their off-heap bytes) often; the load's peak RSS is bounded by
 * test/memory-budget.test.ts.
 */
export const MERGE_THREAD_OLD_GENERATION_MB = 32;
export const MERGE_THREAD_YOUNG_GENERATION_MB = 2;

/**
 * Merge threads that may exit mid-merge (a crash, MERGE_THREAD_OLD_GENERATION_MB
 * exhausted) and be replaced by a fresh one, per store: each such merge is done again in
 * process (merge-output.ts); past this many exits the store merges in process for good,
 * rather than restart a thread that keeps dying (a merge whose inputs need more heap
 * than the thread has would kill every new one).
 */
export const MERGE_THREAD_RESTARTS_MAX = 2;

/**
 * Test hooks: `holdNextMerge` holds the next merge sent to a thread after its first
 * progress message until it is cancelled or resumed (resumeHeldMerges) (consumed by
 * that merge; later ones run through); `holdNextMergeBeforeCreate` the same, once the
 * thread merged its first batch and before it checks the lock and creates its output
 * (a thread stalled across a takeover), its hold said by a progress message;
 * with `ignoreCancel` that merge never answers the cancel (a stuck thread); `onHeld` is
 * called when the held merge's first progress message arrives (a background merge has
 * no progress callback of its own).
 */
export const mergeThreadTestHooks: { holdNextMerge: boolean; holdNextMergeBeforeCreate: boolean; ignoreCancel: boolean; onHeld?: (() => void) | undefined } = {
  holdNextMerge: false, holdNextMergeBeforeCreate: false, ignoreCancel: false,
};

/** Resumers of the merges held by `holdNextMerge` and not yet settled. */
const heldMerges = new Set<() => void>();

/** Test hook: lets every merge held by `holdNextMerge` run on (it completes normally). */
export function resumeHeldMerges(): void {
  for (const resume of [...heldMerges]) resume();
}

/**
 * `cancelGraceMs`: how long Compactor#close waits for the thread to answer a cancel
 * before terminating it (a thread stuck in a hung disk's fsync cannot hang close).
 * `terminateGraceMs`: how long close() then waits for the terminated thread to exit: a
 * thread blocked in a system call (a hung disk) exits only when the call returns; past
 * this the merge in flight fails without it and close() returns. `idleMs`: how long the
 * thread lives with no merge (IdleEnd). Tests shorten them.
 */
export const mergeThreadSettings: { cancelGraceMs: number; terminateGraceMs: number; idleMs: number } = { cancelGraceMs: 5_000, terminateGraceMs: 5_000, idleMs: 10_000 };

/**
 * The merge thread ended (terminated, or crashed) with a merge in flight, the thread not
 * closed. Internal, so it has no `code`: MergeOutput#write merges again in process (or
 * rethrows the cancel's reason); it never reaches a caller. Once close()/abandon() ran,
 * the merge rejects with StoreClosedError carrying it as the cause.
 */
export class MergeThreadExited extends Error {
  constructor(exitCode: number, cause: Error | undefined) {
    super(`the merge thread exited (code ${exitCode}) during a merge${cause === undefined ? '' : `: ${cause.message}`}`, { cause });
    this.name = 'MergeThreadExited';
  }
}

export interface MergeJob {
  runsDirectory: string;
  /** Newest first. */
  inputs: RunDescriptor[];
  rule: VersionGcRule;
  runId: number;
  generation: number;
  level: number;
  compression: RunCompressionName;
  /** The store's lock file: the thread confirms the lock against it before creating its output (src/run/run-install.ts confirmThreadCreate). */
  lockPath?: string | undefined;
}

export interface MergeOutcome {
  descriptor: RunDescriptor | undefined;
  /**
   * The output is still `<id>.tmp`, for the main thread to install (src/run/run-install.ts).
   * False only from a worker built before that protocol, which renamed it itself.
   */
  temporary: boolean;
  counters: MergeCounters;
  /** Blocks compressed in the thread (cold-tier output), and their bytes in and out. */
  compressed: CompressionCounters;
}

function builtWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here.replace(/merge-thread\.js$/, 'merge-worker.js');
  return here.replace(/\/src\/compaction\/merge-thread\.ts$/, '/dist/src/compaction/merge-worker.js');
}

/** True when the compiled worker exists (false running from source before a build). */
export function mergeWorkerBuilt(): boolean {
  return existsSync(builtWorkerPath());
}

/** Worker threads started by any MergeThread in this process and not yet exited. */
const liveThreads = new Set<Worker>();
/** The slot each thread holds (merge-thread-slots.ts). */
const leases = new WeakMap<Worker, SlotLease>();

/** Merge threads running in this process (tests: none outlives a closed or abandoned store). */
export function mergeThreadsRunning(): number {
  return liveThreads.size;
}

/** Test hook: terminates every merge thread of the process (a thread that dies mid-merge). */
export async function terminateMergeThreads(): Promise<void> {
  await Promise.all([...liveThreads].map((worker) => terminateSafely(worker)));
}

interface Pending {
  id: number;
  resolve: (outcome: MergeOutcome) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal;
  onProgress: ((entriesRead: number) => void) | undefined;
  /** Held by `holdNextMerge` and its first progress not seen yet (mergeThreadTestHooks.onHeld). */
  heldUnseen: boolean;
}

export class MergeThread {
  #worker: Worker | undefined;
  #pending: Pending | undefined;
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #idle = new IdleEnd();
  /** The slot the running thread holds (merge-thread-slots.ts), given back at its exit. */
  #lease: SlotLease | undefined;
  /** A merge's wait for a slot (no thread runs meanwhile). */
  #slotWait: SlotWait | undefined;
  /** An end of the idle thread asked by a waiting merge of another store (reclaim), under way. */
  #reclaiming: Promise<void> | undefined;
  /** How far the thread lowers its own CPU priority (the store's backgroundThreadNice; src/util/thread-priority.ts). */
  readonly #nice: number;

  constructor(nice = BACKGROUND_THREAD_NICE_DEFAULT) {
    this.#nice = nice;
  }

  /** The merge of `job` in the thread (see the header for cancel and errors). */
  async merge(job: MergeJob, signal: AbortSignal, onProgress: ((entriesRead: number) => void) | undefined): Promise<MergeOutcome> {
    if (this.#closed) throw new StoreClosedError('merge runs (the merge thread is closed)');
    assert(this.#pending === undefined && this.#slotWait === undefined, 'one merge at a time in the merge thread');
    signal.throwIfAborted();
    this.#idle.cancel();
    if (this.#worker === undefined) await this.#takeSlot(signal);
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<MergeOutcome>((resolve, reject) => {
      const onAbort = (): void => this.#post(worker, { type: 'cancel', id });
      signal.addEventListener('abort', onAbort, { once: true });
      const holdBeforeCreate = mergeThreadTestHooks.holdNextMergeBeforeCreate;
      const held = mergeThreadTestHooks.holdNextMerge || holdBeforeCreate;
      const resume = (): void => this.#post(worker, { type: 'resume', id });
      if (held) heldMerges.add(resume);
      // Referenced while it merges: a process awaiting only compact() must not exit under it.
      worker.ref();
      const settle = (): void => {
        signal.removeEventListener('abort', onAbort);
        heldMerges.delete(resume);
        worker.unref();
        if (this.#worker !== worker || this.#closed) return;
        // Other stores' merges wait for a slot: give this one up now (fair turns), not after idleMs.
        if (mergeThreadSlots.contended) this.reclaim();
        else this.#idle.arm(mergeThreadSettings.idleMs, () => this.#endIdle(worker));
      };
      this.#pending = {
        id, signal, onProgress, heldUnseen: held,
        resolve: (outcome) => { settle(); resolve(outcome); },
        reject: (error) => { settle(); reject(error); },
      };
      const request: MergeRequest = {
        type: 'merge', id, ...job,
        progressEntries: MERGE_PROGRESS_ENTRIES,
        holdAtFirstProgress: held && !holdBeforeCreate,
        holdBeforeCreate,
        ignoreCancel: held && mergeThreadTestHooks.ignoreCancel,
      };
      mergeThreadTestHooks.holdNextMerge = false;
      mergeThreadTestHooks.holdNextMergeBeforeCreate = false;
      this.#post(worker, request);
    });
  }

  /** True while a thread is running (started and not exited). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Waits for a slot (merge-thread-slots.ts); rejects with the signal's reason or, closed meanwhile, StoreClosedError. */
  async #takeSlot(signal: AbortSignal): Promise<void> {
    // A reclaim under way ends the old thread first: its slot is given back at its exit.
    await this.#reclaiming;
    const wait = mergeThreadSlots.acquire(this, signal);
    this.#slotWait = wait;
    let lease: SlotLease;
    try {
      lease = await wait.lease;
    } finally {
      if (this.#slotWait === wait) this.#slotWait = undefined;
    }
    if (this.#closed) {
      lease.release();
      throw slotWaitClosed();
    }
    if (signal.aborted) {
      lease.release();
      throw signal.reason;
    }
    assert(this.#lease === undefined && this.#worker === undefined, 'a slot is taken only for a thread not running');
    this.#lease = lease;
  }

  /**
   * A merge of another store waits for a slot (merge-thread-slots.ts SlotHolder): ends
   * this thread now if it has no merge; its slot is given back at its exit.
   */
  reclaim(): boolean {
    const worker = this.#worker;
    if (worker === undefined || this.#pending !== undefined || this.#closed || this.#reclaiming !== undefined) return false;
    this.#idle.cancel();
    const ending = this.#endIdle(worker).catch(() => undefined).finally(() => {
      if (this.#reclaiming === ending) this.#reclaiming = undefined;
    });
    this.#reclaiming = ending;
    return true;
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const lease = this.#lease;
    assert(lease !== undefined, 'a merge thread starts only with a slot');
    this.#lease = undefined;
    const zlibGate = newZlibGate();
    const worker = new Worker(builtWorkerPath(), {
      // Not the process's flags: `--input-type` (a script run with --eval) fails a worker's
      // module load, and the worker is plain built JavaScript that needs none.
      execArgv: [],
      workerData: { nice: this.#nice, zlibGate } satisfies MergeWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: MERGE_THREAD_OLD_GENERATION_MB, maxYoungGenerationSizeMb: MERGE_THREAD_YOUNG_GENERATION_MB },
    });
    registerZlibGate(worker, zlibGate);
    worker.unref();
    liveThreads.add(worker);
    worker.on('message', (message: WorkerToMain) => this.#onMessage(worker, message));
    // An uncaught error ends the thread: 'exit' follows and fails the merge in flight with it.
    let crash: Error | undefined;
    worker.on('error', (error) => (crash = error));
    worker.on('exit', (exitCode) => {
      liveThreads.delete(worker);
      lease.release();
      // Ended on purpose (idle, or close gave up on it): a merge in flight is another thread's.
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending !== undefined) pending.reject(this.#exitError(new MergeThreadExited(exitCode, crash)));
    });
    this.#worker = worker;
    leases.set(worker, lease);
    return worker;
  }

  /** What a merge in flight rejects with when its thread exits: typed once the thread was closed. */
  #exitError(exited: MergeThreadExited): Error {
    return this.#closed ? new StoreClosedError('merge runs (the merge thread was closed)', { cause: exited }) : exited;
  }

  #post(worker: Worker, message: MainToWorker): void {
    if (this.#worker !== worker) return; // exited: the merge in flight has been failed
    worker.postMessage(message);
  }

  #onMessage(worker: Worker, message: WorkerToMain): void {
    const pending = this.#pending;
    if (pending === undefined || pending.id !== message.id) return;
    switch (message.type) {
      case 'progress':
        if (pending.heldUnseen) {
          pending.heldUnseen = false;
          mergeThreadTestHooks.onHeld?.();
        }
        pending.onProgress?.(message.entriesRead);
        return;
      case 'done':
        this.#pending = undefined;
        pending.resolve({ descriptor: message.descriptor, temporary: message.temporary === true, counters: message.counters, compressed: message.compressed });
        return;
      case 'cancelled':
        this.#pending = undefined;
        assert(pending.signal.aborted, 'the merge thread cancels only when asked');
        pending.reject(pending.signal.reason);
        return;
      case 'failed':
        this.#pending = undefined;
        pending.reject(deserializeError(message.error));
        return;
    }
  }

  /** Ends `worker` if it is still this side's thread with no merge (IdleEnd); the next merge starts another. */
  async #endIdle(worker: Worker): Promise<void> {
    if (this.#worker !== worker || this.#pending !== undefined || this.#closed) return;
    this.#worker = undefined; // its exit is no merge's failure
    // Ended or given up on (blocked in a system call; listed until it exits): its slot is given back either way.
    if (await terminateWithin(worker, mergeThreadSettings.terminateGraceMs)) liveThreads.delete(worker);
    leases.get(worker)?.release();
  }

  /** Ends the thread (a merge in flight rejects); no merge starts afterwards. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#idle.cancel();
    this.#slotWait?.cancel(slotWaitClosed()); // a merge waiting for a slot: it never started a thread
    this.#closing ??= (async () => {
      await this.#idle.settled(); // an idle end under way: its thread is gone when close returns
      await this.#reclaiming;
      const worker = this.#worker;
      if (worker === undefined) return;
      // A thread blocked in a system call ends only when the call returns (terminate-worker.ts):
      // after terminateGraceMs the merge in flight fails without it (its files are removed by
      // the caller; the thread can write nothing more once the call returns).
      // test/review-merge-thread-blocked.test.ts hung here.
      const ended = await terminateWithin(worker, mergeThreadSettings.terminateGraceMs);
      leases.get(worker)?.release(); // a thread close gave up on is not waited for by other stores' merges either
      if (ended) {
        liveThreads.delete(worker);
        return;
      }
      if (this.#worker === worker) this.#worker = undefined; // listed in liveThreads until it exits
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(this.#exitError(new MergeThreadExited(-1, new Error(`the thread did not end within ${mergeThreadSettings.terminateGraceMs} ms of terminate (blocked in a system call)`))));
    })();
    return this.#closing;
  }

  /** The store was dropped as a dead process: end the thread now, without waiting for anything. */
  abandon(): void {
    void this.close();
  }
}

/** The thread exit behind `error` (MergeThreadExited, or the StoreClosedError a closed thread's exit became), if any. */
export function threadExitOf(error: unknown): MergeThreadExited | undefined {
  if (error instanceof MergeThreadExited) return error;
  if (error instanceof StoreClosedError && error.cause instanceof MergeThreadExited) return error.cause;
  return undefined;
}
