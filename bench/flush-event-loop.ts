/**
 * Event-loop delay and commit latency while flushes run under 64 concurrent writers
 * (issues 12 and 7: the flush's cache prepopulation decoded and inserted a whole
 * flush's blocks in one synchronous step, 14-195 ms per flush; now in slices,
 * src/engine/cache-prepopulation.ts). Puts `keys` sequential keys (100-byte values)
 * from 64 writers at `budgetMiB` (default 256, the default budget, so flushes
 * prepopulate), with perf_hooks.monitorEventLoopDelay (1 ms resolution), the gaps over
 * 5 ms of a 1 ms interval timer and the GC pauses seen (a gap mostly covered by GC is
 * not the store's synchronous code). Then 100,000 uniform gets: the block cache's hits.
 *
 *   npx tsc -p tsconfig.build.json && npx vite-node bench/flush-event-loop.ts -- [keys] [budgetMiB]
 *
 * Prints one JSON line. The machine's other load shows in the numbers: run it quiet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { openStore } from '../src/index.js';

const keys = Number(process.argv[2] ?? 1_000_000);
const budgetMiB = Number(process.argv[3] ?? 256);
const WRITERS = 64;
const READS = 100_000;
const VALUE = 'v'.repeat(100);
const key = (index: number) => `key-${String(index).padStart(10, '0')}`;

const directory = mkdtempSync(join(tmpdir(), 'ladybug-flush-loop-'));
const store = await openStore(directory, { memoryBudgetBytes: budgetMiB * 1024 * 1024 });

const gcPauses: Array<{ startMs: number; durationMs: number }> = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push({ startMs: entry.startTime, durationMs: entry.duration });
});
observer.observe({ entryTypes: ['gc'] });
const gaps: Array<{ endMs: number; gapMs: number }> = [];
let last = performance.now();
const ticker = setInterval(() => {
  const now = performance.now();
  if (now - last > 5) gaps.push({ endMs: now, gapMs: now - last });
  last = now;
}, 1);
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();

const latenciesMs: number[] = [];
let next = 0;
const started = performance.now();
async function writer(): Promise<void> {
  while (next < keys) {
    const index = next++;
    const putStartedMs = performance.now();
    await store.put(key(index), VALUE);
    latenciesMs.push(performance.now() - putStartedMs);
  }
}
await Promise.all(Array.from({ length: WRITERS }, writer));
const loadMs = performance.now() - started;
loop.disable();
clearInterval(ticker);
observer.disconnect();

/** GC time inside a gap (the gap ends at endMs). */
const gcWithin = (gap: { endMs: number; gapMs: number }): number =>
  gcPauses.filter((pause) => pause.startMs >= gap.endMs - gap.gapMs && pause.startMs < gap.endMs).reduce((sum, pause) => sum + pause.durationMs, 0);
const longest = [...gaps].sort((a, b) => b.gapMs - a.gapMs).slice(0, 8).map((gap) => ({ gapMs: +gap.gapMs.toFixed(1), gcMs: +gcWithin(gap).toFixed(1) }));

const before = store.stats().storage;
for (let read = 0; read < READS; read++) await store.get(key(Math.floor(Math.random() * keys)));
const after = store.stats().storage;
await store.close();
rmSync(directory, { recursive: true, force: true });

latenciesMs.sort((a, b) => a - b);
const quantile = (share: number) => +(latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(share * latenciesMs.length))] ?? 0).toFixed(2);
console.log(JSON.stringify({
  keys, budgetMiB, writers: WRITERS, commitsPerSecond: Math.round((keys / loadMs) * 1000),
  commitP50Ms: quantile(0.5), commitP99Ms: quantile(0.99), commitP999Ms: quantile(0.999), commitMaxMs: quantile(1),
  eventLoopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(2), eventLoopDelayMaxMs: +(loop.max / 1e6).toFixed(2),
  gapsOver5Ms: gaps.length, longestGaps: longest, gcPauseMaxMs: +Math.max(0, ...gcPauses.map((pause) => pause.durationMs)).toFixed(1),
  flushes: after.flushes, uniformGetBlockCacheHits: after.blockCacheHits - before.blockCacheHits, uniformGetBlockCacheMisses: after.blockCacheMisses - before.blockCacheMisses,
}));
