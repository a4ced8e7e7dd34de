/**
 * A compact() of every run called while the store is backlogged (more live runs than
 * compactionSettings.stallRunCount and a merge the policy wants) and a background merge
 * runs. compact() cancels that background merge (its output would be merged again)
 * and waits for it; the cancelled merge's end re-scheduled a background merge at once
 * (writers wait while backlogged), which compact() found running and cancelled again,
 * for ever: every step of that loop settles in microtasks (the cancel is seen before
 * any I/O), so the event loop starved and the process hung (found by a history probe
 * with a tiny memory budget: the watchdog timer never fired). No timing: the hook that
 * holds the first merge counts the merges started, and stops the loop (by failing the
 * merge, which lifts the backlog) once it ran far past what compact() needs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const STALL_RUNS = 6;
/** Far more merge starts than one compact() needs (the held one, its own, a few after). */
const STARTS_MAX = 50;

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
});

async function makeRuns(store: Store, count: number, tag: string): Promise<void> {
  for (let run = 0; run < count; run++) {
    await store.put(`${tag}-${run}`, run);
    await store.checkpoint();
  }
}

describe('compact() while backlogged and a background merge runs', () => {
  for (const range of [undefined, { gte: 'a' }]) {
    it(`${range === undefined ? 'every run' : 'a key range'}: compact() merges, background merges are not restarted under it`, async () => {
      compactionSettings.stallRunCount = STALL_RUNS;
      const store = await openStore('/db', { fileSystem: new FaultFileSystem(7), memoryBudgetBytes: 256 * 1024 });
      let starts = 0;
      let reached = (): void => undefined;
      const held = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      compactionTestHooks.onHorizon = async () => {
        starts++;
        if (starts === 1) {
          reached();
          await gate;
        }
        if (starts > STARTS_MAX) throw new Error('merges restarted without end');
      };
      await makeRuns(store, 4, 'a');
      await held; // the background merge of the four tier-0 runs waits at the hook
      await makeRuns(store, 3, 'b'); // 7 runs: backlogged (a fourth put would wait)
      expect(store.stats().storage.runs).toBeGreaterThan(STALL_RUNS);

      const compacted = store.compact(range);
      release();
      const result = await compacted;
      expect(starts, 'merges started').toBeLessThan(STARTS_MAX);
      expect(result.outcome).toBe('compacted');
      expect(store.stats().storage.compaction.failures).toBe(0);
      // Writes are not left stalled: a background merge picks up what compact() left.
      await store.put('after', 1);
      for (let run = 0; run < 3; run++) {
        expect(await store.get(`a-${run}`)).toBe(run);
        expect(await store.get(`b-${run}`)).toBe(run);
      }
      await store.close();
    });
  }
});
