/**
 * stats().storage.compaction.failures counts a compaction whose install manifest edit
 * failed. A user saw compact() reject with DiskFullError (ENOSPC on the manifest's copy a:
 * the edit withdrawn, the store usable) while `failures` stayed 0: only a failed merge
 * was counted (compaction-protocol.ts mergeIntoRun), not a failure after it. Now every
 * compaction that fails and was not cancelled counts once: a failed merge still once
 * (not twice), the failed edit once, and the compaction that then installs is counted
 * in `compactions`, not `failures`.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const COPY_A = /\/db\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/;

async function threeRuns(fileSystem: FaultFileSystem): Promise<Store> {
  const store = await openStore('/db', { fileSystem, maxVersionsPerKey: 2 });
  for (let round = 0; round < 3; round++) {
    for (let index = 0; index < 40; index++) await store.put(`k${String(index).padStart(2, '0')}`, `v${round}-${index}`);
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(3);
  return store;
}

describe('compaction failures counter', () => {
  it('counts a compaction whose install manifest edit failed (disk full), once', async () => {
    const fileSystem = new FaultFileSystem(401);
    const store = await threeRuns(fileSystem);
    try {
      const before = store.stats().storage.compaction;
      const full = fileSystem.injectFault({ operation: 'write', path: COPY_A, error: 'ENOSPC' });
      await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
      expect(full.triggeredCount).toBe(1);
      const after = store.stats().storage.compaction;
      expect(after.failures - before.failures).toBe(1);
      expect(after.compactions).toBe(before.compactions);
      expect(after.cancelled).toBe(before.cancelled);
      expect((await store.compact()).outcome).toBe('compacted');
      const done = store.stats().storage.compaction;
      expect(done.failures - before.failures).toBe(1);
      expect(done.compactions - before.compactions).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('still counts a failed merge once', async () => {
    const fileSystem = new FaultFileSystem(402);
    const store = await threeRuns(fileSystem);
    try {
      const before = store.stats().storage.compaction;
      const full = fileSystem.injectFault({ operation: 'write', path: /\/db\/runs\//, error: 'ENOSPC' });
      await expect(store.compact()).rejects.toBeInstanceOf(DiskFullError);
      expect(full.triggeredCount).toBe(1);
      const after = store.stats().storage.compaction;
      expect(after.failures - before.failures).toBe(1);
      expect(after.compactions).toBe(before.compactions);
    } finally {
      await store.close();
    }
  });
});
