/**
 * Compaction debt raises the write stall (issue 8): with more live runs than
 * compactionSettings.stallRunCount (COMPACTION_STALL_RUNS) and a merge to do,
 * writes wait until compaction catches up; a compaction that fails lifts the stall
 * (the store stays writable). No timing: a held compaction (the onHorizon hook)
 * makes the backlog, and "still waiting" is checked after event-loop turns.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { settled } from './helpers.js';

const DIRECTORY = '/db';
const STALL_RUNS = 6;

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/** Holds the next background compaction at its horizon until `release` is called. */
function holdCompaction(): { held: Promise<void>; release: () => void } {
  let release = (): void => undefined;
  let reached = (): void => undefined;
  const held = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  compactionTestHooks.onHorizon = async () => {
    compactionTestHooks.onHorizon = undefined;
    reached();
    await gate;
  };
  return { held, release };
}

/** Flushes `count` runs of a few keys each (checkpoint does not pass the write stall). */
async function makeRuns(store: Store, count: number, tag: string): Promise<void> {
  for (let run = 0; run < count; run++) {
    await store.put(`${tag}-${run}`, run);
    await store.checkpoint();
  }
}


describe('compaction backlog stalls writes', () => {
  it('a write waits while runs exceed the bound and proceeds once compaction merged them', async () => {
    compactionSettings.stallRunCount = STALL_RUNS;
    const fileSystem = new FaultFileSystem(21);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    const hold = holdCompaction();
    await makeRuns(store, 4, 'a');
    await hold.held; // the tiered policy picked the four tier-0 runs and waits at the hook
    await makeRuns(store, 3, 'b'); // each put here passes (at most 6 runs then): the backlog grows to 7
    expect(store.stats().storage.runs).toBe(7);
    const stallsBefore = store.stats().storage.writeStalls;

    const write = store.put('stalled', 1);
    const state = settled(write);
    await turns(20);
    expect(state.done, 'the write waits for compaction').toBe(false);
    expect(store.stats().storage.writeStalls).toBe(stallsBefore + 1);

    hold.release();
    await write;
    expect(store.stats().storage.runs).toBeLessThanOrEqual(STALL_RUNS);
    expect(store.stats().storage.compaction.compactions).toBeGreaterThan(0);
    expect(await store.get('stalled')).toBe(1);
    for (let run = 0; run < 4; run++) expect(await store.get(`a-${run}`)).toBe(run);
    await store.close();
  });

  it('a compaction that fails (ENOSPC) releases the stalled write: the store stays writable', async () => {
    compactionSettings.stallRunCount = STALL_RUNS;
    const fileSystem = new FaultFileSystem(22);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
    const hold = holdCompaction();
    await makeRuns(store, 4, 'a');
    await hold.held;
    await makeRuns(store, 3, 'b');
    const write = store.put('stalled', 1);
    const state = settled(write);
    await turns(20);
    expect(state.done).toBe(false);

    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /runs\//, persistent: true });
    hold.release();
    await write;
    expect(fault.triggeredCount).toBeGreaterThan(0);
    expect(store.stats().storage.compaction.failures).toBeGreaterThan(0);
    expect(store.stats().storage.runs).toBe(7);
    fault.remove();
    expect(await store.get('stalled')).toBe(1);
    await store.close();
  });

  it('below the bound nothing stalls', async () => {
    const fileSystem = new FaultFileSystem(23);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024 });
    await makeRuns(store, 3, 'a');
    expect(store.stats().storage.writeStalls).toBe(0);
    await store.close();
  });
});
