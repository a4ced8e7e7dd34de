/**
 * The memory budget's parts under a mixed load, measured in a child process (node
 * --expose-gc, on the harness build of src/, as test/memory-budget.test.ts does): about
 * six times a 16 MiB budget written in batches of 1-50 operations over 3,000 keys of
 * 1-600 characters, values tiny, 100 B, 64 KiB and near maxValueBytes (1 MiB), 10%
 * deletes, many versions per key, point reads between batches. After every batch:
 * each cache within its own bound (blockCacheBytes <= blockCacheMaxBytes,
 * pointCacheBytes <= pointCacheMaxBytes, the compressed tier within the block cache),
 * the memtables' charge within their two shares and charge + cache bounds + resident
 * indexes within the budget, no figure NaN or negative. stats().memoryBytes itself is
 * reported, not bounded: memtables over their capped charge (one batch of 1 MiB values
 * is several memtable shares, admitted whole) and a flushed memtable whose flush is
 * ending (not charged, by design) take it over the budget for a few batches (measured:
 * 5 of 160 batches, at most 18.9 MB of 16 MiB). At the end, with
 * the store quiet (a checkpoint, a last put), the heap's growth since open (forced
 * GCs) against stats().memoryBytes: what stats() does not count is the store's fixed
 * buffers (the flush thread's 8 chunks of 256 KiB, the caches' doorkeepers, the
 * checksum's 1 MiB) and code, under FIXED_OVERHEAD_BYTES; before the checksum streamed
 * large inputs its WebAssembly memory alone grew by the largest record hashed.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
afterEach(removeTemporaryDirectories);

const MEBIBYTE = 1024 * 1024;
const BUDGET_BYTES = 16 * MEBIBYTE;
const FIXED_OVERHEAD_BYTES = 20 * MEBIBYTE;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

const CHILD_SCRIPT = `
const [openStorePath, directory, warmDirectory] = process.argv.slice(1);
const { openStore } = await import(openStorePath);
const budget = ${BUDGET_BYTES};
const maxValueBytes = 1024 * 1024;
const heapBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); const usage = process.memoryUsage(); return usage.heapUsed + usage.arrayBuffers; };
let seed = 12345;
const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
{ const warm = await openStore(warmDirectory, { memoryBudgetBytes: budget, maxValueBytes, debug: false }); await warm.put('a', Buffer.alloc(70000)); await warm.get('a'); await warm.close(); }
const base = heapBytes();
const store = await openStore(directory, { memoryBudgetBytes: budget, maxValueBytes, debug: false });
const keyOf = (index) => { const length = [1, 8, 16, 100, 600][index % 5]; return ('k' + index).padEnd(length, 'x'); };
function valueOf(index) {
  const roll = random();
  const bytes = roll < 0.4 ? 1 : roll < 0.8 ? 100 : roll < 0.97 ? 64 * 1024 : maxValueBytes - 64;
  const value = Buffer.alloc(bytes); value[0] = index & 255; return value;
}
const violations = [];
const overBudget = [];
let peakMemoryBytes = 0;
let operations = [];
const check = (where) => {
  const stats = store.stats(); const storage = stats.storage;
  peakMemoryBytes = Math.max(peakMemoryBytes, stats.memoryBytes);
  if (storage.blockCacheBytes > storage.blockCacheMaxBytes) violations.push(where + ': block cache over its bound');
  if (storage.pointCacheBytes > storage.pointCacheMaxBytes) violations.push(where + ': point cache over its bound');
  if (storage.blockCacheCompressedBytes > storage.blockCacheBytes) violations.push(where + ': compressed tier outside the block cache');
  // The documented split: budget = memtables' charge + caches' bounds + resident indexes (the caches' 1 MiB floor aside).
  if (storage.memtableChargeBytes + storage.cacheMaxBytes + storage.runIndexBytes > Math.max(budget, storage.memtableChargeBytes + 1024 * 1024 + storage.runIndexBytes)) violations.push(where + ': charge + caches + indexes over the budget');
  if (storage.memtableChargeBytes > budget * (1 / 12 + 1 / 4) + 1) violations.push(where + ': memtable charge over its two shares');
  if (stats.memoryBytes > budget) overBudget.push({ where, memoryBytes: stats.memoryBytes, memtables: storage.memtableBytes + storage.immutableMemtableBytes + storage.retainedMemtableBytes, charge: storage.memtableChargeBytes });
  for (const [name, value] of Object.entries(storage)) if (typeof value === 'number' && (Number.isNaN(value) || value < 0)) violations.push(where + ': ' + name + ' = ' + value);
};
let written = 0;
for (let round = 0; written < 6 * budget; round++) {
  operations = [];
  const count = 1 + Math.floor(random() * 50);
  for (let index = 0; index < count; index++) {
    const key = Math.floor(random() * 3000);
    if (random() < 0.1) operations.push({ type: 'del', key: keyOf(key) });
    else { const value = valueOf(key); written += value.length; operations.push({ type: 'put', key: keyOf(key), value }); }
  }
  await store.batch(operations);
  check('batch ' + round);
  if (round % 10 === 0) for (let read = 0; read < 200; read++) await store.get(keyOf(Math.floor(random() * 3000)));
}
for (let read = 0; read < 5000; read++) await store.get(keyOf(Math.floor(random() * 3000)));
check('after the reads');
await store.checkpoint();
await store.put('last', 1);
const grownBytes = heapBytes() - base;
const stats = store.stats();
console.log(JSON.stringify({ written, grownBytes, memoryBytes: stats.memoryBytes, peakMemoryBytes, runs: stats.storage.runs, flushes: stats.storage.flushes,
  writeStalls: stats.storage.writeStalls, blockCacheBytes: stats.storage.blockCacheBytes, pointCacheBytes: stats.storage.pointCacheBytes, violations: violations.slice(0, 10), overBudget: overBudget.length, overBudgetMax: overBudget.sort((a, b) => b.memoryBytes - a.memoryBytes)[0] }));
await store.close();
`;

describe('the memory budget under mixed value sizes', () => {
  it('every part within its bound after every batch; the heap within the counted memory plus fixed buffers', async () => {
    const environment = { ...process.env };
    delete environment['LADYBUG_DEBUG'];
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT, openStorePath, temporaryDirectory(), temporaryDirectory()], {
      env: environment,
      maxBuffer: 16 * MEBIBYTE,
    });
    const lines = stdout.trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1]!) as Record<string, number | string[]>;
    const mib = (name: string) => ((report[name] as number) / MEBIBYTE).toFixed(1);
    console.log(`wrote ${mib('written')} MiB: peak stats().memoryBytes ${mib('peakMemoryBytes')} MiB (budget ${BUDGET_BYTES / MEBIBYTE}); at the end heap grew ${mib('grownBytes')} MiB against ${mib('memoryBytes')} counted; ${String(report['flushes'])} flushes, ${String(report['runs'])} runs, ${String(report['writeStalls'])} stalls`);
    console.log(`batches with memoryBytes over the budget: ${String(report['overBudget'])}, the largest ${JSON.stringify(report['overBudgetMax'])}`);
    expect(report['violations']).toEqual([]);
    expect(report['flushes']).toBeGreaterThan(5);
    expect(report['blockCacheBytes']).toBeGreaterThan(0);
    expect(report['pointCacheBytes']).toBeGreaterThan(0);
    expect(report['grownBytes']).toBeLessThan((report['memoryBytes'] as number) + FIXED_OVERHEAD_BYTES);
  }, 120_000);
});
