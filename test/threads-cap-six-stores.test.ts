/**
 * Six stores merging at once in one process (a store per tenant) run at most
 * mergeThreadSlotSettings.max merge threads (src/compaction/merge-thread-slots.ts): in a
 * child process of its own (no other test's threads counted), six stores of three runs
 * each compact() at once with the bound at 2, and the live merge threads are sampled
 * every millisecond and at every slot change. Every store ends with one run holding its
 * data, every thread ends with its store. The same child with no bound (the bound above
 * six) shows the sampling sees the threads when they are there.
 *
 * Runs the built modules (dist/; built in beforeAll when missing).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const root = join(import.meta.dirname, '..');

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

const CHILD_SCRIPT = `
const [indexPath, threadPath, slotsPath, directory, maxText] = process.argv.slice(1);
const { openStore } = await import(indexPath);
const { mergeThreadsRunning } = await import(threadPath);
const { mergeThreadSlotSettings, mergeThreadSlotCounts } = await import(slotsPath);
mergeThreadSlotSettings.max = Number(maxText);
const STORES = 6, RUNS = 3, KEYS = 1000;
const stores = [];
for (let s = 0; s < STORES; s++) {
  const store = await openStore(directory + '/tenant-' + s, { memoryBudgetBytes: 32 * 1024 * 1024 });
  for (let round = 0; round < RUNS; round++) {
    const operations = [];
    for (let index = 0; index < KEYS; index++) operations.push({ type: 'put', key: 'key-' + index, value: s + ':' + round });
    await store.batch(operations);
    await store.checkpoint();
  }
  stores.push(store);
}
let peak = 0, peakHeld = 0, samples = 0;
const sample = () => {
  samples++;
  peak = Math.max(peak, mergeThreadsRunning());
  peakHeld = Math.max(peakHeld, mergeThreadSlotCounts().held);
};
const sampler = setInterval(sample, 1);
const results = await Promise.all(stores.map((store) => store.compact({}).then((result) => (sample(), result))));
clearInterval(sampler);
const runs = stores.map((store) => store.stats().storage.runs);
const exits = stores.reduce((sum, store) => sum + store.stats().storage.compaction.mergeThreadExits, 0);
let wrong = 0;
for (let s = 0; s < STORES; s++) for (let index = 0; index < KEYS; index += 7) if ((await stores[s].get('key-' + index)) !== s + ':' + (RUNS - 1)) wrong++;
for (const store of stores) await store.close();
process.stdout.write(JSON.stringify({ peak, peakHeld, samples, runsIn: results.map((result) => result.runsIn), runs, exits, wrong, left: mergeThreadsRunning(), slots: mergeThreadSlotCounts() }) + '\\n');
`;

interface ChildReport {
  peak: number;
  peakHeld: number;
  samples: number;
  runsIn: number[];
  runs: number[];
  exits: number;
  wrong: number;
  left: number;
  slots: { held: number; waiting: number };
}

async function runChild(max: number): Promise<ChildReport> {
  const child = spawn(process.execPath, [
    '--input-type=module', '--eval', CHILD_SCRIPT,
    join(root, 'dist', 'src', 'index.js'), join(root, 'dist', 'src', 'compaction', 'merge-thread.js'),
    join(root, 'dist', 'src', 'compaction', 'merge-thread-slots.js'), temporaryDirectory(), String(max),
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  return JSON.parse(output.trim()) as ChildReport;
}

describe('six stores merging in one process', () => {
  it('never run more merge threads than the bound, and every store compacts', async () => {
    try {
      const bounded = await runChild(2);
      expect(bounded.samples).toBeGreaterThan(0);
      expect(bounded.peak).toBeGreaterThanOrEqual(1);
      expect(bounded.peak).toBeLessThanOrEqual(2);
      expect(bounded.peakHeld).toBeLessThanOrEqual(2);
      expect(bounded.runsIn).toEqual([3, 3, 3, 3, 3, 3]);
      expect(bounded.runs).toEqual([1, 1, 1, 1, 1, 1]);
      expect(bounded.exits).toBe(0);
      expect(bounded.wrong).toBe(0);
      expect(bounded.left).toBe(0);
      expect(bounded.slots).toEqual({ held: 0, waiting: 0 });

      // The sampling sees threads beyond 2 when nothing bounds them (one per store merging).
      const unbounded = await runChild(64);
      expect(unbounded.peak).toBeGreaterThan(2);
      expect(unbounded.runs).toEqual([1, 1, 1, 1, 1, 1]);
      expect(unbounded.left).toBe(0);
    } finally {
      removeTemporaryDirectories();
    }
  }, 120_000);
});
