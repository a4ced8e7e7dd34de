/**
 * The flush threads' Worker objects (flush-thread.ts owns one at a time): where the
 * compiled worker is (running from the TypeScript source, tests take it from dist/:
 * build first), how one starts (its heap bounds, not the process's flags, unreferenced),
 * how long an idle one lives and how long close() waits for one to end, and the
 * process's list of live ones (tests: none outlives a closed or abandoned store).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { newZlibGate, registerZlibGate, terminateSafely } from '../util/zlib-gate.js';

/**
 * The flush thread's heap bounds (MiB). Its heap holds a few chunks' entry objects and
 * the writer's per-partition bookkeeping; the values, the kept blocks, the index and
 * filter partitions and the filter's hashes (of the partition in progress only,
 * src/run/filter-partitions.ts) are off-heap bytes, in the thread's malloc arena and
 * outside these bounds (bench/large/memory-probe.ts shows both per thread). An
 * out-of-memory ends the thread and the flusher writes that memtable in process
 * (test/flush-thread-heap-limit.test.ts). What exhausts it is the writer's
 * per-partition objects and last keys: one flush of 200k distinct 1 KiB keys fits, 400k
 * do not (a 24 MiB bound: 80k fit, 100k do not; measured, one flush through a thread).
 *
 * The young generation is 8 MiB, not 4: the thread makes about 300 B of short-lived
 * objects per entry (a chunk's entry objects, key strings and value views, the
 * writer's own), and at 4 MiB it collected every ~1 MB of them, 118 scavenges and 12
 * full collections for four 100k-key flushes (--trace-gc), promoting entries of the
 * chunk in hand into the old generation; the thread's CPU per flushed key (process
 * minus main thread, `node dist/bench/flush-cpu.js 100000 6`, warm rounds, busy, load
 * 19-27) was 2,120-2,460 ns at 4 MiB against 1,330-1,840 at 8 and 1,010-1,420 at 16
 * (5, 5 and 2 alternated runs). Peak RSS of a 300k-key load (flush-cpu load, 3
 * alternations) was 262-273 MiB at 4, 264-265 at 8 and 268-285 at 16: 8 costs no
 * memory that shows, 16 about 12 MiB. With 64 writers every commit is a flushed key.
 */
export const FLUSH_THREAD_OLD_GENERATION_MB = 64;
export const FLUSH_THREAD_YOUNG_GENERATION_MB = 8;

/**
 * `terminateGraceMs`: how long close() waits for a terminated thread blocked in a system
 * call (as mergeThreadSettings). `idleMs`: how long the thread lives with no flush
 * (IdleEnd); a store flushing more often keeps it. Tests shorten both.
 * `oldGenerationMb`: the old generation bound a thread starts with
 * (FLUSH_THREAD_OLD_GENERATION_MB); tests lower it to make a real flush exhaust it.
 */
export const flushThreadSettings: { terminateGraceMs: number; idleMs: number; oldGenerationMb: number } = {
  terminateGraceMs: 5_000, idleMs: 10_000, oldGenerationMb: FLUSH_THREAD_OLD_GENERATION_MB,
};

function builtWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here.replace(/flush-thread-workers\.js$/, 'flush-worker.js');
  return here.replace(/\/src\/engine\/flush-thread-workers\.ts$/, '/dist/src/engine/flush-worker.js');
}

/** True when the compiled worker exists (false running from source before a build). */
export function flushWorkerBuilt(): boolean {
  return existsSync(builtWorkerPath());
}

/** Worker threads started by any FlushThread in this process and not yet exited. */
const liveThreads = new Set<Worker>();

/** Flush threads running in this process (tests: none outlives a closed or abandoned store). */
export function flushThreadsRunning(): number {
  return liveThreads.size;
}

/** Test hook: terminates every flush thread of the process (a thread killed mid-flush). */
export async function terminateFlushThreads(): Promise<void> {
  await Promise.all([...liveThreads].map((worker) => terminateSafely(worker)));
}

/**
 * Starts a flush thread: unreferenced (a FlushThread references it while it flushes),
 * listed until it exits.
 */
export function startFlushWorker(): Worker {
  const zlibGate = newZlibGate();
  const worker = new Worker(builtWorkerPath(), {
    // Not the process's flags (a script run with --eval passes --input-type, which fails a worker's module load).
    execArgv: [],
    workerData: { zlibGate },
    resourceLimits: { maxOldGenerationSizeMb: flushThreadSettings.oldGenerationMb, maxYoungGenerationSizeMb: FLUSH_THREAD_YOUNG_GENERATION_MB },
  });
  registerZlibGate(worker, zlibGate);
  worker.unref();
  liveThreads.add(worker);
  // Registered before the FlushThread's own 'exit' listener: the thread is unlisted first.
  worker.on('exit', () => liveThreads.delete(worker));
  return worker;
}

/** A thread terminate() ended (terminateWithin said so): unlisted now, before its 'exit' event. */
export function forgetFlushWorker(worker: Worker): void {
  liveThreads.delete(worker);
}
