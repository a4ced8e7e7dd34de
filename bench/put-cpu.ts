/**
 * CPU per put of one awaited writer (issue 12), by thread, counted over a fixed number
 * of puts rather than a fixed time, so two builds compare by work done.
 * LADYBUG_PUT_CPU_WRITERS=64 runs that many writers instead, each awaiting its own put
 * before the next (the bench's concurrent-put workloads), sharing the same count.
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/put-cpu.js [puts] [valueBytes] [random|sequential] [directory]
 *   node dist/bench/put-cpu.js 30000 4096 sequential /dev/shm   # the disk taken out
 *   LADYBUG_PUT_CPU_WRITERS=64 node dist/bench/put-cpu.js 200000 100 random
 *
 * The bench's sequential-put-* workloads (bench/workloads/put-workloads.ts) without the
 * bench around them: a store opened as the bench's ladybug adapter opens it (keyEncoding
 * 'binary', every other option at its default; LADYBUG_PUT_CPU_OPTIONS takes more
 * openStore options as JSON) in a new temporary directory (under `directory` when
 * given), fresh 16-byte keys (bench/data.ts keyAt) and one shared random value, each
 * put awaited before the next. A warm-up of a third of `puts` runs first, not counted.
 *
 * Prints one JSON line: puts/s, and CPU µs per put of the main thread (where the commit
 * path runs), of the process, and of every other thread using more than 0.1 µs per put,
 * read from /proc/self/task/<id>/schedstat (Linux; those threads are unnamed in Node
 * 20). The other threads are also summed by when they started, which names them:
 * before the store opened (`startupThreadsCpuUsPerPut`: V8's four helpers, which
 * compile and mark and sweep concurrently, then libuv's thread pool, which runs the
 * thread-pool fdatasyncs and the WAL's zero fill; both start with the process), and
 * after (`laterThreadsCpuUsPerPut`: the flush thread, started at the first flush of a
 * large memtable, and any merge or compression thread). With a store in /dev/shm the figures
 * are CPU, not the disk; the machine's other load still shows in them: compare builds
 * alternately.
 *
 * With several writers it also prints the puts' latencies (call to resolve: p50, p99,
 * max in ms), the mean group size and the WAL rotation waits of the counted puts.
 *
 * Also counts the main isolate's garbage collections that started during the counted
 * puts (perf_hooks 'gc' entries), per 10,000 puts: mark-compacts (`markCompactsPer10kPuts`)
 * and scavenges. A count is far less noisy than CPU on a shared machine. At 4 KiB values
 * most mark-compacts are not the heap's own growth: V8 (11.3, Node 20) adds the external
 * memory allocated since the last mark-compact (every ArrayBuffer's bytes, here the
 * memtable's live value slabs, ~4.4 KB a put) to the old generation's size when it
 * checks the allocation limit, and starts incremental marking ('Start (task)' in
 * --trace-incremental-marking) once that leaves less than the new space's capacity.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import process from 'node:process';
import { openStore } from '../src/index.js';
import { keyAt, type KeyOrder } from './data.js';
import { threadCpuNs } from './thread-cpu.js';

function argument(index: number, fallback: string): string {
  return process.argv[index] ?? fallback;
}

async function main(): Promise<void> {
  const count = Number(argument(2, '30000'));
  const valueBytes = Number(argument(3, '4096'));
  const order = argument(4, 'sequential');
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`puts must be a positive integer, got ${argument(2, '')}`);
  if (!Number.isSafeInteger(valueBytes) || valueBytes < 0) throw new RangeError(`valueBytes must be a non-negative integer, got ${argument(3, '')}`);
  if (order !== 'random' && order !== 'sequential') throw new RangeError(`key order must be random or sequential, got ${order}`);
  const directory = mkdtempSync(join(argument(5, tmpdir()), 'ladybug-put-cpu-'));
  const startupThreads = new Set(readdirSync('/proc/self/task'));
  try {
    const extra = JSON.parse(process.env['LADYBUG_PUT_CPU_OPTIONS'] ?? '{}') as Record<string, unknown>;
    const store = await openStore(join(directory, 'store'), { keyEncoding: 'binary', ...extra });
    const value = randomBytes(valueBytes);
    const writers = Number(process.env['LADYBUG_PUT_CPU_WRITERS'] ?? '1');
    if (!Number.isSafeInteger(writers) || writers < 1) throw new RangeError(`LADYBUG_PUT_CPU_WRITERS must be a positive integer, got ${writers}`);
    const latenciesMs: number[] = [];
    let index = 0;
    /** `writers` closed-loop writers putting keys index.. up to `end` (one when writers is 1: the awaited loop as before). */
    const putUpTo = async (end: number, timed: boolean): Promise<void> => {
      if (writers === 1) {
        for (; index < end; index++) await store.put(keyAt(index, order as KeyOrder), value);
        return;
      }
      const writer = async (): Promise<void> => {
        while (index < end) {
          const key = keyAt(index++, order as KeyOrder);
          const calledMs = timed ? performance.now() : 0;
          await store.put(key, value);
          if (timed) latenciesMs.push(performance.now() - calledMs);
        }
      };
      await Promise.all(Array.from({ length: writers }, writer));
    };
    await putUpTo(Math.ceil(count / 3), false);
    const statsBefore = store.stats();
    const mainId = String(process.pid);
    const gcEntries: PerformanceEntry[] = [];
    const gcObserver = new PerformanceObserver((list) => gcEntries.push(...list.getEntries()));
    gcObserver.observe({ entryTypes: ['gc'] });
    const before = threadCpuNs();
    const processBefore = process.cpuUsage();
    const startedMs = performance.now();
    await putUpTo(index + count, writers > 1);
    const endedMs = performance.now();
    const wallMs = endedMs - startedMs;
    const processUsage = process.cpuUsage(processBefore);
    const after = threadCpuNs();
    gcEntries.push(...gcObserver.takeRecords());
    gcObserver.disconnect();
    const gcsPer10kPuts = (kind: number): number => {
      const started = gcEntries.filter((entry) => entry.startTime >= startedMs && entry.startTime < endedMs && (entry as unknown as { detail?: { kind?: number } }).detail?.kind === kind);
      return Number(((started.length * 10_000) / count).toFixed(2));
    };
    const perPutUs = (ns: number): number => Number((ns / count / 1_000).toFixed(2));
    const otherThreads: Record<string, number> = {};
    const byStart = { startup: 0, later: 0 };
    for (const [id, ns] of after) {
      if (id === mainId) continue;
      const threadNs = ns - (before.get(id) ?? 0);
      byStart[startupThreads.has(id) ? 'startup' : 'later'] += threadNs;
      const usPerPut = perPutUs(threadNs);
      if (usPerPut > 0.1) otherThreads[`thread ${id}`] = usPerPut;
    }
    const stats = store.stats();
    await store.close();
    latenciesMs.sort((a, b) => a - b);
    const latencyAt = (fraction: number): number | undefined => {
      const at = latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(fraction * latenciesMs.length))];
      return at === undefined ? undefined : Number(at.toFixed(2));
    };
    const groups = stats.groupCommits - statsBefore.groupCommits;
    console.log(JSON.stringify({
      bench: 'put-cpu', puts: count, writers, valueBytes, keyOrder: order,
      putsPerSecond: Math.round((count * 1_000) / wallMs),
      mainThreadCpuUsPerPut: perPutUs((after.get(mainId) ?? 0) - (before.get(mainId) ?? 0)),
      processCpuUsPerPut: Number(((processUsage.user + processUsage.system) / count).toFixed(2)),
      startupThreadsCpuUsPerPut: perPutUs(byStart.startup),
      laterThreadsCpuUsPerPut: perPutUs(byStart.later),
      otherThreadsCpuUsPerPut: otherThreads,
      markCompactsPer10kPuts: gcsPer10kPuts(constants.NODE_PERFORMANCE_GC_MAJOR),
      scavengesPer10kPuts: gcsPer10kPuts(constants.NODE_PERFORMANCE_GC_MINOR),
      flushes: stats.storage.flushes, writeStalls: stats.storage.writeStalls,
      ...(writers > 1 ? {
        latencyMs: { p50: latencyAt(0.5), p99: latencyAt(0.99), max: latencyAt(1) },
        meanGroupSize: Number(((stats.commits - statsBefore.commits) / groups).toFixed(1)),
        walRotationWaits: stats.sinceOpen.walRotationWaits - statsBefore.sinceOpen.walRotationWaits,
        walRotationWaitMs: Number((stats.sinceOpen.walRotationWaitMs - statsBefore.sinceOpen.walRotationWaitMs).toFixed(1)),
      } : {}),
    }));
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
