/**
 * The conflict log keeps the keys of recent commits, not their values (README:
 * stats().conflictLogBytes is its heap, outside memoryBytes and the budget). A
 * transaction held open keeps every later commit in the log; with large values those
 * commits must not stay in memory through it once their memtables are flushed.
 * Measured in process with forced collections: 40 commits of one 1 MiB value each on a
 * 16 MiB budget, with a transaction held open across them, against stats().memoryBytes
 * plus conflictLogBytes.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
afterEach(removeTemporaryDirectories);

const MEBIBYTE = 1024 * 1024;

async function heapBytes(): Promise<number> {
  for (let round = 0; round < 3; round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

describe('the conflict log and large values', () => {
  it('a transaction held open across commits of 1 MiB values does not keep the values in memory', async () => {
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 16 * MEBIBYTE, maxValueBytes: 2 * MEBIBYTE });
    await store.put('a', 1);
    await store.put('warm', new Uint8Array(MEBIBYTE));
    await store.checkpoint();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let read: () => void = () => undefined;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    const outcome = store.transaction(async (tx) => {
      await tx.get('a');
      read();
      await gate;
      tx.put('b', 1);
      return 'committed';
    });
    await hasRead;
    const before = await heapBytes();
    const countedBefore = store.stats().memoryBytes + store.stats().conflictLogBytes;
    for (let index = 0; index < 40; index++) await store.put(`big-${index}`, new Uint8Array(MEBIBYTE).fill(index));
    await store.checkpoint();
    const stats = store.stats();
    const grown = (await heapBytes()) - before;
    const counted = stats.memoryBytes + stats.conflictLogBytes - countedBefore;
    console.log(`heap grew ${(grown / MEBIBYTE).toFixed(1)} MiB; stats() counted ${(counted / MEBIBYTE).toFixed(1)} MiB (conflict log ${stats.conflictLogEntries} entries, ${stats.conflictLogBytes} B)`);
    expect(stats.conflictLogEntries).toBeGreaterThanOrEqual(40); // the held transaction keeps them logged
    // 40 MiB of values pass through; kept by the log, the heap grew 44.2 MiB here against 2.1
    // counted. Without it 7.2 MiB in one run and 10.5 in a full-suite run (the in-process heap
    // also holds what other work left), so the slack is half the values, not a tight bound.
    expect(grown).toBeLessThan(counted + 20 * MEBIBYTE);
    release();
    expect(await outcome).toBe('committed');
    await store.close();
  }, 60_000);
});
