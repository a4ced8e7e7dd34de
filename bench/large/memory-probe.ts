/**
 * Where a process's peak RSS goes (issue 7), preloaded into any bench child:
 *
 *   node --import ./dist/bench/large/memory-probe.js dist/bench/large/large-child.js '<request>'
 *
 * Every SAMPLE_INTERVAL_MS it reads process.memoryUsage(); at the largest RSS seen it
 * keeps the V8 figures (heap spaces: used and physical), and each time RSS has grown
 * by SMAPS_STEP_BYTES since the last look it also reads /proc/self/smaps and sorts
 * resident memory into parts:
 * - v8Pages: anonymous 256 KiB mappings, V8's heap pages (every isolate: the main
 *   thread's and the merge threads'; the young generation's semi-spaces included);
 * - mallocMainArena: `[heap]`, the main thread's malloc arena (ArrayBuffer backing
 *   stores of Buffers allocated on the main thread, Node and V8 native data);
 *   glibc keeps its high-water mark when the top of the arena stays in use;
 * - threadArenas: other threads' malloc arenas (glibc maps each one as a 64 MiB-aligned
 *   "heap" of at most 64 MiB; a worker's ArrayBuffers and its isolate's native data live
 *   in the arena of the thread that allocated them, and glibc gives an arena's freed
 *   pages back only from its top);
 * - otherAnonymous: the rest (V8 large-object pages, thread stacks, other mappings);
 * - fileBacked: mapped files (the node binary's pages, shared libraries); `nodeBinary`
 *   is the part of it that is the node executable (not a further part of the sum).
 * Worker threads (the flush and merge threads, the compression pool): every Worker the
 * process starts from a file gets this probe too (`--import` added to an explicit
 * execArgv; an inherited one already has it), and each thread posts its isolate's
 * figures (heap total and used, young and old generation, ArrayBuffers) on a
 * BroadcastChannel every SAMPLE_INTERVAL_MS, named by the file the thread runs (`script`:
 * flush-worker, merge-worker, piscina's worker for the compression pool). At the largest RSS the main thread keeps
 * the latest figures of every thread taken within THREAD_FRESH_MS (`threadsAtPeak`, with their age),
 * and each thread's own largest heap and ArrayBuffer figures (`threadMaxima`): a
 * worker's isolate and its ArrayBuffers (in its own malloc arena) are otherwise one
 * undivided "other anonymous" figure.
 * At exit it writes one line `MEMORY-PROBE {json}` to stderr (stdout stays the child's).
 * Figures in MiB. The kernel's peak (`peakRssMebibytes`: VmHWM on Linux, maxRSS elsewhere,
 * `peakRssSource` says which; bench/measure/peak-rss.ts) can fall between two samples, so
 * the parts sum to the sampled peak (`sampledPeakRssMebibytes`), not exactly to it.
 * The probe costs memory of its own (a module per thread, the messages): use it to
 * divide a peak, not to report one.
 *
 * Invariant: nothing is printed to stdout; the probe's timers and channel never keep
 * a process or thread alive; the Workers it starts differ only by the --import.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';
import v8 from 'node:v8';
import { BroadcastChannel, isMainThread, threadId, type Worker, type WorkerOptions } from 'node:worker_threads';
import { peakRss } from '../measure/peak-rss.js';

const MEBIBYTE = 1024 * 1024;
const KIBIBYTE = 1024;
const SAMPLE_INTERVAL_MS = 5;
const SMAPS_STEP_BYTES = 2 * MEBIBYTE;
/** V8 allocates its heap (regular pages of every space) in mappings of this size. */
const V8_PAGE_KIBIBYTES = 256;
/** glibc's non-main malloc arenas are mapped at multiples of this (HEAP_MAX_SIZE on 64-bit), at most this large. */
const MALLOC_HEAP_ALIGN_BYTES = 64 * MEBIBYTE;
/** memory-breakdown.ts finds the report by this prefix. */
const MEMORY_PROBE_PREFIX = 'MEMORY-PROBE ';
/** The threads' channel. */
const THREAD_CHANNEL = 'ladybug-memory-probe';
/** A thread's latest figures count at the peak if they were taken at most this long before it (`ageMs` says how long). */
const THREAD_FRESH_MS = 1_000;

type Figures = Record<string, number>;

let peakRssBytes = 0;
let peakFigures: Figures = {};
let smapsRssBytes = 0;
let smapsParts: Figures = {};

/** A clock every thread of the process shares (performance.now() counts from each thread's own start). */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function mebibytes(bytes: number): number {
  return Math.round((bytes / MEBIBYTE) * 10) / 10;
}

/** The node executable's path as /proc/self/smaps names it. */
const NODE_BINARY = realpathSync(process.execPath);

/** Resident bytes of /proc/self/smaps by part (see the module header). */
function smapsByPart(): Figures {
  const parts: Figures = { v8Pages: 0, mallocMainArena: 0, threadArenas: 0, otherAnonymous: 0, fileBacked: 0 };
  let part = 'otherAnonymous';
  let nodeBinaryBytes = 0;
  let inNodeBinary = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      const start = parseInt(mapping[1]!, 16);
      const size = parseInt(mapping[2]!, 16) - start;
      const name = mapping[3] ?? '';
      inNodeBinary = name === NODE_BINARY;
      if (name.startsWith('/')) part = 'fileBacked';
      else if (name === '[heap]') part = 'mallocMainArena';
      else if (name === '' && size === V8_PAGE_KIBIBYTES * KIBIBYTE) part = 'v8Pages';
      else if (name === '' && start % MALLOC_HEAP_ALIGN_BYTES === 0 && size <= MALLOC_HEAP_ALIGN_BYTES) part = 'threadArenas';
      else part = 'otherAnonymous';
      continue;
    }
    const resident = /^Rss:\s+(\d+) kB/.exec(line);
    if (resident === null) continue;
    parts[part]! += Number(resident[1]) * KIBIBYTE;
    if (inNodeBinary) nodeBinaryBytes += Number(resident[1]) * KIBIBYTE;
  }
  for (const name of Object.keys(parts)) parts[name] = mebibytes(parts[name]!);
  parts['nodeBinary'] = mebibytes(nodeBinaryBytes);
  return parts;
}

/** This thread's isolate: heap, young and old generation (physical), ArrayBuffers. */
function isolateFigures(): Figures {
  const usage = process.memoryUsage();
  const figures: Figures = { heapTotal: mebibytes(usage.heapTotal), heapUsed: mebibytes(usage.heapUsed), arrayBuffers: mebibytes(usage.arrayBuffers) };
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space') figures['newPhysical'] = mebibytes(space.physical_space_size);
    if (space.space_name === 'old_space') figures['oldPhysical'] = mebibytes(space.physical_space_size);
  }
  return figures;
}

/** Latest figures of each worker thread, with when the thread took them (epoch ms). */
const threadLatest = new Map<number, { atMs: number; figures: Figures }>();
const threadMaxima = new Map<number, Figures>();
/** The file each worker thread runs, by thread id (set as it is started). */
const threadScripts = new Map<number, string>();
let threadsAtPeak: Array<{ threadId: number; script: string; ageMs: number } & Record<string, number | string>> = [];

function sample(): void {
  const usage = process.memoryUsage();
  if (usage.rss > smapsRssBytes + SMAPS_STEP_BYTES) {
    smapsRssBytes = usage.rss;
    smapsParts = smapsByPart();
  }
  if (usage.rss <= peakRssBytes) return;
  peakRssBytes = usage.rss;
  peakFigures = {
    heapTotal: mebibytes(usage.heapTotal),
    heapUsed: mebibytes(usage.heapUsed),
    external: mebibytes(usage.external),
    arrayBuffers: mebibytes(usage.arrayBuffers),
  };
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.physical_space_size === 0) continue;
    const name = space.space_name.replace(/_space$/, '');
    peakFigures[`${name}Used`] = mebibytes(space.space_used_size);
    peakFigures[`${name}Physical`] = mebibytes(space.physical_space_size);
  }
  const now = epochMs();
  threadsAtPeak = [...threadLatest].filter(([, latest]) => now - latest.atMs <= THREAD_FRESH_MS)
    .map(([id, latest]) => ({ threadId: id, script: threadScripts.get(id) ?? '?', ageMs: Math.round(now - latest.atMs), ...latest.figures }));
}

/** Every Worker started from a file loads this probe too (see the module header). */
function probeWorkers(): void {
  const require = createRequire(import.meta.url);
  const workerThreads = require('node:worker_threads') as { Worker: typeof Worker };
  const Original = workerThreads.Worker;
  workerThreads.Worker = class extends Original {
    constructor(filename: string | URL, options: WorkerOptions = {}) {
      const probed = options.eval === true || options.execArgv === undefined ? options : { ...options, execArgv: [...options.execArgv, '--import', import.meta.url] };
      super(filename, probed);
      threadScripts.set(this.threadId, basename(String(filename)).replace(/\.[cm]?js$/, ''));
    }
  };
  syncBuiltinESMExports();
}

if (isMainThread) {
  probeWorkers();
  const channel = new BroadcastChannel(THREAD_CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    const { threadId: id, atMs, figures } = (event as { data: { threadId: number; atMs: number; figures: Figures } }).data;
    threadLatest.set(id, { atMs, figures });
    const maxima = threadMaxima.get(id) ?? {};
    for (const name of ['heapTotal', 'arrayBuffers']) maxima[name] = Math.max(maxima[name] ?? 0, figures[name] ?? 0);
    threadMaxima.set(id, maxima);
  };
  setInterval(sample, SAMPLE_INTERVAL_MS).unref();
  process.on('exit', () => {
    sample();
    const peak = peakRss();
    const report = {
      peakRssMebibytes: mebibytes(peak.bytes),
      peakRssSource: peak.source,
      sampledPeakRssMebibytes: mebibytes(peakRssBytes),
      atPeak: peakFigures,
      smapsAtRssMebibytes: mebibytes(smapsRssBytes),
      smaps: smapsParts,
      threadsAtPeak,
      threadMaxima: Object.fromEntries([...threadMaxima].map(([id, maxima]) => [id, { script: threadScripts.get(id) ?? '?', ...maxima }])),
    };
    process.stderr.write(`${MEMORY_PROBE_PREFIX}${JSON.stringify(report)}\n`);
  });
} else {
  const channel = new BroadcastChannel(THREAD_CHANNEL);
  channel.unref();
  setInterval(() => channel.postMessage({ threadId, atMs: epochMs(), figures: isolateFigures() }), SAMPLE_INTERVAL_MS).unref();
}
