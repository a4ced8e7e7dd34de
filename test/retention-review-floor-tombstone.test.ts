/**
 * Retention review: a delete visible at the retention floor that per-key retention
 * refuses is not dropped by a merge that does not see the key's newer versions. With
 * maxVersionsPerKey 1: a at 1 and a delete of c at 2 in one run, c at 3 in a newer
 * run; c as of 2 is refused (c at 3 is newer), also after the floor rises to 2. A
 * compact({ gte: 'a', lt: 'b' }) merges the older run alone (the newer one holds no
 * key in the range): there c's delete was the newest entry, so version GC took it for
 * a retained delete and dropped it (nothing older can resurface), and c as of 2
 * answered "absent". Found by the retention review's model test (seed 4 of 220 steps,
 * with transactions and watches).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('retention review: a refused delete at the floor', () => {
  it('stays refused after a merge of the older run alone', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(81), maxVersionsPerKey: 1 });
    try {
      await store.put('a', 'a1');
      await store.put('c', 'c0');
      await store.delete('c');
      await store.checkpoint();
      await store.put('c', 'c4');
      await store.checkpoint();
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect((await store.compact({ gte: 'zzz', retainFrom: 3 })).retentionFloor).toBe(3);
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      const merged = await store.compact({ gte: 'a', lt: 'b' });
      expect(merged).toMatchObject({ outcome: 'compacted', runsIn: 1 });
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after the older run merged alone').toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      expect(await readAsOf(store, 'a', 3)).toBe('a1');
      // Once the merge sees every run, the delete is beyond the newest 1: a marker keeps it refused.
      await store.compact();
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after a merge of every run').toBe('LADYBUG_VERSION_NOT_RETAINED');
    } finally {
      await store.close();
    }
  });

  it('stays refused after a merge of every run while a memtable holds the key\'s newer versions', async () => {
    // Found by the retention review model test (seed 4 of 220 steps): c's newer versions were in memory, unflushed.
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(82), maxVersionsPerKey: 1 });
    try {
      await store.put('c', 'c1');
      await store.delete('c');
      await store.checkpoint();
      await store.put('c', 'c3'); // in the memtable only
      expect(await readAsOf(store, 'c', 2)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect((await store.compact({ retainFrom: 2 })).retentionFloor).toBe(2);
      expect(await readAsOf(store, 'c', 2), 'c as of 2 after a merge of every run').toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(await readAsOf(store, 'c', 3)).toBe('c3');
      // With nothing newer in memory the merge drops the delete at the floor, which every reader kept.
      await store.delete('c');
      await store.checkpoint();
      expect(await readAsOf(store, 'c', 4)).toBeUndefined();
      const dropped = await store.compact({ retainFrom: 4 });
      expect(dropped.entriesOut, 'nothing of c is left').toBe(0);
      expect(await readAsOf(store, 'c', 4)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
