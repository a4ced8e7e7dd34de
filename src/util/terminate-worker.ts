/**
 * Ending a worker thread from close() (the merge and flush threads): terminate()
 * takes effect when the thread's JavaScript runs again, so a thread blocked in a
 * system call (a hung disk; the workers sync inline) ends only when the call
 * returns. close() must not hang on it: wait at most `graceMs`.
 *
 * A thread inside a zlib call is terminated only once the call ends (src/util/zlib-gate.ts:
 * terminating it mid-call can abort the process); that wait counts against `graceMs` too.
 *
 * Invariant: the grace timer never outlives the wait (cleared either way).
 */
import type { Worker } from 'node:worker_threads';
import { terminateSafely } from './zlib-gate.js';

/** True when `worker` ended within `graceMs` of terminate(); false when it is still blocked. */
export async function terminateWithin(worker: Worker, graceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      // After the thread's zlib call in flight, if any (zlib-gate.ts): terminate() follows it even past the grace.
      terminateSafely(worker).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
