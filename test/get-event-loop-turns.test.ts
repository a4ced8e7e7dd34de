/**
 * A loop of awaited gets lets a compaction in flight install (src/store/event-loop-turns.ts,
 * issue 7). Gets that find their answer without I/O settle in microtasks alone; before
 * the store forced a turn every GETS_PER_EVENT_LOOP_TURN gets while a compaction is in
 * flight, such a loop ran no macrotask until it ended, so the compaction (its merge
 * slices, its install) waited for the loop and every get asked the runs it replaced.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const DIRECTORY = '/db';
/** Upper bound on the gets a test loop makes; the compaction needs far fewer turns. */
const GET_LOOP_MAX = 200_000;

describe('a loop of awaited gets', () => {
  it('lets a compaction started before it finish and install, with exact reads', async () => {
    const fileSystem = new FaultFileSystem(2);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    try {
      const model = new Map<string, string>();
      for (let round = 0; round < 6; round++) {
        const entries = Array.from({ length: 1_500 }, (_, index) => {
          const key = `key-${String((index * 7 + round * 311) % 4_000).padStart(5, '0')}`;
          const value = `value-${round}-${index}`;
          model.set(key, value);
          return { type: 'put' as const, key, value };
        });
        await store.batch(entries);
        await store.checkpoint();
      }
      // The loop reads a key in the memtable: every get settles without I/O.
      await store.put('hot', 'memtable');
      const runsBefore = store.stats().storage.runs;
      expect(runsBefore).toBeGreaterThan(1);
      let settled = false;
      const compaction = store.compact().finally(() => {
        settled = true;
      });
      let turned = false;
      let gets = 0;
      setImmediate(() => {
        turned = true;
      });
      // Before the turns, neither ran until the loop's GET_LOOP_MAX gets were done.
      while (!settled && gets < GET_LOOP_MAX) {
        expect(await store.get('hot')).toBe('memtable');
        gets++;
      }
      expect(turned).toBe(true);
      expect(settled).toBe(true);
      const result = await compaction;
      expect(result.outcome).toBe('compacted');
      expect(store.stats().storage.runs).toBe(1);
      for (const [key, value] of model) expect(await store.get(key)).toBe(value);
    } finally {
      await store.close();
    }
  });
});
