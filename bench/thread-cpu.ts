/**
 * CPU time of this process's threads from /proc/self/task/<id>/schedstat (its first field, ns),
 * for the probes that split a workload's CPU between the main thread, the store's worker
 * threads and V8's helpers (put-cpu, put-cpu-rounds, large/read-cpu).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU ns of each thread of this process (schedstat's first field), by thread id. */
export function threadCpuNs(): Map<string, number> {
  const threads = new Map<string, number>();
  for (const id of readdirSync('/proc/self/task')) {
    try {
      threads.set(id, Number(readFileSync(`/proc/self/task/${id}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}
