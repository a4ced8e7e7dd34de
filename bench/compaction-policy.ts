/**
 * Compaction policy measurement (issue 8): write and space amplification of each
 * policy in src/compaction/compaction-policy.ts, the event loop's delay while a
 * compaction runs, and get latency with and without a compaction running.
 *
 *   npx vite-node bench/compaction-policy.ts -- [keys] [rounds]
 *
 * Update-heavy: `keys` keys (100-byte values) overwritten `rounds` times with
 * maxVersionsPerKey 1, background compaction on; then checkpoint() and compact().
 * Delete-heavy: the same keys written once, 90% deleted, compact().
 * Numbers go to stdout as JSON lines; docs/ARCHITECTURE.md quotes them.
 * The same workloads beside lmdb-js and classic-level, in the main harness:
 * `npm run bench -- --only update-heavy,delete-heavy` (workloads/compaction-space.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { compactionSettings, type CompactionPolicyName } from '../src/compaction/compaction-policy.js';
import { openStore, type Store } from '../src/index.js';

const keys = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 6);
const VALUE = 'v'.repeat(94);
const key = (index: number) => `key-${String(index).padStart(8, '0')}`;

function percentile(samples: number[], fraction: number): number {
  if (samples.length === 0) return 0;
  const sorted = samples.slice().sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function timedGets(store: Store, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  let index = 0;
  while (!until()) {
    const started = performance.now();
    await store.get(key((index * 7919) % keys));
    latencies.push(performance.now() - started);
    index++;
    // A cached get settles in a microtask: let timers and I/O (the compaction) run.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return latencies;
}

async function measure(policy: CompactionPolicyName, workload: 'update' | 'delete'): Promise<Record<string, unknown>> {
  compactionSettings.policy = policy;
  const directory = mkdtempSync(join(tmpdir(), 'ladybug-compaction-'));
  const store = await openStore(directory, { maxVersionsPerKey: 1, memoryBudgetBytes: 4 * 1024 * 1024 });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const started = performance.now();
  const writeRounds = workload === 'update' ? rounds : 1;
  for (let round = 0; round < writeRounds; round++) {
    for (let start = 0; start < keys; start += 500) {
      await store.batch(Array.from({ length: Math.min(500, keys - start) }, (_, offset) => ({ type: 'put' as const, key: key(start + offset), value: `${round}${VALUE}` })));
    }
  }
  if (workload === 'delete') {
    for (let start = 0; start < keys; start += 500) {
      const operations = [];
      for (let index = start; index < Math.min(start + 500, keys); index++) if (index % 10 !== 0) operations.push({ type: 'del' as const, key: key(index) });
      await store.batch(operations);
    }
  }
  await store.checkpoint();
  const writeMs = performance.now() - started;
  loop.disable();
  const writeLoopP99Ms = loop.percentile(99) / 1e6;
  const beforeCompact = store.stats().storage;
  const quietGets = await (async () => {
    let count = 0;
    return timedGets(store, () => ++count > 2000);
  })();
  loop.reset();
  loop.enable();
  let compacting = true;
  const compaction = store.compact().finally(() => {
    compacting = false;
  });
  const busyGets = await timedGets(store, () => !compacting);
  const result = await compaction;
  loop.disable();
  const after = store.stats().storage;
  const userBytes = keys * writeRounds * (12 + 1 + VALUE.length + 2);
  await store.close();
  rmSync(directory, { recursive: true, force: true });
  return {
    policy, workload, keys, rounds: writeRounds, writeMs: Math.round(writeMs),
    backgroundCompactions: beforeCompact.compaction.compactions,
    runsBeforeCompact: beforeCompact.runs, runsPerLevelBeforeCompact: beforeCompact.compaction.runsPerLevel,
    bytesOnDiskBeforeCompact: beforeCompact.runBytes,
    spaceAmplificationBeforeCompact: +(beforeCompact.runBytes / after.runBytes).toFixed(2),
    writeAmplificationBeforeCompact: +beforeCompact.compaction.writeAmplification.toFixed(2),
    userBytesWritten: userBytes,
    diskBytesWrittenOverUserBytes: +((beforeCompact.flushedBytes + beforeCompact.compaction.compactedBytesWritten) / userBytes).toFixed(2),
    bytesOnDiskAfterCompact: after.runBytes, liveBytesEstimate: after.compaction.liveBytesEstimate,
    bytesOnDiskOverLiveAfterCompact: +(after.runBytes / Math.max(1, after.compaction.liveBytesEstimate)).toFixed(2),
    compactMs: Math.round(result.durationMs), entriesDropped: result.entriesDropped,
    eventLoopDelayP99MsDuringWrites: +writeLoopP99Ms.toFixed(2),
    eventLoopDelayP99MsDuringCompact: +(loop.percentile(99) / 1e6).toFixed(2),
    eventLoopDelayMaxMsDuringCompact: +(loop.max / 1e6).toFixed(2),
    getP99MsQuiet: +percentile(quietGets, 0.99).toFixed(3), getP99MsDuringCompact: +percentile(busyGets, 0.99).toFixed(3), getsDuringCompact: busyGets.length,
  };
}

for (const policy of ['tiered', 'full'] as const) {
  console.log(JSON.stringify(await measure(policy, 'update')));
}
console.log(JSON.stringify(await measure('tiered', 'delete')));
