/**
 * Peak RSS of the large-load workload's phases, part by part (issue 7): runs
 * bench/large/large-child.ts's load and read phases for each engine, with
 * bench/large/memory-probe.ts preloaded, engines interleaved within each repeat, and
 * prints one markdown table per phase:
 *
 *   npm run build && node dist/bench/large/memory-breakdown.js [--keys 200000] [--repeats 3]
 *     [--engines none,ladybug,lmdb,classic-level,better-sqlite3] [--budget-mib 64] [--node-flags "--max-semi-space-size=1"]
 *
 * Engine `none` is the harness floor (large-child.ts NOOP_ENGINE_ID). Columns: the main
 * isolate's heap spaces and ArrayBuffers, the worker threads at the peak (count, their
 * isolates' heaps, their ArrayBuffers, which live in their malloc arenas: part of
 * "thread arenas"), then /proc/self/smaps parts (memory-probe.ts; "of which node": the
 * files' pages that are the node executable). `--node-flags`
 * passes V8 flags to every child, to show what the embedding process's flags would
 * change (a library must not set them). RSS is a memory figure, not a timing: on a
 * busy machine it is usable (±10 MiB between repeats); the keys/s and gets/s columns
 * are not.
 *
 * Measured 2026-12-01 03:25 UTC (busy machine, 200k keys, 64 MiB budget, build 8b54aa7):
 * harness floor (`none`) load 69, read 61 MiB; ladybug load 224-232, read 204-212
 * (280-290 with the block cache before its hit credit); lmdb 212 / 105, classic-level
 * 168 / 90, better-sqlite3 133 / 82. Ladybug's read peak: young generation 32 (the
 * peers' read phases allocate so little that theirs stays at 4), old space 36, block
 * and point cache ArrayBuffers ~40 (malloc arena ~50), other anonymous ~27 (the merge
 * and flush threads' isolates and arenas), mapped files 49. What node flags would
 * change (the embedding process's choice; a library must not set them):
 * --max-old-space-size=192: load 205, read 207; --max-semi-space-size=1: load 253
 * (more promoted), read 175. Those peaks were maxRSS, which starts at this parent's RSS
 * (the peak column is VmHWM since: bench/measure/peak-rss.ts); 2026-12-01 12:35 (load
 * 13-20, build dc0353d's bench files): floor load 58, read 61; ladybug load 239-277.
 * 2026-12-01 15:32-15:44 UTC (load 11-14; builds 577febf and b0572cb alternated, which
 * differ in the compression pool only, and no load starts it: merges compress in their
 * own thread; figures of both), the load phase alone (memory-probe.ts per thread):
 * - 200k keys: peak 249-263 MiB (VmHWM). Main isolate: young generation 31-32
 *   physical, old 57-63, large objects 12, ArrayBuffers 19-23; `[heap]` 26-28. Flush
 *   thread: heap 17 (young 8, old 8), ArrayBuffers 10-21; one merge thread: heap 10.5-11
 *   (young 2, old 8), ArrayBuffers 1.5; the threads' arenas 29-42 (their ArrayBuffers
 *   and each isolate's native data); other anonymous 16-19; files 48.5.
 * - 1M keys: peak 320-346. Main young 25-32, old 61-86, large objects 3-18,
 *   ArrayBuffers 25-35, `[heap]` 35-39; flush thread heap 17, ArrayBuffers 13-29; one or
 *   two merge threads at 10-12 of heap each; thread arenas 46-64.
 * The flush thread's ArrayBuffers are partly the blocks it returns for cache
 * prepopulation (allocated in its arena, held by the main thread's cache, or dropped
 * there and not yet collected): with prepopulation switched off (an experiment, not an
 * option) the 200k load's flush thread held 1-7 MiB and peaked at 240-241 against
 * 249-258 in the same runs; at 1M its ArrayBuffers stayed 13-21 and the peak (330-337
 * against 333-346) did not move: there they are the flush writer's own buffers,
 * waiting for the thread's next full collection.
 * 2026-12-01 18:20-18:50 UTC (load 16-23; build bb9b2c7 alternated with the same plus
 * the flush chunks recycled, one load child per run with memory-probe.ts): 200k keys,
 * the flush thread's ArrayBuffers at the peak 16.8-23.7 -> 8.8-9.9 MiB, thread arenas
 * 28-41 -> 29-33, peak 230-251 -> 231-246 (4 runs each). 1M keys: peak 307-328 either
 * way, main old generation 70-82 physical at the peak, thread arenas 53-69, the flush
 * thread's ArrayBuffers 11-23 with or without recycling (the writer's per-run buffers).
 *
 * Invariant: every child gets a fresh store directory, removed afterwards.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LargeChildPhase, LargeChildReport, LargeChildRequest } from './large-child.js';

const run = promisify(execFile);
const MEBIBYTE = 1024 * 1024;
const CHILD_PATH = fileURLToPath(new URL('./large-child.js', import.meta.url));
const PROBE_URL = new URL('./memory-probe.js', import.meta.url).href;
const ENGINES_DEFAULT = 'none,ladybug,lmdb,classic-level,better-sqlite3';
const READ_COUNT = 200_000;
/** The line memory-probe.ts writes to stderr (not imported from it: importing the probe starts it in this process). */
const MEMORY_PROBE_PREFIX = 'MEMORY-PROBE ';

interface ProbeReport {
  peakRssMebibytes: number;
  peakRssSource: string;
  atPeak: Record<string, number>;
  smaps: Record<string, number>;
  /** Each worker thread's isolate at the peak (memory-probe.ts; `script` names the thread). */
  threadsAtPeak: Array<Record<string, number>>;
}

/** The sum of one figure over the worker threads at the peak. */
function threadSum(row: Row, name: string): number {
  return row.probe.threadsAtPeak.reduce((sum, thread) => sum + (thread[name] ?? 0), 0);
}

interface Row {
  engine: string;
  repeat: number;
  probe: ProbeReport;
  figures: Record<string, number>;
}

interface Options {
  keyCount: number;
  repeats: number;
  engines: string[];
  budgetBytes: number;
  nodeFlags: string[];
}

async function runPhase(phase: LargeChildPhase, engine: string, directory: string, options: Options): Promise<{ probe: ProbeReport; figures: Record<string, number> }> {
  const request: LargeChildRequest = {
    phase, engineId: engine, directory, keyCount: options.keyCount, keyOrder: 'random',
    ladybugStoreOptions: { memoryBudgetBytes: options.budgetBytes }, readCount: READ_COUNT, overwriteCount: 1,
  };
  const argv = [...options.nodeFlags, '--import', PROBE_URL, CHILD_PATH, JSON.stringify(request)];
  const { stdout, stderr } = await run(process.execPath, argv, { maxBuffer: 16 * MEBIBYTE });
  const probeLine = stderr.split('\n').find((line) => line.startsWith(MEMORY_PROBE_PREFIX));
  if (probeLine === undefined) throw new Error(`${engine} ${phase}: no probe line on stderr`);
  const lines = stdout.trim().split('\n');
  const report = JSON.parse(lines[lines.length - 1] ?? '{}') as LargeChildReport;
  return { probe: JSON.parse(probeLine.slice(MEMORY_PROBE_PREFIX.length)) as ProbeReport, figures: report.figures };
}

const COLUMNS: ReadonlyArray<readonly [string, (row: Row) => number | undefined]> = [
  ['peak RSS', (row) => row.probe.peakRssMebibytes],
  ['V8 pages', (row) => row.probe.smaps['v8Pages']],
  ['new phys', (row) => row.probe.atPeak['newPhysical']],
  ['old used', (row) => row.probe.atPeak['oldUsed']],
  ['old phys', (row) => row.probe.atPeak['oldPhysical']],
  ['LO phys', (row) => row.probe.atPeak['large_objectPhysical']],
  ['arrayBuffers', (row) => row.probe.atPeak['arrayBuffers']],
  ['threads', (row) => row.probe.threadsAtPeak.length],
  ['thread heaps', (row) => threadSum(row, 'heapTotal')],
  ['thread arrayBuffers', (row) => threadSum(row, 'arrayBuffers')],
  ['malloc [heap]', (row) => row.probe.smaps['mallocMainArena']],
  ['thread arenas', (row) => row.probe.smaps['threadArenas']],
  ['other anon', (row) => row.probe.smaps['otherAnonymous']],
  ['files', (row) => row.probe.smaps['fileBacked']],
  ['of which node', (row) => row.probe.smaps['nodeBinary']],
  ['keys/s', (row) => row.figures['keysPerSecond']],
  ['uniform gets/s', (row) => row.figures['uniformGetsPerSecond']],
];

function table(title: string, rows: readonly Row[]): string {
  const lines = [`### ${title} (MiB at the sampled peak)`, '', `| engine | repeat | ${COLUMNS.map(([name]) => name).join(' | ')} |`, `|---|---:|${COLUMNS.map(() => '---:').join('|')}|`];
  for (const row of rows) {
    const cells = COLUMNS.map(([, read]) => {
      const value = read(row);
      return value === undefined ? '-' : value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(0);
    });
    lines.push(`| ${row.engine} | ${row.repeat} | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

function option(argv: readonly string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at < 0 ? fallback : (argv[at + 1] ?? fallback);
}

function positiveInteger(text: string, name: string): number {
  const parsed = Number(text);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new RangeError(`${name} takes a positive integer, got ${text}`);
  return parsed;
}

async function main(argv: readonly string[]): Promise<void> {
  const options: Options = {
    keyCount: positiveInteger(option(argv, '--keys', '200000'), '--keys'),
    repeats: positiveInteger(option(argv, '--repeats', '1'), '--repeats'),
    engines: option(argv, '--engines', ENGINES_DEFAULT).split(','),
    budgetBytes: positiveInteger(option(argv, '--budget-mib', '64'), '--budget-mib') * MEBIBYTE,
    nodeFlags: option(argv, '--node-flags', '').split(' ').filter((flag) => flag !== ''),
  };
  const loads: Row[] = [];
  const reads: Row[] = [];
  for (let repeat = 1; repeat <= options.repeats; repeat++) {
    for (const engine of options.engines) {
      const directory = mkdtempSync(join(tmpdir(), 'ladybug-memory-breakdown-'));
      try {
        const store = join(directory, 'store');
        mkdirSync(store); // engines open an existing, empty directory (engine.ts EngineOpener)
        loads.push({ engine, repeat, ...(await runPhase('load', engine, store, options)) });
        reads.push({ engine, repeat, ...(await runPhase('read', engine, store, options)) });
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    }
  }
  const flags = options.nodeFlags.length === 0 ? 'no node flags' : `node ${options.nodeFlags.join(' ')}`;
  process.stdout.write(`${options.keyCount} keys (random order, 100 B values), ladybug memoryBudgetBytes ${options.budgetBytes / MEBIBYTE} MiB, ${flags}\n\n`);
  process.stdout.write(`${table('load phase', loads)}\n${table('read phase', reads)}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`memory-breakdown: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
