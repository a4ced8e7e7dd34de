/**
 * Where the slow commits of concurrent writers wait (issue 12: 64 concurrent 4 KiB
 * puts had a p99 of 20-25 ms, 100 B ones 3-4.6 ms): runs the bench's concurrent-put
 * workload without the bench around it, records each put's call-to-resolve interval
 * and what happened meanwhile, and names a first cause for each put slower than
 * SLOW_PUT_MS.
 *
 *   npx tsc -p tsconfig.build.json
 *   node dist/bench/put-latency-causes.js [seconds] [valueBytes] [random|sequential] [directory]
 *   LADYBUG_LATENCY_OPTIONS='{"memoryBudgetBytes":4294967296}' node dist/bench/put-latency-causes.js 6 4096
 *   LADYBUG_LATENCY_WRITERS=1 node dist/bench/put-latency-causes.js 6 4096
 *
 * A store opened as the bench's ladybug adapter opens it (keyEncoding 'binary';
 * LADYBUG_LATENCY_OPTIONS adds openStore options as JSON) in a new temporary directory
 * (under `directory` when given), WRITERS writers each awaiting a put of a fresh
 * 16-byte key and one shared random value before the next. The first WARM_UP_MS are not
 * counted. Recorded meanwhile, all in this process's clock (performance.now()):
 * - every fdatasync/fsync the main thread starts through node:fs (the WAL's record
 *   syncs, inline ones included, its zero fill and its directory fsyncs; the flush and
 *   merge threads' own syncs are in their threads and not seen), wrapped here;
 * - the main isolate's garbage collections (perf_hooks 'gc' entries);
 * - every SAMPLE_INTERVAL_MS a sample of stats(): write stalls, WAL rotation waits and
 *   their ms, flushes, sealed memtables, compactions running; a sample more than
 *   LOOP_GAP_MS after the previous one marks the event loop blocked in between.
 *
 * A slow put's first cause, in this order: a WAL rotation wait of more than 2 ms
 * during it (the samples around it), a write stall begun during it, a main-isolate
 * collection over 5 ms, a WAL sync over 5 ms while a flush or a compaction was under
 * way (their run writes share the disk), such a sync with neither, the loop blocked,
 * other. A count of overlaps, not proof of cause: 64 writers share every event.
 *
 * Prints the summary as text (one line each), for runs of two builds alternated: the
 * puts' latencies, the counters since open, the main-thread syncs (all, then those
 * begun after the warm-up split by whether a flush or merge was under way, with their
 * percentiles and how many took over 5 ms: what the WAL's fdatasync saw beside the run
 * writes), and the slow puts' first causes. LADYBUG_LATENCY_WRITERS sets the writers
 * (1: the sequential-put workloads' awaited writer, whose inline syncs are recorded too).
 *
 * What it found (build 8069f08, 6 s runs, 5 counted, 256 MiB budget; busy: load 9-10,
 * so 7-11k puts/s instead of the bench's 32k): of the 4 KiB puts over 10 ms (14-17%),
 * 60-67% first overlapped a WAL sync over 5 ms while a flush or merge was writing its
 * run, 6-11% such a sync with neither, 10-16% a WAL rotation wait, 8-10% a collection,
 * 4-7% a blocked loop, 0-1% a write stall (3 runs). With 100 B values no memtable was
 * sealed in the window (no flush, no rotation): 77% slow syncs alone, 12% collections.
 * Rotation waits follow seals: a seal's cut starts the next segment at the first-segment
 * size (64 KiB, smaller than one group of 64 x 4 KiB commits), which doubles back over
 * about 6 rotations the writer waits for (38-50 waits per run, 5.6-6.3 per flush; 5 in
 * a run when a throwaway build kept the cut-off segment's size for the new one, mean
 * group 59.4-59.7 -> 63.3-63.5 commits). A write stall appeared in 4 of about 25 runs,
 * 64 or 128 writers each; the one sampled came at the first flush (the flush thread
 * starting). A memtable is sealed at
 * MEMTABLE_BUDGET_SHARE or just over it, so two sealed memtables exceed
 * IMMUTABLE_BUDGET_SHARE (2 x 33,816,320 B > 64 MiB): a seal while the previous
 * memtable is still being flushed stalls all 64 writers until that flush ends
 * (158-248 ms each here). Syncing a run every N bytes as it is written (RocksDB's
 * bytes_per_sync) against those slow syncs was tried and not kept: docs/ARCHITECTURE.md,
 * the commit path, "Run writes beside the WAL's fdatasync".
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import process from 'node:process';
import { openStore } from '../src/index.js';
import { keyAt, type KeyOrder } from './data.js';

/** Puts in flight, as the bench's concurrent-put workloads (LADYBUG_LATENCY_WRITERS: 1 is the sequential-put workloads' one awaited writer). */
const WRITERS = Number(process.env['LADYBUG_LATENCY_WRITERS'] ?? '64');
/** Not counted: the JIT warms up and the first segments are made. */
const WARM_UP_MS = 1000;
/** A put slower than this gets a first cause. */
const SLOW_PUT_MS = 10;
const SAMPLE_INTERVAL_MS = 1;
/** Samples further apart than this mark the event loop blocked between them. */
const LOOP_GAP_MS = 3;

type Interval = readonly [startMs: number, endMs: number];

interface Sample {
  atMs: number;
  writeStalls: number;
  rotationWaits: number;
  rotationWaitMs: number;
  flushes: number;
  sealedMemtables: number;
  compactionsRunning: number;
}

/** Wraps the main thread's node:fs sync calls to record when each ran (the store's file system calls them through the fs object). */
function recordSyncs(into: Interval[]): void {
  type Callback = (error: NodeJS.ErrnoException | null) => void;
  const target = fs as unknown as Record<'fdatasync' | 'fsync', (descriptor: number, done: Callback) => void> & { fdatasyncSync: (descriptor: number) => void };
  for (const name of ['fdatasync', 'fsync'] as const) {
    const original = target[name].bind(fs);
    target[name] = (descriptor, done) => {
      const startMs = performance.now();
      original(descriptor, (error) => {
        into.push([startMs, performance.now()]);
        done(error);
      });
    };
  }
  const originalSync = target.fdatasyncSync.bind(fs);
  target.fdatasyncSync = (descriptor) => {
    const startMs = performance.now();
    try {
      originalSync(descriptor);
    } finally {
      into.push([startMs, performance.now()]);
    }
  };
}

function overlaps(list: readonly Interval[], startMs: number, endMs: number, longerThanMs: number): boolean {
  return list.some(([start, end]) => start < endMs && end > startMs && end - start > longerThanMs);
}

/** The last sample at or before `atMs` (or the first), and the first at or after it (or the last). */
function sampleAt(samples: readonly Sample[], atMs: number, after: boolean): Sample {
  let low = 0;
  let high = samples.length - 1;
  while (low < high) {
    const middle = after ? (low + high) >> 1 : (low + high + 1) >> 1;
    if (after ? samples[middle]!.atMs >= atMs : samples[middle]!.atMs <= atMs) {
      if (after) high = middle;
      else low = middle;
    } else if (after) low = middle + 1;
    else high = middle - 1;
  }
  return samples[low]!;
}

/** Whether a flush or a compaction was under way between two samples. */
function isBackground(before: Sample, after: Sample): boolean {
  return before.sealedMemtables > 0 || after.sealedMemtables > 0 || after.flushes > before.flushes || before.compactionsRunning > 0 || after.compactionsRunning > 0;
}

function percentile(sorted: readonly number[], fraction: number): string {
  return sorted.length === 0 ? '-' : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!.toFixed(2);
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? '6');
  const valueBytes = Number(process.argv[3] ?? '4096');
  const keyOrder = (process.argv[4] ?? 'random') as KeyOrder;
  const parent = process.argv[5] ?? tmpdir();
  const extraOptions = JSON.parse(process.env['LADYBUG_LATENCY_OPTIONS'] ?? '{}') as Record<string, unknown>;
  if (!(seconds * 1000 > WARM_UP_MS) || !(valueBytes > 0) || !(Number.isInteger(WRITERS) && WRITERS > 0)) throw new RangeError('usage: put-latency-causes [seconds > 1] [valueBytes > 0] [random|sequential] [directory]');

  const syncs: Interval[] = [];
  recordSyncs(syncs);
  const collections: Interval[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) collections.push([entry.startTime, entry.startTime + entry.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });

  const directory = fs.mkdtempSync(join(parent, 'ladybug-latency-'));
  const store = await openStore(join(directory, 'store'), { keyEncoding: 'binary', ...extraOptions });
  const value = randomBytes(valueBytes);
  const samples: Sample[] = [];
  const loopGaps: Interval[] = [];
  const takeSample = (): void => {
    const stats = store.stats();
    const atMs = performance.now();
    const previous = samples[samples.length - 1];
    if (previous !== undefined && atMs - previous.atMs > LOOP_GAP_MS) loopGaps.push([previous.atMs, atMs]);
    samples.push({
      atMs, writeStalls: stats.storage.writeStalls, rotationWaits: stats.sinceOpen.walRotationWaits, rotationWaitMs: stats.sinceOpen.walRotationWaitMs,
      flushes: stats.storage.flushes, sealedMemtables: stats.storage.immutableMemtables, compactionsRunning: stats.storage.compaction.runningCount,
    });
  };
  takeSample();
  const sampler = setInterval(takeSample, SAMPLE_INTERVAL_MS);

  const puts: Interval[] = [];
  const countFromMs = performance.now() + WARM_UP_MS;
  const endMs = performance.now() + seconds * 1000;
  let nextKey = 0;
  const writer = async (): Promise<void> => {
    while (performance.now() < endMs) {
      const key = keyAt(nextKey++, keyOrder);
      const startMs = performance.now();
      await store.put(key, value);
      if (startMs >= countFromMs) puts.push([startMs, performance.now()]);
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  clearInterval(sampler);
  takeSample();
  observer.disconnect();
  const stats = store.stats();
  await store.close();
  fs.rmSync(directory, { recursive: true, force: true });

  const latencies = puts.map(([start, end]) => end - start).sort((a, b) => a - b);
  const countedSeconds = seconds - WARM_UP_MS / 1000;
  console.log(`${puts.length} puts (${(puts.length / countedSeconds).toFixed(0)}/s, ${valueBytes} B, ${keyOrder} keys): p50 ${percentile(latencies, 0.5)} p90 ${percentile(latencies, 0.9)} p99 ${percentile(latencies, 0.99)} p99.9 ${percentile(latencies, 0.999)} max ${percentile(latencies, 1)} ms`);
  console.log(`since open: write stalls ${stats.storage.writeStalls} (${stats.storage.writeStallMs.toFixed(0)} ms summed over writers), WAL rotation waits ${stats.sinceOpen.walRotationWaits} (${stats.sinceOpen.walRotationWaitMs.toFixed(0)} ms), flushes ${stats.storage.flushes}, compactions ${stats.storage.compaction.compactions}, mean group ${stats.meanGroupSize.toFixed(1)}, fsyncs ${stats.fsyncs}`);
  const syncMs = syncs.map(([start, end]) => end - start).sort((a, b) => a - b);
  const collectionMs = collections.reduce((sum, [start, end]) => sum + end - start, 0);
  console.log(`main-thread syncs ${syncs.length}: p50 ${percentile(syncMs, 0.5)} p99 ${percentile(syncMs, 0.99)} ms; collections ${collections.length} (${collectionMs.toFixed(0)} ms); loop blocked > ${LOOP_GAP_MS} ms ${loopGaps.length} times`);

  // The syncs split by whether a flush or merge was under way (the samples around each, as for a slow put's cause).
  const besideBackground: number[] = [];
  const alone: number[] = [];
  for (const [start, end] of syncs) {
    if (start < countFromMs) continue;
    (isBackground(sampleAt(samples, start, false), sampleAt(samples, end, true)) ? besideBackground : alone).push(end - start);
  }
  for (const [name, list] of [['beside a flush or merge', besideBackground], ['with neither', alone]] as const) {
    list.sort((a, b) => a - b);
    const over5 = list.filter((ms) => ms > 5).length;
    console.log(`counted syncs ${name} ${list.length}: p50 ${percentile(list, 0.5)} p90 ${percentile(list, 0.9)} p99 ${percentile(list, 0.99)} p99.9 ${percentile(list, 0.999)} max ${percentile(list, 1)} ms, over 5 ms ${over5}`);
  }

  const causes = { rotationWait: 0, writeStall: 0, collection: 0, slowSyncBesideFlushOrMerge: 0, slowSyncAlone: 0, loopBlocked: 0, other: 0 };
  let slow = 0;
  for (const [start, end] of puts) {
    if (end - start <= SLOW_PUT_MS) continue;
    slow++;
    const before = sampleAt(samples, start, false);
    const after = sampleAt(samples, end, true);
    const background = isBackground(before, after);
    if (after.rotationWaitMs - before.rotationWaitMs > 2) causes.rotationWait++;
    else if (after.writeStalls > before.writeStalls) causes.writeStall++;
    else if (overlaps(collections, start, end, 5)) causes.collection++;
    else if (overlaps(syncs, start, end, 5)) causes[background ? 'slowSyncBesideFlushOrMerge' : 'slowSyncAlone']++;
    else if (overlaps(loopGaps, start, end, 0)) causes.loopBlocked++;
    else causes.other++;
  }
  console.log(`puts over ${SLOW_PUT_MS} ms: ${slow} (${((100 * slow) / Math.max(1, puts.length)).toFixed(2)}%), first cause: ${Object.entries(causes).map(([name, count]) => `${name} ${count}`).join(', ')}`);
}

await main();
