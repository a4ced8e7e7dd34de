/**
 * stats().conflictLogBytes against the heap, in a child process (node --expose-gc, on
 * the harness build of src/, as test/pinned-memtable-retained.test.ts does): the same
 * 60,000 puts (16 B values, 50 at a time) run once with a serializable transaction held
 * open across them (its read version keeps every entry in the conflict log) and once
 * without. What the heap gives back (after forced GCs) once the held transaction has
 * ended and the next commit pruned the log, in the same process, is what the log held;
 * stats().conflictLogBytes must be within TOLERANCE of it. (The difference of the two
 * processes' heap growths, used before, moved by a 1.2 MiB object present in one run
 * and not the other: ratio 1.12-1.48, and a CI pre-check failed at 1.466; the same-process
 * figure read 1.08-1.22 in 5 runs.) The run without a transaction keeps a log under
 * 1 MiB. Before, nothing in
 * stats() counted it (measured 16.8 MiB of heap for 100,000 such puts, about 170 B each,
 * with no stats() figure for it); the estimate measured 17.6 MiB there.
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
const TOLERANCE = 0.35;
const PUTS = 60_000;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

/** argv = [open-store.js path, store directory, 'held' | 'none']. Prints one JSON line. */
const CHILD_SCRIPT = `
const [openStorePath, directory, mode] = process.argv.slice(1);
const { openStore } = await import(openStorePath);
const heapBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); const usage = process.memoryUsage(); return usage.heapUsed + usage.arrayBuffers; };
const store = await openStore(directory, { memoryBudgetBytes: 64 * 1024 * 1024, debug: false });
await store.put('a', 1);
await store.checkpoint();
let release;
const gate = new Promise((resolve) => { release = resolve; });
let read;
const hasRead = new Promise((resolve) => { read = resolve; });
const outcome = mode === 'held' ? store.transaction(async (tx) => { await tx.get('a'); read(); await gate; tx.put('b', 1); return 'committed'; }).catch((error) => error.code) : (read(), undefined);
await hasRead;
const value = 'v'.repeat(16);
async function puts(from, count) {
  for (let index = from; index < from + count; index += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, offset) => store.put('k' + String(index + offset).padStart(8, '0'), value)));
  }
  await store.checkpoint();
}
await puts(0, 2000); // buffers grow to their size first
const before = heapBytes();
await puts(2000, ${PUTS});
const heldHeap = heapBytes();
const grownBytes = heldHeap - before;
const stats = store.stats();
release();
const settled = await outcome;
// The transaction ended: the next commit prunes the log to the horizon; what the heap gives
// back then is what the log held, measured in this process, on this memtable and caches.
await store.put('c', 1);
await store.checkpoint();
const releasedBytes = heldHeap - heapBytes();
console.log(JSON.stringify({ grownBytes, releasedBytes, conflictLogBytes: stats.conflictLogBytes, conflictLogEntries: stats.conflictLogEntries, conflictLogBytesAfter: store.stats().conflictLogBytes, outcome: settled }));
await store.close();
`;

async function runChild(mode: 'held' | 'none'): Promise<Record<string, number | string>> {
  const environment = { ...process.env };
  delete environment['LADYBUG_DEBUG']; // debug-mode verification would allocate on its own
  const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT, openStorePath, temporaryDirectory(), mode], {
    env: environment,
    maxBuffer: 16 * MEBIBYTE,
  });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, number | string>;
}

describe('the conflict log of a transaction held open, against the heap', () => {
  it(`${PUTS.toLocaleString('en-US')} puts: stats().conflictLogBytes is what the heap held for it, within ${TOLERANCE * 100}%`, async () => {
    const held = await runChild('held');
    const none = await runChild('none');
    const logHeap = held['releasedBytes'] as number;
    const estimate = held['conflictLogBytes'] as number;
    const mib = (bytes: number) => (bytes / MEBIBYTE).toFixed(1);
    console.log(`conflict log: heap ${mib(logHeap)} MiB given back when the transaction ended (grown with it ${mib(held['grownBytes'] as number)}, without it ${mib(none['grownBytes'] as number)}), stats() ${mib(estimate)} MiB, ratio ${(estimate / logHeap).toFixed(3)}`);
    expect(held['conflictLogBytesAfter']).toBeLessThan(1024 * 1024);
    expect(held['outcome']).toBe('committed');
    expect(held['conflictLogEntries']).toBeGreaterThanOrEqual(PUTS);
    expect(none['conflictLogBytes']).toBeLessThan(1024 * 1024);
    expect(estimate / logHeap).toBeGreaterThan(1 - TOLERANCE);
    expect(estimate / logHeap).toBeLessThan(1 + TOLERANCE);
  }, 120_000);
});
