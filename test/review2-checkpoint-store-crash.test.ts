/**
 * Review of b4ba45b at the store's level: a crash after every file-system operation of
 * checkpoint() followed by writes (the first of them larger than the 16 KiB segment
 * the checkpoint rotates to, then small ones growing the segments back, then close(),
 * whose checkpoint rotates again), in every crash mode. The reopened store holds every
 * acknowledged put, a put in flight at the crash whole or not at all, nothing never
 * written, and takes a write after.
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { SEGMENT_BYTES_MIN } from '../src/limits.js';
import { abandonStore } from '../src/store/store.js';
import { scanAll } from './workload.js';

const STORE = '/db';
const OPTIONS = { memoryBudgetBytes: 4 * 1024 * 1024 } as const;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];
const keyOf = (index: number) => `key-${String(index).padStart(4, '0')}`;
/** The first write after the checkpoint is larger than its segment; the rest small. */
const valueOf = (index: number) => (index === 20 ? 'B'.repeat(SEGMENT_BYTES_MIN + 5000) : `value-${index}-${'x'.repeat(300 + (index % 7) * 150)}`);
const AFTER = 60;

interface Outcome {
  acknowledged: Set<number>;
  attempted: Set<number>;
  /** operationCount when the crash was armed (before checkpoint()). */
  armedAt: number;
}

async function workload(fileSystem: FaultFileSystem, crashAfter: number | undefined): Promise<Outcome> {
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  const outcome: Outcome = { acknowledged: new Set(), attempted: new Set(), armedAt: 0 };
  for (let index = 0; index < 20; index++) {
    await store.put(keyOf(index), valueOf(index));
    outcome.acknowledged.add(index);
    outcome.attempted.add(index);
  }
  outcome.armedAt = fileSystem.operationCount;
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  try {
    await store.checkpoint();
    for (let index = 20; index < 20 + AFTER; index++) {
      outcome.attempted.add(index);
      await store.put(keyOf(index), valueOf(index));
      outcome.acknowledged.add(index);
    }
    await store.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
    store[abandonStore]();
  }
  return outcome;
}

async function crashAndCheck(crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await workload(fileSystem, crashAfter);
  const rebooted = fileSystem.crash(mode);
  const problems: string[] = [];
  let store;
  try {
    store = await openStore(STORE, { fileSystem: rebooted, ...OPTIONS });
  } catch (error) {
    return [`reopen failed: ${String(error)}`];
  }
  try {
    const found = await scanAll(store);
    for (const index of outcome.acknowledged) if (found.get(keyOf(index)) !== valueOf(index)) problems.push(`acknowledged ${keyOf(index)} ${found.has(keyOf(index)) ? 'wrong' : 'lost'}`);
    for (const [key, value] of found) {
      const index = Number(key.slice(4));
      if (!outcome.attempted.has(index) || value !== valueOf(index)) problems.push(`${key} recovered, never written so`);
    }
    await store.put('after', 1);
    if ((await store.get('after')) !== 1) problems.push('the write after reopen is not read');
  } finally {
    await store.close();
  }
  return problems;
}

describe('store: crash during checkpoint() and the writes after it', () => {
  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: every acknowledged put reopened exact, nothing invented`, async () => {
      // Operations from the checkpoint to the end of close(), counted on a clean run.
      const clean = new FaultFileSystem(1);
      const { armedAt } = await workload(clean, undefined);
      const operations = clean.operationCount - armedAt;
      expect(operations).toBeGreaterThan(60);
      const failures: string[] = [];
      for (let crashAfter = 0; crashAfter <= operations && failures.length < 10; crashAfter++) {
        for (const problem of await crashAndCheck(crashAfter, mode, 300 * (index + 1) + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
      }
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
