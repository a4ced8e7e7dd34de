/**
 * Retention review (2b81277 with 553bc90): the manifest edit recording a raised retention
 * floor can now fail with DiskFullError and leave the store usable (ENOSPC on copy a,
 * before any byte of the edit is durable: the edit is withdrawn). The floor had risen in
 * memory in the deciding step; after the failed edit it stayed raised there: reads below it
 * were refused, while the manifest (stats(), a reopen) kept the old floor, so a reopen
 * answered them again (README: a refusal below the floor is one a crash or reopen cannot
 * take back; 2b81277 refuses only once the floor's edit is durable). Now the floor goes
 * back to the manifest's when its edit fails, and a get, a scan or a watch catch-up asked
 * while the edit was under way reads once it failed.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const DIRECTORY = '/store';
const COPY_A = /\/store\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/;
const OPTIONS = { maxVersionsPerKey: 10 };

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('retention review: a floor whose manifest edit failed with ENOSPC', () => {
  it('is not in force: reads below it answer before and after a reopen, as the manifest says', async () => {
    const fileSystem = new FaultFileSystem(61);
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    for (let version = 1; version <= 3; version++) await store.put('k', `v${version}`);
    await store.checkpoint();
    expect(await readAsOf(store, 'k', 1)).toBe('v1');
    const full = fileSystem.injectFault({ operation: 'write', path: COPY_A, error: 'ENOSPC' });
    const compaction = store.compact({ retainFrom: 3 });
    compaction.catch(() => undefined); // awaited below
    // Asked while the floor's edit is under way (the floor raised in memory): they wait for it, then read.
    await new Promise((resolve) => setImmediate(resolve));
    const asked = readAsOf(store, 'k', 1);
    const scanned = (async () => {
      const entries: unknown[] = [];
      for await (const [key, value] of store.scan({ asOf: 1 })) entries.push([key, value]);
      return entries;
    })().catch((error: { code?: string }) => error.code);
    const watched = (async () => {
      for await (const change of store.watch({ sinceVersion: 0, untilVersion: 1 })) return (change as { value: unknown }).value;
      return 'nothing';
    })().catch((error: { code?: string }) => error.code);
    await expect(compaction).rejects.toMatchObject({ code: 'LADYBUG_DISK_FULL' });
    full.remove();
    expect(await asked, 'a get asked during the failed edit').toBe('v1');
    expect(await scanned, 'a scan asked during the failed edit').toEqual([['k', 'v1']]);
    expect(await watched, 'a watch from 0 asked during the failed edit').toBe('v1');
    expect(store.stats().failed).toBe(false);
    expect(store.stats().storage.compaction.retentionFloor).toBe(0);
    const before = await readAsOf(store, 'k', 1);
    await store.close();
    const reopened = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    try {
      expect(reopened.stats().storage.compaction.retentionFloor).toBe(0);
      const after = await readAsOf(reopened, 'k', 1);
      expect(after).toBe('v1');
      expect(before, 'as of 1 before the reopen, as after it').toBe(after);
      // The raise again, with room: in force, and kept.
      expect((await reopened.compact({ retainFrom: 3 })).retentionFloor).toBe(3);
      expect(await readAsOf(reopened, 'k', 1)).toBe('LADYBUG_VERSION_NOT_RETAINED');
    } finally {
      await reopened.close();
    }
  });
});
