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
 * - otherAnonymous: the rest (V8 large-object pages, other threads' malloc arenas, stacks);
 * - fileBacked: mapped files (the node binary's pages, shared libraries).
 * At exit it writes one line `MEMORY-PROBE {json}` to stderr (stdout stays the child's).
 * Figures in MiB. The kernel's peak (maxRSS) can fall between two samples, so the
 * parts sum to the sampled peak (`sampledPeakRssMebibytes`), not exactly to maxRSS.
 *
 * Invariant: nothing is printed to stdout; the probe's timer never keeps the process alive.
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const MEBIBYTE = 1024 * 1024;
const KIBIBYTE = 1024;
const SAMPLE_INTERVAL_MS = 5;
const SMAPS_STEP_BYTES = 2 * MEBIBYTE;
/** V8 allocates its heap (regular pages of every space) in mappings of this size. */
const V8_PAGE_KIBIBYTES = 256;
/** memory-breakdown.ts finds the report by this prefix. */
const MEMORY_PROBE_PREFIX = 'MEMORY-PROBE ';

type Figures = Record<string, number>;

let peakRssBytes = 0;
let peakFigures: Figures = {};
let smapsRssBytes = 0;
let smapsParts: Figures = {};

function mebibytes(bytes: number): number {
  return Math.round((bytes / MEBIBYTE) * 10) / 10;
}

/** Resident bytes of /proc/self/smaps by part (see the module header). */
function smapsByPart(): Figures {
  const parts: Figures = { v8Pages: 0, mallocMainArena: 0, otherAnonymous: 0, fileBacked: 0 };
  let part = 'otherAnonymous';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      const sizeKibibytes = (parseInt(mapping[2]!, 16) - parseInt(mapping[1]!, 16)) / KIBIBYTE;
      const name = mapping[3] ?? '';
      if (name.startsWith('/')) part = 'fileBacked';
      else if (name === '[heap]') part = 'mallocMainArena';
      else if (name === '' && sizeKibibytes === V8_PAGE_KIBIBYTES) part = 'v8Pages';
      else part = 'otherAnonymous';
      continue;
    }
    const resident = /^Rss:\s+(\d+) kB/.exec(line);
    if (resident !== null) parts[part]! += Number(resident[1]) * KIBIBYTE;
  }
  for (const name of Object.keys(parts)) parts[name] = mebibytes(parts[name]!);
  return parts;
}

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
}

setInterval(sample, SAMPLE_INTERVAL_MS).unref();
process.on('exit', () => {
  sample();
  const report = {
    maxRssMebibytes: mebibytes(process.resourceUsage().maxRSS * KIBIBYTE),
    sampledPeakRssMebibytes: mebibytes(peakRssBytes),
    atPeak: peakFigures,
    smapsAtRssMebibytes: mebibytes(smapsRssBytes),
    smaps: smapsParts,
  };
  process.stderr.write(`${MEMORY_PROBE_PREFIX}${JSON.stringify(report)}\n`);
});
