/**
 * A delete at the retention floor that readers refuse is not dropped by a merge whose
 * inputs held every version when it decided, when a write of the key commits while the
 * merge runs. maxVersionsPerKey 1: a at 1, c at 2, c deleted at 3, all flushed; then
 * compact({ retainFrom: 3 }) of every run. In the deciding step nothing is in memory, so
 * version GC may drop c's delete (readers keep it: the newest version, "absent"). A put
 * of c at 4 committed during the merge makes readers refuse c as of 3 (c at 4 is the one
 * retained); the merge did not see it, dropped the delete without a marker, and c as of
 * 3 answered "absent" after the install: a refusal turned into an answer. The second
 * case commits the put while the install's manifest edit is under way: a read asked
 * then must answer as the reads after the install do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest, type ManifestEdit } from '../src/manifest/manifest.js';
import { openStore, type Store } from '../src/index.js';

const originalApply = Manifest.prototype.apply;
afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  Manifest.prototype.apply = originalApply;
});

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

const REFUSED = 'LADYBUG_VERSION_NOT_RETAINED';

async function flushedDelete(fileSystem: FaultFileSystem, memoryBudgetBytes?: number): Promise<Store> {
  const store = await openStore('/db', { fileSystem, maxVersionsPerKey: 1, ...(memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes }) });
  await store.put('a', 'a1');
  await store.put('c', 'c2');
  await store.delete('c'); // version 3
  await store.checkpoint();
  expect(await readAsOf(store, 'c', 3)).toBeUndefined();
  return store;
}

describe('floor-merge: a write committed while a merge of every run drops the delete at the floor', () => {
  it('during the merge: c as of the floor stays refused after the install and a reopen', async () => {
    const fileSystem = new FaultFileSystem(301);
    let store = await flushedDelete(fileSystem);
    try {
      let refusedDuring: unknown;
      compactionTestHooks.onHorizon = async () => {
        compactionTestHooks.onHorizon = undefined;
        await store.put('c', 'c4'); // version 4, in the memtable; the merge's inputs do not hold it
        refusedDuring = await readAsOf(store, 'c', 3);
      };
      const result = await store.compact({ retainFrom: 3 });
      expect(result.retentionFloor).toBe(3);
      expect(result.outcome).toBe('compacted');
      expect(refusedDuring, 'c as of 3 while the merge ran').toBe(REFUSED);
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after the install').toBe(REFUSED);
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      expect(await readAsOf(store, 'a', 3)).toBe('a1');
      await store.close();
      store = await openStore('/db', { fileSystem, maxVersionsPerKey: 1 });
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after a reopen').toBe(REFUSED);
      expect(await store.get('c')).toBe('c4');
      expect(await readAsOf(store, 'a', 3)).toBe('a1');
    } finally {
      await store.close();
    }
  });

  it('during the merge, flushed before the install: c as of the floor stays refused', async () => {
    const fileSystem = new FaultFileSystem(303);
    const store = await flushedDelete(fileSystem, 256 * 1024);
    try {
      let flushedDuring = false;
      compactionTestHooks.onHorizon = async () => {
        compactionTestHooks.onHorizon = undefined;
        await store.put('c', 'c4');
        // Fill the memtable until it seals and its flush installs a run above the merge's inputs.
        const filler = 'x'.repeat(2000);
        for (let index = 0; store.stats().storage.flushes < 2 && index < 2000; index++) {
          await store.put(`p${String(index).padStart(4, '0')}`, filler);
        }
        flushedDuring = store.stats().storage.flushes >= 2;
      };
      const result = await store.compact({ retainFrom: 3 });
      expect(flushedDuring, 'a flush installed a run while the merge waited').toBe(true);
      expect(result.outcome).toBe('compacted');
      expect(result.runsIn, 'the flushed run is not among the inputs').toBe(1);
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after the install').toBe(REFUSED);
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      // A merge of every run: the refused delete is beyond the newest 1, a marker keeps it refused.
      await store.compact();
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after a merge of every run').toBe(REFUSED);
    } finally {
      await store.close();
    }
  });

  it('during the install\'s manifest edit: a read asked then answers as the reads after it', async () => {
    const fileSystem = new FaultFileSystem(302);
    let store = await flushedDelete(fileSystem);
    try {
      let duringEdit: unknown = 'not asked';
      Manifest.prototype.apply = async function apply(this: Manifest, edit: ManifestEdit): Promise<void> {
        if ((edit.removeRunIds?.length ?? 0) > 0 && duringEdit === 'not asked') {
          duringEdit = 'asking';
          await store.put('c', 'c4');
          duringEdit = await readAsOf(store, 'c', 3);
        }
        return originalApply.call(this, edit);
      };
      const result = await store.compact({ retainFrom: 3 });
      expect(result.outcome).toBe('compacted');
      const after = await readAsOf(store, 'c', 3);
      expect(duringEdit, 'c as of 3 asked during the edit, then after the install').toBe(after);
      // The merge dropped the delete (nothing was written before its install step): readers saw the output
      // from that step on, so the put during the edit landed above it, never above the delete.
      expect(after).toBeUndefined();
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      await store.close();
      Manifest.prototype.apply = originalApply;
      store = await openStore('/db', { fileSystem, maxVersionsPerKey: 1 });
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after a reopen').toBe(after);
      expect(await store.get('c')).toBe('c4');
    } finally {
      await store.close();
    }
  });
});
