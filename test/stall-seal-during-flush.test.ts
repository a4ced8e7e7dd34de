/**
 * A seal while a flush runs does not stall writers; a third sealed memtable does
 * (issues 7 and 12). The sealed memtables' share of the budget holds two memtables,
 * one being flushed and one sealed meanwhile (memory-budget.ts): with the active
 * memtable at 1/8 of the budget and the sealed ones at 1/4, two sealed memtables
 * (each sealed just past its share) exceeded the quarter, so every seal during a
 * flush stalled every writer until that flush was installed.
 *
 * No timing: the flush is held open by a file system that holds the run file's
 * datasync until the test releases it, and "stalled" / "went through" is checked
 * after a bounded number of event-loop turns.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { RUNS_DIRECTORY } from '../src/engine/open-engine.js';
import { RUN_TEMPORARY_SUFFIX } from '../src/run/run-writer.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { settled } from './helpers.js';

const BUDGET_BYTES = 1024 * 1024;
const KEYS_PER_WRITE = 10;
/** Event-loop turns a write that is not stalled needs at most (it needs a few on the in-memory file system). */
const TURNS_MAX = 500;
/** Writes issued while the flush is held after the second seal: every one must go through. */
const WRITES_AFTER_SEAL = 5;

/** While armed, the datasync of a run's temporary file waits until the test releases it: the flush is held open. */
class RunSyncGate extends ForwardingFileSystem {
  armed = true;
  readonly #held: Array<() => void> = [];

  get heldCount(): number {
    return this.#held.length;
  }

  release(): void {
    this.armed = false;
    for (const release of this.#held.splice(0)) release();
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      datasync: async (mayBlock) => {
        if (this.armed && path.includes(`/${RUNS_DIRECTORY}/`) && path.endsWith(RUN_TEMPORARY_SUFFIX)) await new Promise<void>((resolve) => this.#held.push(resolve));
        await handle.datasync(mayBlock);
      },
    });
  }
}


async function turnsUntil(condition: () => boolean, count: number): Promise<void> {
  for (let turn = 0; turn < count && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

let written = 0;

/** One write of KEYS_PER_WRITE keys; true once it went through within TURNS_MAX turns (false: still waiting). */
async function write(store: Store): Promise<{ done: boolean; error: unknown }> {
  const operations = [];
  for (let index = 0; index < KEYS_PER_WRITE; index++) {
    const key = `k${String(written++).padStart(7, '0')}`;
    operations.push({ type: 'put' as const, key, value: `${key} `.padEnd(150, 'v') });
  }
  const state = settled(store.batch(operations));
  await turnsUntil(() => state.done, TURNS_MAX);
  return state;
}

/** Writes until `count` memtables are sealed; each write must go through. */
async function writeUntilSealed(store: Store, count: number): Promise<void> {
  while (store.stats().storage.immutableMemtables < count) {
    const state = await write(store);
    expect(state.done, `a write before seal ${count} goes through (written ${written} keys, ${store.stats().storage.writeStalls} stalls)`).toBe(true);
    expect(state.error).toBeUndefined();
  }
}

async function openHeld(): Promise<{ store: Store; gate: RunSyncGate }> {
  written = 0;
  const gate = new RunSyncGate(new FaultFileSystem(71));
  const store = await openStore('/db', { fileSystem: gate, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
  await writeUntilSealed(store, 1);
  // The first memtable's flush is writing its run, held at the run's datasync.
  await turnsUntil(() => gate.heldCount > 0, TURNS_MAX);
  expect(gate.heldCount, 'the first flush is held').toBe(1);
  return { store, gate };
}

describe('write stall: a seal during a flush', () => {
  it('a memtable sealed while the previous one is flushed stalls no writer', async () => {
    const { store, gate } = await openHeld();
    await writeUntilSealed(store, 2);
    for (let index = 0; index < WRITES_AFTER_SEAL; index++) {
      const state = await write(store);
      // Was: two sealed memtables of just over 1/8 of the budget exceeded the sealed share
      // (1/4), and this write waited for the held flush.
      expect(state.done, `write ${index} after the second seal goes through while the flush is held`).toBe(true);
      expect(state.error).toBeUndefined();
    }
    const storage = store.stats().storage;
    expect(storage.immutableMemtables).toBe(2);
    expect(storage.flushes, 'the first flush is still held').toBe(0);
    expect(storage.writeStalls).toBe(0);
    expect(storage.writeStallMs).toBe(0);
    gate.release();
    await store.checkpoint();
    expect(store.stats().storage.immutableMemtables).toBe(0);
    expect(await store.get('k0000000')).toBe('k0000000 '.padEnd(150, 'v'));
    const last = `k${String(written - 1).padStart(7, '0')}`;
    expect(await store.get(last)).toBe(`${last} `.padEnd(150, 'v'));
    await store.close();
  });

  it('a third sealed memtable stalls writers until the flush is installed, and the wait is counted', async () => {
    const { store, gate } = await openHeld();
    await writeUntilSealed(store, 3);
    expect(store.stats().storage.immutableMemtableBytes).toBeGreaterThan(BUDGET_BYTES / 4);
    const stalled = await write(store);
    expect(stalled.done, 'the write after the third seal waits for the flush').toBe(false);
    expect(store.stats().storage.writeStalls).toBe(1);
    expect(store.stats().storage.flushes).toBe(0);
    gate.release();
    await turnsUntil(() => stalled.done, TURNS_MAX);
    expect(stalled.done, 'the stalled write goes through once the first flush is installed').toBe(true);
    expect(stalled.error).toBeUndefined();
    const storage = store.stats().storage;
    expect(storage.flushes).toBeGreaterThanOrEqual(1);
    expect(storage.writeStalls).toBe(1);
    expect(storage.writeStallMs).toBeGreaterThan(0);
    await store.checkpoint();
    const last = `k${String(written - 1).padStart(7, '0')}`;
    expect(await store.get(last)).toBe(`${last} `.padEnd(150, 'v'));
    await store.close();
  });
});
