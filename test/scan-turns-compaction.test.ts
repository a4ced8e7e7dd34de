/**
 * A loop of scans lets a compaction in flight install (src/store/event-loop-turns.ts):
 * a scan that reads no file settles in microtasks alone, so before the store forced a
 * turn every SCAN_STEPS_PER_EVENT_LOOP_TURN scan steps while a compaction is in flight,
 * a loop of such scans ran no macrotask until it ended. And the turns change no scan's
 * answer: a scan reads its view of its start, whatever installs during a turn.
 */
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { putHotKeys, storeWithRuns } from './support/runs-and-hot-keys.js';

const DIRECTORY = '/db';
/** Upper bound on the scans a test loop makes; the compaction needs far fewer turns. */
const SCAN_LOOP_MAX = 20_000;

async function scanAll(store: Store, options: Parameters<Store['scan']>[0]): Promise<Array<[unknown, unknown]>> {
  const entries: Array<[unknown, unknown]> = [];
  for await (const entry of store.scan(options)) entries.push(entry);
  return entries;
}

describe('a loop of scans', () => {
  it('lets a compaction started before it finish and install, with exact scans', async () => {
    const fileSystem = new FaultFileSystem(2);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    try {
      const model = await storeWithRuns(store);
      // The loop scans keys only the memtable holds (no run's key span meets the range): no I/O.
      const hot = await putHotKeys(store);
      expect(store.stats().storage.runs).toBeGreaterThan(1);
      let settled = false;
      const compaction = store.compact().finally(() => {
        settled = true;
      });
      let turned = false;
      let scans = 0;
      setImmediate(() => {
        turned = true;
      });
      // Before the turns, neither ran until the loop's SCAN_LOOP_MAX scans were done.
      while (!settled && scans < SCAN_LOOP_MAX) {
        expect(await scanAll(store, { gte: 'hot-', lt: 'hot.' })).toEqual(hot);
        scans++;
      }
      expect(turned).toBe(true);
      expect(settled).toBe(true);
      expect(scans).toBeLessThan(SCAN_LOOP_MAX);
      expect((await compaction).outcome).toBe('compacted');
      expect(store.stats().storage.runs).toBe(1);
      expect(await scanAll(store, { gte: 'key-', lt: 'key.' })).toEqual([...model].sort(([a], [b]) => (a < b ? -1 : 1)));
    } finally {
      await store.close();
    }
  });

  it('of a snapshot lets a compaction started before it finish and install, with exact scans', async () => {
    const fileSystem = new FaultFileSystem(4);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    try {
      await storeWithRuns(store);
      const hot = await putHotKeys(store);
      const snapshot = await store.snapshot();
      let settled = false;
      const compaction = store.compact().finally(() => {
        settled = true;
      });
      let scans = 0;
      // Before snapshot scans counted their steps with the store's, the loop ran all SCAN_LOOP_MAX scans.
      while (!settled && scans < SCAN_LOOP_MAX) {
        const entries: Array<[unknown, unknown]> = [];
        for await (const entry of snapshot.scan({ gte: 'hot-', lt: 'hot.' })) entries.push(entry);
        expect(entries).toEqual(hot);
        scans++;
      }
      expect(settled).toBe(true);
      expect(scans).toBeLessThan(SCAN_LOOP_MAX);
      expect((await compaction).outcome).toBe('compacted');
      await snapshot.release();
    } finally {
      await store.close();
    }
  });

  it('returns the entries of its start although writes, a flush and a compaction install during its turns', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 256 * 1024, checkpointOnClose: true });
    try {
      const model = await storeWithRuns(store);
      // Part of the range in the memtable too (overwrites and deletes of run keys).
      for (let index = 0; index < 4_000; index += 13) {
        const key = `key-${String(index).padStart(5, '0')}`;
        if (index % 2 === 0) {
          await store.put(key, `memtable-${index}`);
          model.set(key, `memtable-${index}`);
        } else {
          await store.delete(key);
          model.delete(key);
        }
      }
      const hot = [['hot', 'memtable']];
      await store.put('hot', 'memtable');
      const expected = [...model].sort(([a], [b]) => (a < b ? -1 : 1));
      const runsBefore = store.stats().storage.runs;
      expect(runsBefore).toBeGreaterThan(1);
      const flushesBefore = store.stats().storage.flushes;

      // The scan under test starts before any change.
      const iterator = store.scan({ gte: 'key-', lt: 'key.' });
      const compaction = store.compact();
      // Each step runs only in an event-loop turn, which no code of this test gives.
      const stages: string[] = [];
      const changes = (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await store.batch(Array.from({ length: 4_000 }, (_, index) => ({ type: 'put' as const, key: `key-${String(index).padStart(5, '0')}`, value: 'after' })));
        await store.delete('key-00001');
        stages.push('written');
        await store.checkpoint();
        stages.push('flushed');
        expect((await compaction).outcome).toBe('compacted');
        stages.push('compacted');
      })();

      // Between two of its entries, short scans of a memtable key (no I/O, no turn but the
      // scans' own), until the changes are done.
      const scanned: Array<[unknown, unknown]> = [];
      let shortScans = 0;
      for await (const entry of iterator) {
        scanned.push(entry);
        while (stages.length < 3 && shortScans < SCAN_LOOP_MAX) {
          expect(await scanAll(store, { gte: 'hot', lte: 'hot' })).toEqual(hot);
          shortScans++;
          if (shortScans % 64 === 0) break;
        }
      }
      await changes;

      expect(stages).toEqual(['written', 'flushed', 'compacted']);
      expect(shortScans).toBeLessThan(SCAN_LOOP_MAX);
      expect(store.stats().storage.flushes).toBeGreaterThan(flushesBefore);
      // The compaction replaced the runs of the start by one (the flush added its own).
      expect(store.stats().storage.runs).toBeLessThan(runsBefore);
      // The scan returns exactly the entries of its start.
      expect(scanned).toEqual(expected);
      // A scan started now reads the changes.
      const after = await scanAll(store, { gte: 'key-', lt: 'key.' });
      expect(after).toHaveLength(3_999);
      expect(after.every(([, value]) => value === 'after')).toBe(true);
    } finally {
      await store.close();
    }
  });
});
