/**
 * A merge of runs holding large values holds about one value per input run plus its
 * output block, not all the values it merges: the merged entries go to the writer in
 * batches that end at MERGE_BATCH_BYTES as well as MERGE_BATCH_ENTRIES (merge-runs.ts),
 * and a batch's values are views that keep their decoded blocks alive. Before, a batch
 * of up to 64 entries of 16 MiB values held up to 1 GiB (three runs of eight 16 MiB
 * values compacted at 479 MiB of RSS above the store's open in the merge thread).
 *
 * In child processes of their own (peaks of other tests' memory not counted), with the
 * built modules (dist/; the merge thread runs the compiled worker): one child writes three
 * runs of twenty 2 MiB values (keys 16-19 and 32-35 overwritten by the next run) and
 * closes; then, for the merge thread and for the merge in process, a child opens a copy
 * with a 32 MiB budget, compacts, and reports the peak RSS above what it had before
 * compact() (in process also the peak of array buffers live after a collection), every
 * value read back exact after the compaction and after a reopen.
 */
import { spawn } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const root = join(import.meta.dirname, '..');

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

const MiB = 1024 * 1024;

const CHILD_SCRIPT = `
const [indexPath, policyPath, directory, phase, mode] = process.argv.slice(1);
const { openStore } = await import(indexPath);
const { compactionSettings } = await import(policyPath);
compactionSettings.mergeThread = mode;
const MiB = 1024 * 1024;
const VALUE_BYTES = 2 * MiB - 64, RUNS = 3, PER_RUN = 20;
function seeded(length, seed) {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed;
  for (let at = 0; at + 4 <= length; at += 4) { state ^= state << 13; state ^= state >>> 17; state ^= state << 5; bytes.writeUInt32LE(state >>> 0, at); }
  return bytes;
}
// Keys 0..51: run 1 overwrites keys 16..19 of run 0, run 2 keys 32..35 of run 1.
const writes = [];
for (let run = 0; run < RUNS; run++) for (let index = 0; index < PER_RUN; index++) writes.push(['key-' + String(run * 16 + index).padStart(3, '0'), run * 100 + index + 1]);
const expected = new Map(writes);
async function wrongValues(store) {
  let wrong = 0;
  for (const [key, seed] of expected) {
    const value = await store.get(key);
    if (!(value instanceof Uint8Array) || !Buffer.from(value).equals(seeded(VALUE_BYTES, seed))) wrong++;
  }
  return wrong;
}
if (phase === 'load') {
  const store = await openStore(directory, { memoryBudgetBytes: 1024 * MiB, walCheckpointBytes: 512 * MiB });
  for (let run = 0; run < RUNS; run++) {
    for (let index = 0; index < PER_RUN; index++) { const [key, seed] = writes[run * PER_RUN + index]; await store.put(key, seeded(VALUE_BYTES, seed)); }
    await store.checkpoint();
  }
  process.stdout.write(JSON.stringify({ runs: store.stats().storage.runs }) + '\\n');
  await store.close();
} else {
  // A merge thread started and ended first: its isolate's memory is this process's before compact(), not the merge's.
  const warm = await openStore(directory + '-warm', { memoryBudgetBytes: 32 * MiB });
  for (let round = 0; round < 2; round++) { await warm.put('warm', round); await warm.checkpoint(); }
  await warm.compact({});
  await warm.close();
  let store = await openStore(directory, { memoryBudgetBytes: 32 * MiB });
  const runsBefore = store.stats().storage.runs;
  globalThis.gc(); globalThis.gc();
  const before = process.memoryUsage();
  let rss = before.rss, arrayBuffers = before.arrayBuffers;
  // In process, what the merge holds: array buffers live after a collection (garbage not yet
  // collected varies from run to run). In the merge thread: this process's RSS.
  const sample = () => {
    if (mode === 'main') globalThis.gc();
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers);
  };
  const sampler = setInterval(sample, mode === 'main' ? 2 : 1);
  const result = await store.compact({});
  sample();
  clearInterval(sampler);
  const wrongAfterCompact = await wrongValues(store);
  const runsAfter = store.stats().storage.runs;
  await store.close();
  store = await openStore(directory, { memoryBudgetBytes: 32 * MiB });
  const wrongAfterReopen = await wrongValues(store);
  await store.close();
  process.stdout.write(JSON.stringify({
    runsBefore, runsIn: result.runsIn, runsAfter, wrongAfterCompact, wrongAfterReopen,
    rssGrowth: rss - before.rss, arrayBufferGrowth: arrayBuffers - before.arrayBuffers,
  }) + '\\n');
}
`;

interface CompactReport {
  runsBefore: number;
  runsIn: number;
  runsAfter: number;
  wrongAfterCompact: number;
  wrongAfterReopen: number;
  rssGrowth: number;
  arrayBufferGrowth: number;
}

async function runChild(directory: string, phase: 'load' | 'compact', mode: 'worker' | 'main'): Promise<unknown> {
  const child = spawn(process.execPath, [
    '--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT,
    join(root, 'dist', 'src', 'index.js'), join(root, 'dist', 'src', 'compaction', 'compaction-policy.js'), directory, phase, mode,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  return JSON.parse(output.trim()) as unknown;
}

describe('merging runs of large values', () => {
  it('holds a bounded number of values, in the merge thread and in process, and keeps every value', async () => {
    try {
      const loaded = temporaryDirectory();
      expect(await runChild(loaded, 'load', 'worker')).toEqual({ runs: 3 });
      const reports: Record<string, CompactReport> = {};
      // Both children at once: each measures its own process.
      await Promise.all((['worker', 'main'] as const).map(async (mode) => {
        const directory = temporaryDirectory();
        cpSync(loaded, directory, { recursive: true });
        reports[mode] = (await runChild(directory, 'compact', mode)) as CompactReport;
      }));
      const { worker, main } = reports as { worker: CompactReport; main: CompactReport };
      for (const report of [worker, main]) {
        expect(report).toMatchObject({ runsBefore: 3, runsIn: 3, runsAfter: 1, wrongAfterCompact: 0, wrongAfterReopen: 0 });
      }
      // 120 MiB of values. Before batches ended at MERGE_BATCH_BYTES: in process 121 MiB of
      // array buffers live and RSS +134 MiB, the merge thread RSS +170 MiB (one batch held
      // all 60 values); after: 8 MiB, +9-15 MiB and +62-72 MiB (the merge thread's
      // collections come once its garbage is tens of MiB).
      expect(main.arrayBufferGrowth).toBeLessThan(32 * MiB);
      expect(main.rssGrowth).toBeLessThan(48 * MiB);
      expect(worker.rssGrowth).toBeLessThan(150 * MiB);
    } finally {
      removeTemporaryDirectories();
    }
  }, 120_000);
});
