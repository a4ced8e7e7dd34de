/**
 * Where a bulk load's memory goes (issue 7's RSS target): loads keys into
 * ladybug the way the large-load workloads do (16 B keys in random order, 100 B
 * values, awaited batches, memoryBudgetBytes 64 MiB by default), in one child
 * process per variant, and prints what each child measured:
 *
 *   npm run build && node dist/bench/large/load-memory-profile.js [--keys 1000000] [--batch 100000] [--budget-mib 64]
 *
 * Variants (each a fresh process and store):
 * - as-is: plain `node`, what the benchmark measures.
 * - gc-each-batch: `node --expose-gc`, a full GC after every batch. Its peak RSS
 *   is what the store holds when V8 collects at once; the gap to as-is is old-space
 *   garbage that V8 collects late. It also reports the largest live heap (heap
 *   used plus ArrayBuffer bytes after the GC).
 * - old-space-256: `node --max-old-space-size=256`, V8's old generation capped: no
 *   forced GC, but V8 may not grow its heap to ~4x the live size (it does with the
 *   default limit of a 24 GiB machine).
 * - batch/10: as-is with batches ten times smaller (commits, and so memtables, stay near their share).
 *
 * Figures per child: RSS once the store is open (Node and the store before any
 * write), peak RSS (the kernel's VmHWM on Linux, bench/measure/peak-rss.ts), and the peaks of heapUsed, heapTotal and
 * arrayBuffers sampled every SAMPLE_INTERVAL_MS, the peak of stats().memoryBytes
 * (what the store counts against the budget), keys/s (noisy on a busy machine:
 * the point is memory). RSS is a memory bound, not a timing: figures from a busy
 * machine are usable, ±15 MiB.
 *
 * Invariant: a child prints exactly one JSON line (its figures), the last thing on stdout.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStore } from '../../src/index.js';
import { keyAt, makeValue, SMALL_VALUE } from '../data.js';
import { peakRss } from '../measure/peak-rss.js';

const run = promisify(execFile);
const MEBIBYTE = 1024 * 1024;
const SAMPLE_INTERVAL_MS = 10;
const KEY_COUNT_DEFAULT = 1_000_000;
const BATCH_SIZE_DEFAULT = 100_000;
const BUDGET_MEBIBYTES_DEFAULT = 64;
const OLD_SPACE_CAP_MEBIBYTES = 256;

interface ChildRequest {
  readonly keyCount: number;
  readonly batchSize: number;
  readonly budgetBytes: number;
  readonly gcEachBatch: boolean;
}

interface Variant {
  readonly name: string;
  readonly nodeArguments: readonly string[];
  readonly request: ChildRequest;
}

type Figures = Record<string, number>;

async function child(request: ChildRequest): Promise<Figures> {
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-load-memory-'));
  try {
    const store = await openStore(join(directory, 'store'), { memoryBudgetBytes: request.budgetBytes, debug: false });
    const openRssBytes = process.memoryUsage().rss;
    const peaks = { heapUsed: 0, heapTotal: 0, arrayBuffers: 0, storeMemoryBytes: 0, liveHeapBytes: 0 };
    const sample = (): void => {
      const usage = process.memoryUsage();
      peaks.heapUsed = Math.max(peaks.heapUsed, usage.heapUsed);
      peaks.heapTotal = Math.max(peaks.heapTotal, usage.heapTotal);
      peaks.arrayBuffers = Math.max(peaks.arrayBuffers, usage.arrayBuffers);
    };
    const sampler = setInterval(sample, SAMPLE_INTERVAL_MS);
    const collect = (globalThis as { gc?: () => void }).gc;
    const value = makeValue(SMALL_VALUE.bytes);
    const startMs = performance.now();
    for (let first = 0; first < request.keyCount; first += request.batchSize) {
      const operations = [];
      const end = Math.min(request.keyCount, first + request.batchSize);
      for (let index = first; index < end; index++) operations.push({ type: 'put' as const, key: keyAt(index, 'random'), value });
      await store.batch(operations);
      sample();
      peaks.storeMemoryBytes = Math.max(peaks.storeMemoryBytes, store.stats().memoryBytes);
      if (request.gcEachBatch && collect !== undefined) {
        collect();
        const usage = process.memoryUsage();
        peaks.liveHeapBytes = Math.max(peaks.liveHeapBytes, usage.heapUsed + usage.arrayBuffers);
      }
    }
    const writeMs = performance.now() - startMs;
    await store.close();
    clearInterval(sampler);
    return {
      openRssMebibytes: openRssBytes / MEBIBYTE,
      peakRssMebibytes: peakRss().bytes / MEBIBYTE,
      peakHeapUsedMebibytes: peaks.heapUsed / MEBIBYTE,
      peakHeapTotalMebibytes: peaks.heapTotal / MEBIBYTE,
      peakArrayBuffersMebibytes: peaks.arrayBuffers / MEBIBYTE,
      peakStoreMemoryMebibytes: peaks.storeMemoryBytes / MEBIBYTE,
      peakLiveHeapMebibytes: peaks.liveHeapBytes / MEBIBYTE,
      keysPerSecond: (request.keyCount * 1_000) / writeMs,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

function variants(keyCount: number, batchSize: number, budgetBytes: number): Variant[] {
  const base: ChildRequest = { keyCount, batchSize, budgetBytes, gcEachBatch: false };
  return [
    { name: 'as-is', nodeArguments: [], request: base },
    { name: 'gc-each-batch', nodeArguments: ['--expose-gc'], request: { ...base, gcEachBatch: true } },
    { name: `old-space-${OLD_SPACE_CAP_MEBIBYTES}`, nodeArguments: [`--max-old-space-size=${OLD_SPACE_CAP_MEBIBYTES}`], request: base },
    { name: `batch/10 (${Math.max(1, Math.floor(batchSize / 10))})`, nodeArguments: [], request: { ...base, batchSize: Math.max(1, Math.floor(batchSize / 10)) } },
  ];
}

function numberOption(argv: readonly string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const parsed = Number(argv[at + 1]);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new RangeError(`${name} takes a positive integer, got ${argv[at + 1]}`);
  return parsed;
}

const COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['openRssMebibytes', 'open RSS'], ['peakRssMebibytes', 'peak RSS'], ['peakHeapUsedMebibytes', 'heapUsed'],
  ['peakHeapTotalMebibytes', 'heapTotal'], ['peakArrayBuffersMebibytes', 'arrayBuf'], ['peakStoreMemoryMebibytes', 'stats()'],
  ['peakLiveHeapMebibytes', 'live'], ['keysPerSecond', 'keys/s'],
];

async function parent(argv: readonly string[]): Promise<void> {
  const keyCount = numberOption(argv, '--keys', KEY_COUNT_DEFAULT);
  const batchSize = numberOption(argv, '--batch', BATCH_SIZE_DEFAULT);
  const budgetBytes = numberOption(argv, '--budget-mib', BUDGET_MEBIBYTES_DEFAULT) * MEBIBYTE;
  const self = fileURLToPath(import.meta.url);
  process.stdout.write(`${keyCount} keys, batches of ${batchSize}, memoryBudgetBytes ${budgetBytes / MEBIBYTE} MiB; peaks in MiB (live: largest heapUsed + arrayBuffers after a forced GC)\n`);
  process.stdout.write(`${['variant'.padEnd(22), ...COLUMNS.map(([, header]) => header.padStart(10))].join('')}\n`);
  for (const variant of variants(keyCount, batchSize, budgetBytes)) {
    const { stdout } = await run(process.execPath, [...variant.nodeArguments, self, '--child', JSON.stringify(variant.request)], { maxBuffer: 16 * MEBIBYTE });
    const lines = stdout.trim().split('\n');
    const figures = JSON.parse(lines[lines.length - 1] ?? '{}') as Figures;
    const cells = COLUMNS.map(([key]) => (figures[key] === undefined || (key === 'peakLiveHeapMebibytes' && !variant.request.gcEachBatch) ? '-' : figures[key].toFixed(0)).padStart(10));
    process.stdout.write(`${[variant.name.padEnd(22), ...cells].join('')}\n`);
  }
}

const argv = process.argv.slice(2);
const main = argv[0] === '--child' ? child(JSON.parse(argv[1] ?? '') as ChildRequest).then((figures) => {
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}) : parent(argv);
main.catch((error: unknown) => {
  process.stderr.write(`load-memory-profile: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
