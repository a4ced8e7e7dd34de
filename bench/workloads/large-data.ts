/**
 * Data larger than the memory budget (issue 7, "Benchmark"): one workload per
 * (key count, key order), each engine in processes of its own
 * (bench/large/large-child.ts), on one directory per engine:
 *
 * 1. load: keyCount keys (16 B) with 100 B values in batches of the engine's
 *    bulkLoadBatchSize, ladybug with memoryBudgetBytes = profile.largeMemoryBudgetBytes;
 *    clean close. Headline: keys/s of the writes (the close is reported apart:
 *    ladybug's checkpoints); peak RSS of that process (bench/measure/peak-rss.ts:
 *    VmHWM on Linux, since maxRSS there starts at the harness's RSS; the report's
 *    text names the figure used).
 * 2. clean reopen: a new process opens the store; timed from the open call to the
 *    first get returning a value (process start not included). Then
 *    profile.largeReadCount gets uniform over all keys and as many skewed (80% of
 *    reads on 2% of the keys), one awaited get at a time, every one checked.
 * 3. reopen after SIGKILL: a process overwrites overwriteCount keys, reports, and
 *    is SIGKILLed without closing; a new process times open + first get of the
 *    last overwritten key and checks it reads the new value.
 *
 * Not round-interleaved (too slow): once per engine, after the interleaved workloads.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyOrder } from '../data.js';
import type { LargeChildReport, LargeChildRequest } from '../large/large-child.js';
import { peakRss } from '../measure/peak-rss.js';
import type { Profile } from '../profile.js';
import type { Measurement, Workload, WorkloadContext } from './workload.js';

const MEBIBYTE = 1 << 20;
/** Keys overwritten before the kill: a tenth of the data, at most this many. */
const OVERWRITE_KEYS_MAX = 100_000;
const CHILD_PATH = fileURLToPath(new URL('../large/large-child.js', import.meta.url));

export interface LargeDataSpec {
  readonly id: string;
  readonly keyCount: number;
  readonly keyOrder: KeyOrder;
}

export function largeDataWorkload(spec: LargeDataSpec, profile: Profile, ladybugStoreOptions: Readonly<Record<string, unknown>>): Workload {
  const keys = spec.keyCount.toLocaleString('en-US');
  const budget = `${profile.largeMemoryBudgetBytes / MEBIBYTE} MiB`;
  const reads = profile.largeReadCount.toLocaleString('en-US');
  const storeOptions = { memoryBudgetBytes: profile.largeMemoryBudgetBytes, ...ladybugStoreOptions };
  // The children run on this machine: the figure they can read is the one this process can.
  const rssFigure = peakRss().source === 'VmHWM'
    ? 'VmHWM, the high-water mark of its own address space'
    : "getrusage's maxRSS, which on Linux would include the harness's RSS";
  return {
    id: spec.id,
    title: `load ${keys} keys (${spec.keyOrder} order, 100 B values), reopen, gets; ladybug budget ${budget}`,
    unit: 'keys',
    measures:
      `Each engine in processes of its own. Headline: keys/s writing ${keys} 16-byte keys in ${spec.keyOrder} order with 100 B values in awaited batches of the engine's bulkLoadBatchSize (ladybug: memoryBudgetBytes ${budget}; peers at their defaults); "load RSS" is that process's peak RSS (${rssFigure}). ` +
      `"close ms": the clean close after the load (ladybug checkpoints). "reopen ms": a new process, open call to the first get returning a value. ` +
      `"uniform gets/s" and "skewed gets/s": ${reads} awaited gets each, uniform over all keys, and 80% on 2% of the keys, every value checked. ` +
      `"killed reopen ms": a process overwrote a tenth of the keys (at most ${OVERWRITE_KEYS_MAX.toLocaleString('en-US')}) and was SIGKILLed; a new process's open + first get of the last overwritten key (checked to read the new value). Page cache warm.`,
    writes: false, // not compared with the raw limit: the figure includes the engines' own flushing
    interleaved: false,
    ownProcess: true,
    columns: [
      { key: 'loadRssMebibytes', header: 'load RSS MiB', shortLabel: 'RSS MiB', format: 'mebibytes' },
      { key: 'closeMs', header: 'close ms', shortLabel: 'close ms', format: 'milliseconds' },
      { key: 'reopenMs', header: 'reopen ms', shortLabel: 'reopen ms', format: 'milliseconds' },
      { key: 'uniformGetsPerSecond', header: 'uniform gets/s', shortLabel: 'uniform/s', format: 'count' },
      { key: 'skewedGetsPerSecond', header: 'skewed gets/s', shortLabel: 'skewed/s', format: 'count' },
      { key: 'killedReopenMs', header: 'killed reopen ms', shortLabel: 'killed reopen ms', format: 'milliseconds' },
      { key: 'readRssMebibytes', header: 'read RSS MiB', shortLabel: 'read RSS MiB', format: 'mebibytes' },
      { key: 'diskMebibytes', header: 'on disk MiB', shortLabel: 'disk MiB', format: 'mebibytes' },
    ],
    appliesTo: (definition) => definition.supportsReads,
    run: (context) => measureLargeData(context, spec, profile, storeOptions),
  };
}

async function measureLargeData(
  context: WorkloadContext,
  spec: LargeDataSpec,
  profile: Profile,
  ladybugStoreOptions: Readonly<Record<string, unknown>>,
): Promise<Measurement> {
  const request = (phase: LargeChildRequest['phase']): LargeChildRequest => ({
    phase,
    engineId: context.definition.id,
    directory: context.directory,
    keyCount: spec.keyCount,
    keyOrder: spec.keyOrder,
    ladybugStoreOptions,
    readCount: profile.largeReadCount,
    overwriteCount: Math.max(1, Math.min(OVERWRITE_KEYS_MAX, Math.floor(spec.keyCount / 10))),
  });
  const load = await runChild(request('load'));
  const diskBytes = allocatedBytes(context.directory);
  const read = await runChild(request('read'));
  await runChildUntilReportThenKill(request('overwrite-then-wait'));
  const reopen = await runChild(request('reopen'));
  const figure = (report: LargeChildReport, name: string): number => {
    const value = report.figures[name];
    if (value === undefined) throw new Error(`the ${report.phase} phase did not report ${name}`);
    return value;
  };
  const writeMs = figure(load, 'writeMs');
  const overwriteFound = figure(reopen, 'lastOverwriteFound') === 1;
  return {
    unitCount: spec.keyCount,
    callCount: 1,
    durationMs: writeMs,
    unitsPerSecond: (spec.keyCount * 1_000) / writeMs,
    extra: {
      loadRssMebibytes: figure(load, 'peakRssBytes') / MEBIBYTE,
      closeMs: figure(load, 'closeMs'),
      reopenMs: figure(read, 'firstReadMs'),
      uniformGetsPerSecond: figure(read, 'uniformGetsPerSecond'),
      skewedGetsPerSecond: figure(read, 'skewedGetsPerSecond'),
      killedReopenMs: figure(reopen, 'firstReadMs'),
      readRssMebibytes: figure(read, 'peakRssBytes') / MEBIBYTE,
      diskMebibytes: diskBytes / MEBIBYTE,
      keys: spec.keyCount,
      rssFromHighWater: figure(load, 'peakRssFromHighWater'),
    },
    check: overwriteFound
      ? { passed: true, summary: 'every get found its key; the last write before the SIGKILL read back' }
      : { passed: false, summary: 'the last overwrite before the SIGKILL did not read back after reopen' },
  };
}

/** Runs one phase to completion and returns its report (the last stdout line). */
function runChild(request: LargeChildRequest): Promise<LargeChildReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD_PATH, JSON.stringify(request)], { maxBuffer: 16 * MEBIBYTE }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`${request.phase} child failed: ${stderr.trim() || error.message}`));
        return;
      }
      resolve(parseReport(stdout));
    });
  });
}

/** Starts a phase that reports and then waits; SIGKILLs it once its report arrives. */
function runChildUntilReportThenKill(request: LargeChildRequest): Promise<LargeChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_PATH, JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let report: LargeChildReport | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (report === undefined && stdout.includes('\n')) {
        report = parseReport(stdout);
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (report !== undefined && signal === 'SIGKILL') resolve(report);
      else reject(new Error(`${request.phase} child exited before its report: ${stderr.trim()}`));
    });
  });
}

function parseReport(stdout: string): LargeChildReport {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as LargeChildReport;
}

/** Bytes allocated on disk to every file under `directory` (st_blocks × 512). */
function allocatedBytes(directory: string): number {
  let total = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).blocks * 512;
  }
  return total;
}
