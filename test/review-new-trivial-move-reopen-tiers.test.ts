/**
 * Review of trivial moves (65b5635): a move raises a run's tier in memory only, so what
 * tier is a moved run after a reopen, and does anything but the policy go by it? A
 * sequential load of 70 small flushes (compactionSettings.trivialMoveMinRunBytes lowered)
 * leaves runs moved to tier 1 and cold (compressed, written at tier 2) runs moved to
 * tier 3, then one run of keys spread below the others. After a clean reopen every run is
 * at the tier it was written at (runsPerLevel by written levels: the stats by tier change
 * across the reopen, as documented), the cold/warm counts (by footer and written level)
 * do not change, and reads are exact. The next flush lets the policy move them again with
 * no byte rewritten (the cold runs back at tier 3), reads still exact.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactionSettings, TRIVIAL_MOVE_MIN_RUN_BYTES } from '../src/compaction/compaction-policy.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

afterEach(() => {
  compactionSettings.trivialMoveMinRunBytes = TRIVIAL_MOVE_MIN_RUN_BYTES;
});
const OPTIONS = { memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: true };
const keyOf = (index: number): string => `k${String(index).padStart(7, '0')}`;

/**
 * Until no compaction runs and none starts. Bounded by time, not by event-loop turns: a merge
 * in a thread on a loaded machine outlasts thousands of setImmediate turns (5,000 took 0.2 s in CI).
 */
async function settle(store: Store): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    if (!store.stats().storage.compaction.running) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!store.stats().storage.compaction.running) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('compaction did not settle');
}

let next = 0;
/** One flushed run of 20 keys: ascending above the last, or (`spread`) strided below them. */
async function run(store: Store, model: Map<string, string>, spread = false): Promise<void> {
  const operations = [];
  for (let index = 0; index < 20; index++) {
    const key = spread ? keyOf(index * 37) : keyOf(next++);
    operations.push({ type: 'put' as const, key, value: `${key}:${next}` });
    model.set(key, `${key}:${next}`);
  }
  await store.batch(operations);
  await store.checkpoint();
  await settle(store);
}

async function expectExact(store: Store, model: Map<string, string>): Promise<void> {
  for (const [key, value] of model) expect(await store.get(key), key).toBe(value);
  let scanned = 0;
  for await (const [key, value] of store.scan()) {
    expect(value, key as string).toBe(model.get(key as string));
    scanned++;
  }
  expect(scanned).toBe(model.size);
}

describe('trivial moves across a reopen', () => {
  it('moved runs are back at their written tier; only the policy and runsPerLevel go by it; moved again with nothing rewritten', async () => {
    compactionSettings.trivialMoveMinRunBytes = 0;
    const fileSystem = new FaultFileSystem(3);
    const model = new Map<string, string>();
    let store = await openStore('/db', { fileSystem, ...OPTIONS });
    for (let round = 0; round < 70; round++) await run(store, model);
    await run(store, model, true);
    const before = store.stats().storage;
    expect(before.compaction.runsPerLevel[3], 'cold runs moved to tier 3').toBe(4);
    expect(before.compaction.runsPerLevel[1]).toBeGreaterThan(0);
    expect(before.tiers.coldRuns).toBe(4);
    await store.close();

    store = await openStore('/db', { fileSystem, ...OPTIONS });
    try {
      const reopened = store.stats().storage;
      expect(reopened.runs).toBe(before.runs);
      expect(reopened.compaction.runsPerLevel.length, 'no run above the tier it was written at').toBe(3);
      expect(reopened.compaction.runsPerLevel[2]).toBe(4);
      expect(reopened.compaction.runsPerLevel[0]).toBe(before.runs - 4);
      expect({ cold: reopened.tiers.coldRuns, coldBytes: reopened.tiers.coldBytes, warm: reopened.tiers.warmRuns, warmBytes: reopened.tiers.warmBytes })
        .toEqual({ cold: before.tiers.coldRuns, coldBytes: before.tiers.coldBytes, warm: before.tiers.warmRuns, warmBytes: before.tiers.warmBytes });
      await expectExact(store, model);

      await run(store, model);
      const after = store.stats().storage;
      expect(after.compaction.compactedBytesWritten, 'nothing rewritten after the reopen').toBe(0);
      expect(after.compaction.trivialMoves).toBeGreaterThanOrEqual(2);
      expect(after.compaction.runsPerLevel[3], 'the cold runs moved back to tier 3').toBe(4);
      expect(after.runs).toBe(before.runs + 1);
      await expectExact(store, model);
    } finally {
      await store.close();
    }
  }, 60_000);
});
