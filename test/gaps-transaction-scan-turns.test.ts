/**
 * A loop of tx.scan inside one transaction body lets a compaction in flight install, as
 * loops of store.scan (e039d36) and snapshot.scan (9812172) do (src/store/event-loop-turns.ts):
 * a transaction scan that reads no file settles in microtasks alone, so before it counted
 * its steps with the store handle's scans, the body ran no macrotask until it returned,
 * well inside a transaction's lifetime (60 s by default). And the turns change no scan's
 * answer: it reads the view of the transaction's start, merged with its own writes.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { putHotKeys, storeWithRuns } from './support/runs-and-hot-keys.js';

const DIRECTORY = '/db';
/** Upper bound on the scans a test loop makes; the compaction needs far fewer turns. */
const SCAN_LOOP_MAX = 20_000;

describe('a loop of transaction scans', () => {
  it('lets a compaction started before it finish and install, with exact scans', async () => {
    const fileSystem = new FaultFileSystem(5);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    try {
      await storeWithRuns(store);
      // Keys only the memtable holds (no run's key span meets the range): no I/O.
      const hot = await putHotKeys(store);
      expect(store.stats().storage.runs).toBeGreaterThan(1);
      let settled = false;
      const compaction = store.compact().finally(() => {
        settled = true;
      });
      // Awaited below; handled here too, so a failing assertion before that leaves no unhandled rejection at close.
      compaction.catch(() => undefined);
      const scans = await store.transaction(async (tx) => {
        // Own writes in the range: one new key, one overwrite, one delete.
        await tx.put('hot-05', 'own');
        await tx.put('hot-05a', 'own-new');
        await tx.delete('hot-10');
        const expected = [...hot.slice(0, 5), ['hot-05', 'own'], ['hot-05a', 'own-new'], ...hot.slice(6, 10), ...hot.slice(11)];
        let count = 0;
        // Before transaction scans counted their steps with the store's, the body ran all SCAN_LOOP_MAX scans.
        while (!settled && count < SCAN_LOOP_MAX) {
          const entries: Array<[unknown, unknown]> = [];
          for await (const entry of tx.scan({ gte: 'hot-', lt: 'hot.' })) entries.push(entry);
          expect(entries).toEqual(expected);
          count++;
        }
        return count;
      });
      expect(settled).toBe(true);
      expect(scans).toBeLessThan(SCAN_LOOP_MAX);
      expect((await compaction).outcome).toBe('compacted');
      expect(store.stats().storage.runs).toBe(1);
      expect(await store.get('hot-05a')).toBe('own-new');
      expect(await store.get('hot-10')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
