/**
 * ZlibGate: a worker thread is never terminated while it makes a zlib stream.
 *
 * Why: Node (20.x) aborts the whole process, "Assertion failed: init_done_ && "close
 * before init"" (node_zlib.cc, CompressionStream::Close), when a worker thread is
 * terminated between the creation of a zlib stream's native handle and its init():
 * the half-made handle is destroyed as the thread's environment is freed. Every sync
 * zlib call (deflateRawSync, inflateRawSync, brotliCompressSync, ...) makes such a
 * stream, so a thread terminated while it compresses or inflates blocks in a loop meets
 * that window now and then: 500 workers, each terminated 0-5 ms into a deflate/inflate
 * loop, aborted the process within 6 s on this machine; a CI run of the suite died of
 * it (a merge thread ended during a cold merge). The merge thread, the cold tier's
 * compression pool and the flush thread are ended with terminate() (idle, close, a
 * store dropped as a dead process), so each zlib call of a worker thread passes this gate.
 *
 * How: one Int32 in a SharedArrayBuffer per thread (or per pool: its threads share it),
 * made on the main side and handed over in workerData. Bits 0-29 count the threads
 * inside a zlib call; bit 30 (STOPPED) is set by the side that will terminate. A
 * thread enters only while STOPPED is clear (compare-and-swap of the count), so once
 * the stopping side has set STOPPED and seen the count at 0, no thread is inside and
 * none can enter: terminate() is then safe. A thread that finds the gate stopped
 * throws ThreadStoppingError (its task is abandoned: terminate() follows at once).
 * The last thread to leave a stopped gate wakes the stopping side (Atomics.notify;
 * it waits with Atomics.waitAsync, never blocking the event loop).
 *
 * On the main thread (no gate installed) entering and leaving cost one comparison:
 * the main thread is not terminated by this project. A store run inside a worker
 * thread that its owner terminates meets the same Node defect: close the store first
 * (README, "Worker threads").
 *
 * Invariants: a zlib call on a gated thread happens between enterZlib() and leaveZlib();
 * terminateSafely() terminates only after stopZlibGate() resolved; a thread's OOM
 * termination (resourceLimits) cannot be gated (Node ends it itself: rare, and noted),
 * and a thread so ended inside a zlib call leaves its count behind: a stop waits at most
 * ZLIB_GATE_WAIT_MS_MAX for it (less for one thread: its exit ends the wait).
 */
import type { Worker } from 'node:worker_threads';

const STOPPED = 1 << 30;
const COUNT_MASK = STOPPED - 1;

/** Thrown on a gated thread asked to make a zlib stream after its gate was stopped (terminate() follows). */
export class ThreadStoppingError extends Error {
  constructor() {
    super('this thread is being terminated: no zlib stream is made');
    this.name = 'ThreadStoppingError';
  }
}

/** A new, open gate: hand it to the thread(s) in workerData (`zlibGate`). */
export function newZlibGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/** This thread's gate (undefined on the main thread, or a worker started without one). */
let installed: Int32Array | undefined;

/** Called once at a worker thread's start with what its workerData carried (undefined: no gate). */
export function installZlibGate(buffer: SharedArrayBuffer | undefined): void {
  installed = buffer === undefined ? undefined : new Int32Array(buffer);
}

/** Before a zlib call: counts this thread in, or throws ThreadStoppingError once the gate is stopped. */
export function enterZlib(): void {
  const gate = installed;
  if (gate === undefined) return;
  for (;;) {
    const value = Atomics.load(gate, 0);
    if ((value & STOPPED) !== 0) throw new ThreadStoppingError();
    if (Atomics.compareExchange(gate, 0, value, value + 1) === value) return;
  }
}

/** After the zlib call (in a finally): counts this thread out; the last one out of a stopped gate wakes the stopper. */
export function leaveZlib(): void {
  const gate = installed;
  if (gate === undefined) return;
  const after = Atomics.sub(gate, 0, 1) - 1;
  if (after === STOPPED) Atomics.notify(gate, 0);
}

/**
 * How long a stop waits for the threads inside. A zlib call on a block takes
 * milliseconds; a count still above 0 this long is a thread that ended inside one (Node
 * ends a thread at its heap limit wherever it is) and never leaves: the stop gives up
 * then, rather than hang close() for good.
 */
export const ZLIB_GATE_WAIT_MS_MAX = 30_000;

/**
 * Stops the gate (no thread enters after) and resolves true once no thread is inside a
 * zlib call; false when it gave up: after `waitMsMax`, or when `ended` settles first
 * (the one thread of the gate has exited: whatever it held, it holds no more).
 */
export async function stopZlibGate(buffer: SharedArrayBuffer, waitMsMax = ZLIB_GATE_WAIT_MS_MAX, ended?: Promise<unknown>): Promise<boolean> {
  const gate = new Int32Array(buffer);
  Atomics.or(gate, 0, STOPPED);
  const deadline = performance.now() + waitMsMax;
  const endedMark = ended?.then(() => ENDED);
  for (;;) {
    const value = Atomics.load(gate, 0);
    if ((value & COUNT_MASK) === 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    const wait = atomicsWaitAsync(gate, 0, value, left);
    if (!wait.async) continue;
    if ((await (endedMark === undefined ? wait.value : Promise.race([wait.value, endedMark]))) === ENDED) return false;
  }
}

const ENDED = Symbol('thread ended');

/** Atomics.waitAsync (Node 16+; not in the ES2022 library types this project compiles against). */
const atomicsWaitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync.bind(Atomics);

/** The gate of each worker started with one (registerZlibGate). */
const gates = new WeakMap<Worker, SharedArrayBuffer>();

/** Remembers `gate` as `worker`'s (the buffer its workerData carried). */
export function registerZlibGate(worker: Worker, gate: SharedArrayBuffer): void {
  gates.set(worker, gate);
}

/**
 * terminate(), after stopping the worker's gate (if it has one) and waiting for its zlib
 * call in flight to end (not when the thread has already exited: its 'exit' ends the wait).
 */
export async function terminateSafely(worker: Worker): Promise<number> {
  const gate = gates.get(worker);
  // threadId is -1 once the thread has exited.
  if (gate !== undefined && worker.threadId !== -1) {
    await stopZlibGate(gate, ZLIB_GATE_WAIT_MS_MAX, new Promise((resolve) => worker.once('exit', resolve)));
  }
  return worker.terminate();
}
