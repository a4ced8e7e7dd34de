/**
 * A watch catch-up over a history several times the store's memory budget, read by a slow
 * consumer while writes go on, holds about one catch-up batch, not the history: the heap
 * (after collections, with array buffers) is sampled every 5,000 changes delivered. A catch-up
 * that read its history ahead of the consumer, or a growing queue, would hold its 40,000
 * changes of 400-byte values (about 20 MiB). Every change arrives once, in version order,
 * the commits made during the catch-up after it. Measured in a child process
 * (node --expose-gc), on the build.
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
const HISTORY = 40_000;
const LIVE_COMMITS = 15;
/** Measured alone: 4.8 MiB (22 MiB when one batch holds the whole history); 2.5x that, and under the history. */
const GROWTH_BOUND_BYTES = 12 * MEBIBYTE;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

/** argv = [open-store.js path, store directory]. Prints one JSON line. */
const childScript = `
const [openStorePath, directory] = process.argv.slice(1);
const { openStore } = await import(openStorePath);
const heapBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); const usage = process.memoryUsage(); return usage.heapUsed + usage.arrayBuffers; };
const turn = () => new Promise((resolve) => setImmediate(resolve));
const store = await openStore(directory, { memoryBudgetBytes: 4 * 1024 * 1024 });
let seed = 7;
const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
for (let from = 0; from < ${HISTORY}; from += 500) {
  await store.batch(Array.from({ length: 500 }, (_, index) => ({ type: 'put', key: 'k' + String(Math.floor(random() * 20000)).padStart(6, '0') + '/' + (from + index), value: 'v'.repeat(400) })));
}
await store.checkpoint();
const historyVersion = store.version;
const before = heapBytes();
let grownMax = 0;
let delivered = 0;
let outOfOrder = 0;
let previous = 0;
let live = 0;
const writes = [];
for await (const change of store.watch({ sinceVersion: 0 })) {
  delivered++;
  if (change.version < previous) outOfOrder++;
  previous = change.version;
  if (change.version > historyVersion) live++;
  if (delivered % 100 === 0) await turn(); // a slow consumer
  if (delivered % 2000 === 0 && writes.length < ${LIVE_COMMITS}) writes.push(store.put('live/' + writes.length, 'w'.repeat(400)));
  if (delivered % 5000 === 0) grownMax = Math.max(grownMax, heapBytes() - before);
  if (delivered === ${HISTORY} + ${LIVE_COMMITS}) break;
}
await Promise.all(writes);
await store.close();
console.log(JSON.stringify({ delivered, live, outOfOrder, grownMax }));
`;

describe('a long watch catch-up read slowly', () => {
  it('holds about one batch, not the history, while writes go on', async () => {
    const environment = { ...process.env };
    delete environment['LADYBUG_DEBUG'];
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', childScript, openStorePath, temporaryDirectory()], {
      env: environment,
      maxBuffer: 16 * MEBIBYTE,
    });
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]!) as { delivered: number; live: number; outOfOrder: number; grownMax: number };
    console.log(`slow catch-up: heap grew at most ${(result.grownMax / MEBIBYTE).toFixed(1)} MiB over ${result.delivered} changes`);
    expect(result.delivered).toBe(HISTORY + LIVE_COMMITS);
    expect(result.live).toBe(LIVE_COMMITS);
    expect(result.outOfOrder).toBe(0);
    expect(result.grownMax).toBeLessThan(GROWTH_BOUND_BYTES);
  }, 60_000);
});
