/**
 * Many stores in one process: how many background threads run at once and what the
 * process's RSS reaches, a store per tenant (docs/ARCHITECTURE.md "Background threads
 * across stores").
 *
 *   node dist/bench/large/many-stores-probe.js <stores> [<directory>] [<keysPerStore>]
 *
 * Opens `stores` stores under `directory` (a fresh temporary one by default: tmpfs
 * keeps the disk out of it) with a 16 MiB budget each (a memtable seals at ~1.3 MiB, so
 * every flush goes to the store's flush thread), then writes into all of them at once:
 * `keysPerStore` random 16-byte keys per store (default 60,000) with 100 B values, in
 * awaited batches of 500, so each store flushes many times and merges its tiers (its
 * cold tier too). Then it waits for every store's compactions to settle and closes them.
 * Every SAMPLE_INTERVAL_MS it samples RSS and the live merge, flush and compression
 * threads (the counts tests use); at the end it prints one JSON line: the peaks, the
 * kernel's peak RSS (VmHWM), the merges done in threads, and the threads left after close
 * (all zero when no store leaks one).
 *
 * LADYBUG_PROBE_FLUSH=main flushes on the main thread (no flush threads: what they cost),
 * LADYBUG_PROBE_MERGE_MAX sets the process's merge thread bound (merge-thread-slots.ts).
 *
 * Invariant: exactly one JSON line on stdout, then exit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeThreadsRunning } from '../../src/compaction/merge-thread.js';
import { flushSettings } from '../../src/engine/flush-settings.js';
import { flushThreadsRunning } from '../../src/engine/flush-thread-workers.js';
import { compressionThreadsRunning } from '../../src/run/compression-pool.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { peakRss } from '../measure/peak-rss.js';

const SAMPLE_INTERVAL_MS = 5;
const MEBIBYTE = 1024 * 1024;
const BATCH_KEYS = 500;

const storeCount = Number(process.argv[2] ?? 10);
const root = process.argv[3] ?? mkdtempSync(join(process.env.LADYBUG_PROBE_DIR ?? tmpdir(), 'many-stores-'));
const keysPerStore = Number(process.argv[4] ?? 60_000);

if (process.env.LADYBUG_PROBE_FLUSH === 'main') flushSettings.flushThread = 'main';
if (process.env.LADYBUG_PROBE_MERGE_MAX !== undefined) {
  const { mergeThreadSlotSettings } = await import('../../src/compaction/merge-thread-slots.js');
  mergeThreadSlotSettings.max = Number(process.env.LADYBUG_PROBE_MERGE_MAX);
}

const peak = { rssMebibytes: 0, mergeThreads: 0, flushThreads: 0, compressionThreads: 0, backgroundThreads: 0 };
const sampler = setInterval(() => {
  const merge = mergeThreadsRunning();
  const flush = flushThreadsRunning();
  const compression = compressionThreadsRunning();
  peak.rssMebibytes = Math.max(peak.rssMebibytes, process.memoryUsage.rss() / MEBIBYTE);
  peak.mergeThreads = Math.max(peak.mergeThreads, merge);
  peak.flushThreads = Math.max(peak.flushThreads, flush);
  peak.compressionThreads = Math.max(peak.compressionThreads, compression);
  peak.backgroundThreads = Math.max(peak.backgroundThreads, merge + flush + compression);
}, SAMPLE_INTERVAL_MS);

async function load(store: Store): Promise<void> {
  const value = randomBytes(100);
  for (let written = 0; written < keysPerStore; written += BATCH_KEYS) {
    const batch = [];
    for (let index = 0; index < BATCH_KEYS; index++) batch.push({ type: 'put' as const, key: randomBytes(8).toString('hex'), value });
    await store.batch(batch);
  }
  await store.checkpoint();
}

async function settled(store: Store): Promise<void> {
  while (store.stats().storage.compaction.running) await new Promise((resolve) => setTimeout(resolve, 20));
}

const started = performance.now();
const stores: Store[] = [];
for (let index = 0; index < storeCount; index++) stores.push(await openStore(join(root, `tenant-${index}`), { memoryBudgetBytes: 16 * MEBIBYTE }));
await Promise.all(stores.map(load));
await Promise.all(stores.map(settled));
const loadedMs = performance.now() - started;
const mergesInThreads = stores.reduce((sum, store) => sum + store.stats().storage.compaction.compactions, 0);
const runs = stores.reduce((sum, store) => sum + store.stats().storage.runs, 0);
const writeStallMs = stores.reduce((sum, store) => sum + store.stats().storage.writeStallMs, 0);
await Promise.all(stores.map((store) => store.close()));
clearInterval(sampler);
const left = { mergeThreads: mergeThreadsRunning(), flushThreads: flushThreadsRunning(), compressionThreads: compressionThreadsRunning() };
if (process.argv[3] === undefined) rmSync(root, { recursive: true, force: true });
const round = (value: number): number => Math.round(value * 10) / 10;
console.log(JSON.stringify({
  stores: storeCount, keysPerStore, availableParallelism: availableParallelism(),
  peakRssMebibytes: round(peak.rssMebibytes), kernelPeakRssMebibytes: round(peakRss().bytes / MEBIBYTE),
  peakThreads: { merge: peak.mergeThreads, flush: peak.flushThreads, compression: peak.compressionThreads, background: peak.backgroundThreads },
  compactionsCompleted: mergesInThreads, runsAtEnd: runs, loadAndSettleMs: Math.round(loadedMs), writeStallMs: Math.round(writeStallMs), flush: flushSettings.flushThread, left,
}));
