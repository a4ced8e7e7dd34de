/**
 * Event-loop delay while a compaction runs (issue 8: p99 target under 10 ms on the
 * 2-core machine). Writes `keys` keys (100-byte values) `rounds` times with
 * maxVersionsPerKey 1, checkpoints, then measures one full compact() with
 * perf_hooks.monitorEventLoopDelay (1 ms resolution) and lists the longest gaps of a
 * 1 ms interval timer with GC pauses seen in the same window.
 *
 *   npx vite-node bench/compaction-event-loop.ts -- [keys] [rounds]
 *
 * Prints one JSON line. The machine's other load shows in the numbers: run it quiet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { openStore } from '../src/index.js';

const keys = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 4);
const VALUE = 'v'.repeat(94);
const key = (index: number) => `key-${String(index).padStart(8, '0')}`;

const directory = mkdtempSync(join(tmpdir(), 'ladybug-event-loop-'));
const store = await openStore(directory, { maxVersionsPerKey: 1, memoryBudgetBytes: 4 * 1024 * 1024 });
for (let round = 0; round < rounds; round++) {
  for (let start = 0; start < keys; start += 500) {
    await store.batch(Array.from({ length: Math.min(500, keys - start) }, (_, offset) => ({ type: 'put' as const, key: key(start + offset), value: `${round}${VALUE}` })));
  }
}
await store.checkpoint();
// Let background compactions finish so compact() below is the only one running.
while (store.stats().storage.compaction.running) await new Promise((resolve) => setTimeout(resolve, 10));
const runsBefore = store.stats().storage.runs;

const gcPausesMs: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPausesMs.push(entry.duration);
});
observer.observe({ entryTypes: ['gc'] });
const gaps: Array<{ atMs: number; gapMs: number }> = [];
let last = performance.now();
const started = last;
const ticker = setInterval(() => {
  const now = performance.now();
  if (now - last > 5) gaps.push({ atMs: Math.round(now - started), gapMs: +(now - last).toFixed(1) });
  last = now;
}, 1);
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const result = await store.compact();
loop.disable();
clearInterval(ticker);
observer.disconnect();
await store.close();
rmSync(directory, { recursive: true, force: true });
console.log(JSON.stringify({
  keys, rounds, runsBefore, compactMs: Math.round(result.durationMs), entriesIn: result.entriesIn, bytesOut: result.bytesOut,
  eventLoopDelayP50Ms: +(loop.percentile(50) / 1e6).toFixed(2),
  eventLoopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(2),
  eventLoopDelayMaxMs: +(loop.max / 1e6).toFixed(2),
  gcPausesOver5Ms: gcPausesMs.filter((ms) => ms > 5).map((ms) => +ms.toFixed(1)),
  longestGaps: gaps.sort((left, right) => right.gapMs - left.gapMs).slice(0, 12),
}));
