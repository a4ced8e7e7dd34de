/**
 * Background threads at a lower CPU priority (the store option `backgroundThreadNice`),
 * as RocksDB lowers its compaction pool's (Env::LowerThreadPoolCPUPriority): when the
 * cores are contended, the main thread (commits, reads) runs first; on an idle core it
 * changes nothing.
 *
 * Linux only: setpriority(PRIO_PROCESS, tid) applies to the one thread whose id it is
 * given (`os.setPriority` passes the id through), and a thread learns its own id from
 * /proc/thread-self ("<pid>/task/<tid>"). Elsewhere (no /proc/thread-self), or where the
 * system refuses, the thread carries on at the process's priority, silently: a priority
 * is a preference, never a reason to fail a merge.
 *
 * The niceness is relative: the thread runs at the process's own niceness plus the
 * option, capped at 19 (lowering a priority needs no privilege; an absolute value below
 * a niced process's own would be refused).
 *
 * Used by the merge thread (src/compaction/merge-worker.ts) and the compression pool's
 * threads (src/run/compression-worker.ts), each on itself. Not by the flush thread:
 * writers wait for a flush (the write stall), so it keeps the process's priority.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * Default of `backgroundThreadNice`: 5 (on a core shared with a nice-0 thread of its
 * process, ~25% for the background thread). Measured (docs/PERFORMANCE.md, 2026-12-04):
 * the 1M-key store's read phase during its reopen merge, uniform gets higher than at 0 in
 * 11 of 12 alternated pairs; 10 no better than 5 beyond the noise while merges fell
 * behind (2 of 12 read phases ended with the merge not done); earlier, at 10 a 1M-key
 * load ended with more runs (docs/ARCHITECTURE.md, merge thread).
 */
export const BACKGROUND_THREAD_NICE_DEFAULT = 5;
/** Linux's lowest priority. */
export const BACKGROUND_THREAD_NICE_MAX = 19;

/** This thread's kernel id (Linux), or undefined where there is no /proc/thread-self. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers the calling worker thread's priority by `nice` (relative to its current
 * niceness, capped at 19). Returns true when the thread now runs lowered; false when
 * `nice` is 0 (off), on the main thread (never lowered: it is the process's own
 * priority), where the platform has no per-thread id, or where the system refused.
 */
export function lowerThisThreadPriority(nice: number): boolean {
  if (!Number.isInteger(nice) || nice <= 0 || isMainThread) return false;
  const tid = currentThreadId();
  if (tid === undefined || tid === process.pid) return false;
  try {
    const current = getPriority(tid);
    const target = Math.min(BACKGROUND_THREAD_NICE_MAX, current + nice);
    if (target === current) return current > 0;
    setPriority(tid, target);
    return true;
  } catch {
    return false;
  }
}

/** The niceness of thread `tid` of this process from /proc (Linux; tests), or undefined. */
export function threadNiceOf(tid: number | string): number | undefined {
  try {
    // Fields after the command name's closing parenthesis: state is field 3, nice field 19.
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const nice = Number(fields[16]);
    return Number.isInteger(nice) ? nice : undefined;
  } catch {
    return undefined;
  }
}
