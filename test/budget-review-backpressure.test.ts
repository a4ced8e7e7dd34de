/**
 * Backpressure while a flush is held (its run's datasync waits until the test lets it
 * go: a slow disk without timing): writes issued far faster than the flusher can take
 * them stall once a third memtable is sealed, the memtables never hold more than their
 * two shares (1/12 active + 1/4 sealed) plus one write, the stall is counted in
 * stats().storage.writeStalls/writeStallMs, and once the flush goes on the stalled
 * writes commit in the order they were called (README, "Memory and disk"), and all of
 * them read back after a reopen.
 */
import { describe, expect, it } from 'vitest';
import { RUNS_DIRECTORY } from '../src/engine/open-engine.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { IMMUTABLE_BUDGET_SHARE, MEMTABLE_BUDGET_SHARE } from '../src/engine/memory-budget.js';
import { RUN_TEMPORARY_SUFFIX } from '../src/run/run-writer.js';
import { openStore } from '../src/store/open-store.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const BUDGET_BYTES = 1024 * 1024;
const WRITES = 4000;

/** While armed, the datasync of a run's temporary file waits until release(). */
class RunSyncGate extends ForwardingFileSystem {
  armed = true;
  readonly #held: Array<() => void> = [];
  get heldCount(): number {
    return this.#held.length;
  }
  release(): void {
    this.armed = false;
    for (const resume of this.#held.splice(0)) resume();
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

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const keyOf = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const valueOf = (index: number): string => `${index}:`.padEnd(150 + (index % 7) * 40, 'v');

describe('backpressure behind a held flush', () => {
  it('stalls writers, bounds the memtables, counts the stall and resumes the writes in call order', async () => {
    const fault = new FaultFileSystem(11);
    const gate = new RunSyncGate(fault);
    const options = { memoryBudgetBytes: BUDGET_BYTES, segmentSizeBytes: 256 * 1024, maxValueBytes: 4096 };
    const store = await openStore('/db', { ...options, fileSystem: gate });
    const versions: number[] = new Array<number>(WRITES).fill(0);
    const errors: unknown[] = [];
    const writes: Array<Promise<void>> = [];
    let memtablesMax = 0;
    let resolvedWhileHeld = 0;
    const sample = (): void => {
      const storage = store.stats().storage;
      memtablesMax = Math.max(memtablesMax, storage.memtableBytes + storage.immutableMemtableBytes);
    };
    for (let index = 0; index < WRITES; index++) {
      writes.push(store.put(keyOf(index), valueOf(index)).then(({ version }) => {
        versions[index] = version;
        if (gate.armed) resolvedWhileHeld++;
      }, (error: unknown) => void errors.push(error)));
      if (index % 25 === 24) {
        for (let step = 0; step < 5; step++) await turn();
        sample();
      }
    }
    for (let step = 0; step < 200; step++) {
      await turn();
      sample();
    }
    const held = store.stats().storage;
    expect(gate.heldCount).toBe(1); // the first flush waits for its run's datasync
    expect(held.writeStalls).toBeGreaterThan(0);
    expect(resolvedWhileHeld).toBeGreaterThan(0);
    expect(resolvedWhileHeld).toBeLessThan(WRITES); // the rest wait for the flush
    const bound = BUDGET_BYTES * (MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE) + 2 * 1024;
    console.log(`held: ${resolvedWhileHeld} of ${WRITES} writes acknowledged, ${held.immutableMemtables} sealed memtables, memtables at most ${memtablesMax} B (bound ${Math.round(bound)}), ${held.writeStalls} stalls`);
    expect(memtablesMax).toBeLessThanOrEqual(bound);
    gate.release();
    await Promise.all(writes);
    expect(errors).toEqual([]);
    // Called in order, committed in order.
    for (let index = 1; index < WRITES; index++) expect(versions[index], `write ${index}`).toBeGreaterThan(versions[index - 1]!);
    const after = store.stats().storage;
    expect(after.writeStalls).toBeGreaterThanOrEqual(WRITES - resolvedWhileHeld);
    expect(after.writeStallMs).toBeGreaterThan(0);
    await store.close();
    const reopened = await openStore('/db', { ...options, fileSystem: fault });
    for (let index = 0; index < WRITES; index += 7) expect(await reopened.get(keyOf(index))).toBe(valueOf(index));
    expect(await reopened.get(keyOf(WRITES - 1))).toBe(valueOf(WRITES - 1));
    await reopened.close();
  }, 60_000);

  it('batches each larger than the whole budget are admitted alone: at most two sit in memory behind a held flush', async () => {
    const fault = new FaultFileSystem(12);
    const gate = new RunSyncGate(fault);
    const options = { memoryBudgetBytes: BUDGET_BYTES, segmentSizeBytes: 8 * 1024 * 1024, maxValueBytes: 64 * 1024 };
    const store = await openStore('/db', { ...options, fileSystem: gate });
    const batchBytes = 2 * BUDGET_BYTES;
    const batch = (round: number) => Array.from({ length: batchBytes / (64 * 1024) }, (_, index) => ({ type: 'put' as const, key: `b${round}-${index}`, value: new Uint8Array(64 * 1024 - 64).fill(round) }));
    const results: Array<{ done: boolean }> = [];
    const writes = [0, 1, 2, 3].map((round) => {
      const state = { done: false };
      results.push(state);
      return store.batch(batch(round)).then(() => void (state.done = true));
    });
    let memtablesMax = 0;
    for (let step = 0; step < 400; step++) {
      await turn();
      const storage = store.stats().storage;
      memtablesMax = Math.max(memtablesMax, storage.memtableBytes + storage.immutableMemtableBytes);
    }
    const done = results.filter((state) => state.done).length;
    console.log(`huge batches: ${done} of 4 acknowledged behind the held flush, memtables at most ${memtablesMax} B (${(memtablesMax / batchBytes).toFixed(2)} batches), budget ${BUDGET_BYTES}`);
    expect(done).toBeLessThan(4);
    expect(memtablesMax).toBeLessThanOrEqual(2 * batchBytes * 1.1 + BUDGET_BYTES * (MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE));
    gate.release();
    await Promise.all(writes);
    await store.close();
  }, 60_000);
});
