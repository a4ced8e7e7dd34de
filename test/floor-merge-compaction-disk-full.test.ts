/**
 * A compaction whose install manifest edit finds the disk full (ENOSPC on copy a of the
 * append: DiskFullError, the edit withdrawn, nothing of it durable) removes its output
 * run at once, as a flush removes its run (7744f4c). Before, the output stayed in runs/,
 * listed nowhere, until the next open removed it: space a full disk needs. The store goes
 * on: the inputs stay live, reads answer as before, the next compaction installs, and a
 * reopen reads every acknowledged write. The second case is a merge shown to readers
 * before its edit (it dropped a delete at the retention floor by the per-key count,
 * floor-delete-install.ts): the inputs come back and its output goes too.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const COPY_A = /\/db\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/;

function runFiles(fileSystem: FaultFileSystem): string[] {
  return fileSystem.listPaths().filter((path) => path.startsWith('/db/runs/')).sort();
}

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('floor-merge: a compaction whose manifest edit finds the disk full', () => {
  it('removes its output at once; the store keeps its runs and goes on', async () => {
    const fileSystem = new FaultFileSystem(311);
    let store = await openStore('/db', { fileSystem, maxVersionsPerKey: 2 });
    const written = new Map<string, string>();
    try {
      for (let round = 0; round < 3; round++) {
        for (let index = 0; index < 40; index++) {
          const value = `v${round}-${index}`;
          await store.put(`k${String(index).padStart(2, '0')}`, value);
          written.set(`k${String(index).padStart(2, '0')}`, value);
        }
        await store.checkpoint();
      }
      const before = runFiles(fileSystem);
      expect(before.filter((path) => path.endsWith('.run'))).toHaveLength(3);
      const full = fileSystem.injectFault({ operation: 'write', path: COPY_A, error: 'ENOSPC' });
      await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
      expect(full.triggeredCount).toBe(1);
      expect(runFiles(fileSystem), 'runs/ holds the inputs only').toEqual(before);
      expect(store.stats().storage.runs).toBe(3);
      for (const [key, value] of written) expect(await store.get(key)).toBe(value);
      // Space is back: writes and the next compaction go on.
      await store.put('k00', 'after');
      written.set('k00', 'after');
      const result = await store.compact();
      expect(result).toMatchObject({ outcome: 'compacted', runsIn: 3 });
      expect(runFiles(fileSystem).filter((path) => path.endsWith('.run'))).toHaveLength(1);
      await store.close();
      store = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced'), maxVersionsPerKey: 2 });
      for (const [key, value] of written) expect(await store.get(key)).toBe(value);
    } finally {
      await store.close();
    }
  });

  it('a merge shown before its edit (a delete at the floor dropped): the inputs come back, its output goes', async () => {
    const fileSystem = new FaultFileSystem(312);
    let store = await openStore('/db', { fileSystem, maxVersionsPerKey: 1 });
    try {
      await store.put('a', 'a1');
      await store.put('c', 'c2');
      await store.delete('c'); // version 3
      await store.checkpoint();
      await store.put('b', 'b4');
      await store.checkpoint();
      expect((await store.compact({ gte: 'zzz', retainFrom: 3 })).retentionFloor).toBe(3); // the floor alone
      const before = runFiles(fileSystem);
      expect(before.filter((path) => path.endsWith('.run'))).toHaveLength(2);
      const full = fileSystem.injectFault({ operation: 'write', path: COPY_A, error: 'ENOSPC' });
      await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
      expect(full.triggeredCount).toBe(1);
      expect(runFiles(fileSystem), 'runs/ holds the inputs only').toEqual(before);
      expect(store.stats().storage.runs).toBe(2);
      expect(await readAsOf(store, 'c', 3)).toBeUndefined();
      expect(await store.get('a')).toBe('a1');
      expect(await store.get('b')).toBe('b4');
      await store.put('c', 'c5');
      // c at 5 is newer than the delete in memory: the merge keeps it now, so c as of 3 is refused.
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(await store.compact()).toMatchObject({ outcome: 'compacted', runsIn: 2 });
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
      await store.close();
      store = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced'), maxVersionsPerKey: 1 });
      expect(await store.get('c')).toBe('c5');
      expect(await store.get('a')).toBe('a1');
      expect(await store.get('b')).toBe('b4');
      expect(await readAsOf(store, 'c', 3)).toBe('LADYBUG_VERSION_NOT_RETAINED');
    } finally {
      await store.close();
    }
  });
});
