/**
 * Issue 7's killed reopen (large-child.ts `reopen` after `overwrite-then-wait` was
 * SIGKILLed), measured on the same files for each run and alternated between builds,
 * so two builds compare by work done (not part of `npm run bench`; run by hand):
 *
 *   node dist/bench/large/reopen-probe.js <killed> [pairs] [buildA] [buildB]
 *
 * `<killed>` is the directory large-child.ts was given for the killed phase, copied
 * aside right after the kill (the store is its `store`, 1,000,000 random keys,
 * memoryBudgetBytes 64 MiB, the last of 100,000 overwrites is the probe key). Each run
 * copies it afresh next to it (and syncs, so the copy's writeback is not in the run),
 * then a fresh process of the build (`<build>/dist/bench/large/reopen-probe.js --once
 * <copy>`) times open + the first get as the bench does. Builds alternate, the first
 * build of a pair swapping each pair; default: this build for both (the noise floor).
 *
 * Prints one JSON line per run: wall ms of open + first get; main-thread CPU ms and
 * its run-queue wait (/proc/self/task/<pid>/schedstat: CPU the other threads and the
 * machine's other processes took is left out); the CPU of the whole process, and of
 * each other thread (on 2 cores, theirs is CPU the main thread may wait for); the
 * main isolate's scavenges and mark-compacts in the window and their ms; the store's
 * recovery figures (stats().recovery). Then min / median / max per build. The machine's
 * other load shows in every figure: read the CPU columns, and the ranges.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { keyAt } from '../data.js';
import { threadCpuNs } from '../thread-cpu.js';

const STORE_OPTIONS = { keyEncoding: 'binary', memoryBudgetBytes: 64 * 1024 * 1024 } as const;
/** large-child.ts's probe: the last overwritten key, index floor(99,999 * 1,000,000 / 100,000). */
const PROBE_INDEX = 999_990;

interface RunFigures {
  build: string;
  wallMs: number;
  mainCpuMs: number;
  runQueueWaitMs: number;
  processCpuMs: number;
  otherThreadsCpuMs: number[];
  scavenges: number;
  markCompacts: number;
  gcMs: number;
  recoveryDurationMs: number;
  records: number;
  commits: number;
  skippedCommits: number;
}

/** The main thread's CPU and run-queue wait, ns (schedstat's first two fields). */
function mainSchedstat(): { cpuNs: number; waitNs: number } {
  const [cpu, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ');
  return { cpuNs: Number(cpu), waitNs: Number(wait) };
}

/**
 * The other threads' CPU in the window, ms, highest first (a thread started in it counts
 * from 0). Node 20 names every thread "node": in a fresh process the first four after the
 * main one are V8's platform workers (GC helpers, concurrent compiles), libuv's pool
 * threads (file reads, fsyncs) come later.
 */
function otherThreadsCpuMs(before: Map<string, number>, after: Map<string, number>): number[] {
  const spent: number[] = [];
  for (const [id, cpuNs] of after) {
    if (id !== String(process.pid)) spent.push(Math.round((cpuNs - (before.get(id) ?? 0)) / 1e5) / 10);
  }
  return spent.sort((a, b) => b - a);
}

async function once(directory: string): Promise<void> {
  const { openStore } = await import('../../src/index.js');
  const probe = keyAt(PROBE_INDEX, 'random');
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const threadsBefore = threadCpuNs();
  const usageBefore = process.cpuUsage();
  const schedBefore = mainSchedstat();
  const startMs = performance.now();
  const store = await openStore(join(directory, 'store'), STORE_OPTIONS);
  const value = await store.get(probe);
  const wallMs = performance.now() - startMs;
  const schedAfter = mainSchedstat();
  const usage = process.cpuUsage(usageBefore);
  const threadsAfter = threadCpuNs();
  if (!(value instanceof Uint8Array) || value.length === 0) throw new Error('the first get after reopen missed the probe key');
  const recovery = store.stats().recovery;
  await new Promise((settle) => setImmediate(settle)); // the observer's entries arrive in a later turn
  observer.disconnect();
  const window = gcs.filter((entry) => entry.startTime >= startMs && entry.startTime < startMs + wallMs);
  const kind = (entry: PerformanceEntry) => (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  await store.close();
  const figures: Omit<RunFigures, 'build'> = {
    wallMs,
    mainCpuMs: (schedAfter.cpuNs - schedBefore.cpuNs) / 1e6,
    runQueueWaitMs: (schedAfter.waitNs - schedBefore.waitNs) / 1e6,
    processCpuMs: (usage.user + usage.system) / 1000,
    otherThreadsCpuMs: otherThreadsCpuMs(threadsBefore, threadsAfter),
    scavenges: window.filter((entry) => kind(entry) === constants.NODE_PERFORMANCE_GC_MINOR).length,
    markCompacts: window.filter((entry) => kind(entry) === constants.NODE_PERFORMANCE_GC_MAJOR).length,
    gcMs: window.reduce((sum, entry) => sum + entry.duration, 0),
    recoveryDurationMs: recovery.durationMs,
    records: recovery.records,
    commits: recovery.commits,
    skippedCommits: recovery.skippedCommits,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

function runBuild(build: string, killed: string): RunFigures {
  const copy = `${resolve(killed)}-probe-copy`;
  rmSync(copy, { recursive: true, force: true });
  cpSync(killed, copy, { recursive: true });
  spawnSync('sync');
  const child = spawnSync(process.execPath, [join(build, 'dist/bench/large/reopen-probe.js'), '--once', copy], { encoding: 'utf8' });
  rmSync(copy, { recursive: true, force: true });
  if (child.status !== 0) throw new Error(`${build}: exit ${child.status}\n${child.stderr}`);
  return { build, ...(JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as Omit<RunFigures, 'build'>) };
}

function summary(runs: readonly RunFigures[], build: string): Record<string, string | number> {
  const mine = runs.filter((run) => run.build === build);
  const line: Record<string, string | number> = { build, runs: mine.length };
  for (const field of ['wallMs', 'mainCpuMs', 'runQueueWaitMs', 'processCpuMs', 'gcMs', 'recoveryDurationMs'] as const) {
    const sorted = mine.map((run) => run[field]).sort((a, b) => a - b);
    const at = (index: number) => Math.round((sorted[index] ?? 0) * 10) / 10;
    line[field] = `${at(0)} / ${at(sorted.length >> 1)} / ${at(sorted.length - 1)}`;
  }
  return line;
}

function main(): void {
  const [first, second, third, fourth] = process.argv.slice(2);
  if (first === '--once') {
    if (second === undefined) throw new Error('--once needs the copied directory');
    void once(second).catch((error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    });
    return;
  }
  if (first === undefined) throw new Error('usage: reopen-probe.js <killed directory> [pairs] [buildA] [buildB]');
  const here = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const pairs = Number(second ?? 5);
  const builds = [resolve(third ?? here), resolve(fourth ?? third ?? here)];
  const runs: RunFigures[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    for (const which of pair % 2 === 0 ? [0, 1] : [1, 0]) {
      const run = { ...runBuild(builds[which]!, first), build: which === 0 ? 'A' : 'B' };
      runs.push(run);
      process.stdout.write(`${JSON.stringify({ pair, ...run })}\n`);
    }
  }
  for (const build of ['A', 'B']) process.stdout.write(`${JSON.stringify(summary(runs, build))}\n`);
}

main();
