/**
 * CPU per get of the large-reopen read phase (issue 7's read targets), by pass and by
 * thread, on a copy of a loaded store, so two builds compare by work done on the same
 * files (not part of `npm run bench`; run by hand for before/after comparisons):
 *
 *   node dist/bench/large/read-cpu.js <loaded store directory> [fresh|settled] [gets] [passes]
 *
 * The directory is what large-child.ts's load phase leaves (its `store` inside); it is
 * copied to a temporary directory next to it for each run, so every run opens the same
 * run layout (the load's ~30 runs). `fresh`: the gets start right after open, as the
 * bench's read phase does (a merge of the loaded runs starts in the merge thread);
 * `settled`: first waits until no compaction runs (the store settles to one run). Then
 * passes: uniform (the bench's seed), then `passes` skewed passes over the same skewed
 * keys (80% on 2% of the key indexes, the bench's seed), each `gets` awaited gets.
 *
 * Prints one JSON line per pass: gets/s, CPU µs per get of the process, of the main
 * thread and of the other threads (/proc/self/task/<id>/schedstat, as bench/put-cpu.ts),
 * the main isolate's scavenges and mark-compacts and their time, the pass's wall time and
 * how much of it the main thread waited on a run queue (schedstat's second field: the
 * machine's other processes had the core), runs at the pass's start and end,
 * compactions that ended in it, the point cache's size, the block cache's hits and misses,
 * the compressed tier's hits, and the gets' latency (p50, p90, p99 in us; the gets over
 * 100 us and their share of the pass's time; each get timed with performance.now()).
 * The machine's other load shows in every figure: compare builds alternately.
 *
 * READ_CPU_PROFILE=<directory>: also a V8 CPU profile of each pass's gets alone (not the
 * open, the copy or the settling), `<pass>.cpuprofile` there (node:inspector, sampling
 * every READ_CPU_PROFILE_INTERVAL_US, default 100 us).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import process from 'node:process';
import { openStore } from '../../src/index.js';
import { KEY_SIZE_BYTES, keyAt, skewedIndexes, uniformIndexes } from '../data.js';
import { threadCpuNs } from '../thread-cpu.js';

const KEY_COUNT = 1_000_000;

function packed(indexes: Uint32Array): Buffer {
  const keys = Buffer.allocUnsafeSlow(indexes.length * KEY_SIZE_BYTES);
  indexes.forEach((index, position) => keyAt(index, 'random').copy(keys, position * KEY_SIZE_BYTES));
  return keys;
}

/** The bench's read phase keys (large-child.ts: seeds 1 and 2). */
function uniformKeys(count: number): Buffer {
  return packed(uniformIndexes(count, KEY_COUNT, 1));
}

function skewedKeys(count: number): Buffer {
  return packed(skewedIndexes(count, KEY_COUNT, 2));
}

/** The main thread's time waiting on a run queue, ns (schedstat's second field): time other processes had the core. */
function mainRunQueueWaitNs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]);
}

interface Storage {
  runs: number;
  pointCacheBytes: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  blockCacheCompressedHits: number;
  compaction: { running: boolean; compactions: number };
}

/** Per-get latency quantiles (us) and the gets over 100 us: how many, and their share of the pass's time. */
function latencyFigures(latencies: Float64Array): Record<string, number> {
  const sorted = Float64Array.from(latencies).sort();
  const at = (share: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] as number) * 10_000) / 10;
  let slow = 0;
  let slowMs = 0;
  let totalMs = 0;
  for (const latency of latencies) {
    totalMs += latency;
    if (latency > 0.1) {
      slow++;
      slowMs += latency;
    }
  }
  return { p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), over100Us: slow, over100UsShare: Math.round((slowMs / totalMs) * 1000) / 1000 };
}

/** Posts to an inspector session (node:inspector/promises' typings take one overload per method). */
type Post = (method: string, params?: object) => Promise<unknown>;

async function main(): Promise<void> {
  const profileDirectory = process.env['READ_CPU_PROFILE'];
  const session = profileDirectory === undefined ? undefined : new Session();
  const post = session === undefined ? undefined : (session.post.bind(session) as unknown as Post);
  if (session !== undefined && post !== undefined) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(process.env['READ_CPU_PROFILE_INTERVAL_US'] ?? '100') });
  }
  const source = process.argv[2];
  if (source === undefined) throw new Error('usage: read-cpu.js <loaded store directory> [fresh|settled] [gets] [passes]');
  const mode = process.argv[3] ?? 'fresh';
  const gets = Number(process.argv[4] ?? '200000');
  const passes = Number(process.argv[5] ?? '2');
  /** READ_CPU_WINDOW=<gets>: also a line per this many gets (the gc counts lag a turn behind). */
  const window = Number(process.env['READ_CPU_WINDOW'] ?? '0');
  const copy = mkdtempSync(join(dirname(source), 'read-cpu-'));
  cpSync(join(source, 'store'), join(copy, 'store'), { recursive: true });
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  try {
    const store = await openStore(join(copy, 'store'), { keyEncoding: 'binary', memoryBudgetBytes: 64 * 1024 * 1024 });
    const storage = (): Storage => (store.stats() as unknown as { storage: Storage }).storage;
    if (mode === 'settled') {
      while (storage().compaction.running) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const plan: [string, Buffer][] = [['uniform', uniformKeys(gets)]];
    const skewed = skewedKeys(gets);
    for (let pass = 1; pass <= passes; pass++) plan.push([`skewed${pass}`, skewed]);
    const mainId = String(process.pid);
    for (const [name, keys] of plan) {
      const before = storage();
      const threadsBefore = threadCpuNs();
      const cpuBefore = process.cpuUsage();
      const gcBefore = gcs.length;
      const waitBefore = mainRunQueueWaitNs();
      const startMs = performance.now();
      let windowStart = { at: startMs, cpu: process.cpuUsage(), main: threadCpuNs().get(mainId) ?? 0, gcs: gcs.length };
      const latencies = new Float64Array(gets);
      if (post !== undefined) await post('Profiler.start');
      for (let position = 0; position < gets; position++) {
        const getStart = performance.now();
        const value = await store.get(keys.subarray(position * KEY_SIZE_BYTES, (position + 1) * KEY_SIZE_BYTES));
        latencies[position] = performance.now() - getStart;
        if (value === undefined) throw new Error(`get ${position} of ${name} missed`);
        if (window > 0 && (position + 1) % window === 0) {
          const now = { at: performance.now(), cpu: process.cpuUsage(), main: threadCpuNs().get(mainId) ?? 0, gcs: gcs.length };
          const cpuUs = now.cpu.user + now.cpu.system - windowStart.cpu.user - windowStart.cpu.system;
          const mainUs = (now.main - windowStart.main) / 1000;
          process.stdout.write(`  ${name} ${position + 1}: ${Math.round((window * 1000) / (now.at - windowStart.at))} gets/s, main ${(mainUs / window).toFixed(1)} us/get, others ${((cpuUs - mainUs) / window).toFixed(1)}, runs ${storage().runs}, gcs ${now.gcs - windowStart.gcs}\n`);
          windowStart = now;
        }
      }
      const elapsedMs = performance.now() - startMs;
      if (post !== undefined && profileDirectory !== undefined) {
        const { profile } = (await post('Profiler.stop')) as { profile: object };
        writeFileSync(join(profileDirectory, `${name}.cpuprofile`), JSON.stringify(profile));
      }
      await new Promise((resolve) => setTimeout(resolve, 20)); // the gc observer's entries of this pass (delivered on a later turn)
      const waitMs = (mainRunQueueWaitNs() - waitBefore) / 1e6;
      const cpu = process.cpuUsage(cpuBefore);
      const threadsAfter = threadCpuNs();
      let mainNs = 0;
      let otherNs = 0;
      for (const [id, ns] of threadsAfter) {
        const spent = ns - (threadsBefore.get(id) ?? 0);
        if (id === mainId) mainNs += spent;
        else otherNs += spent;
      }
      const after = storage();
      const passGcs = gcs.slice(gcBefore);
      const perGet = (value: number): number => Math.round((value / gets) * 100) / 100;
      process.stdout.write(`${JSON.stringify({
        pass: name,
        getsPerSecond: Math.round((gets * 1000) / elapsedMs),
        processCpuUsPerGet: perGet(cpu.user + cpu.system),
        mainCpuUsPerGet: perGet(mainNs / 1000),
        otherThreadsCpuUsPerGet: perGet(otherNs / 1000),
        scavenges: passGcs.filter((entry) => (entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length,
        markCompacts: passGcs.filter((entry) => (entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR).length,
        gcMs: Math.round(passGcs.reduce((sum, entry) => sum + entry.duration, 0)),
        passMs: Math.round(elapsedMs),
        mainRunQueueWaitMs: Math.round(waitMs),
        runs: `${before.runs}->${after.runs}`,
        compactions: after.compaction.compactions - before.compaction.compactions,
        pointCacheMiB: Math.round(after.pointCacheBytes / 104857.6) / 10,
        blockHits: after.blockCacheHits - before.blockCacheHits,
        blockMisses: after.blockCacheMisses - before.blockCacheMisses,
        compressedHits: after.blockCacheCompressedHits - before.blockCacheCompressedHits,
        ...latencyFigures(latencies),
      })}\n`);
    }
    await store.close();
  } finally {
    session?.disconnect();
    observer.disconnect();
    rmSync(copy, { recursive: true, force: true });
  }
}

await main();
