/**
 * A checkpoint whose WAL rotation fails with an I/O error fails the store at once.
 *
 * Found by model-review-random.test.ts (seed 226, shrunk to a fault step and a put): the
 * checkpoint's rotation to a new WAL segment failed (EIO on the new segment's open,
 * write, truncate, sync or its directory's sync), and the checkpoint rejected with
 * IoError while stats().failed stayed false; yet the WAL writer keeps such a failure for
 * good (active-segment.ts), so the next put was refused with StoreFailedError ("WAL
 * write, fdatasync or apply failed") and only then did the store count as failed (and
 * its lease waiters and watch feeds hear of it). README (Errors): a failed WAL write
 * fails the store; it refuses checkpoints with StoreFailedError and stats().failed is true.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';

describe('a checkpoint whose WAL rotation fails', () => {
  for (const operation of ['open', 'write', 'truncate', 'sync', 'syncDirectory'] as const) {
    it(`fails the store at once (EIO on ${operation})`, async () => {
      let fileSystem = new FaultFileSystem(1);
      const store = await openStore('/db', { fileSystem });
      await store.put('a', 1);
      const fault = fileSystem.injectFault({ operation, error: 'EIO', nth: 1, path: /\/wal(\/|$)/ });
      const checkpoint = await store.checkpoint().then(() => undefined, (error: unknown) => error);
      expect(fault.triggeredCount).toBe(1);
      fileSystem.clearFaults();
      expect((checkpoint as { code?: string }).code).toBe('LADYBUG_STORE_FAILED');
      expect(store.stats().failed).toBe(true);
      await expect(store.put('b', 2)).rejects.toMatchObject({ code: 'LADYBUG_STORE_FAILED' });
      // Reads still work; a reopen has every acknowledged commit.
      expect(await store.get('a')).toBe(1);
      store[abandonStore]();
      fileSystem = fileSystem.crash('drop-unsynced');
      const reopened = await openStore('/db', { fileSystem });
      try {
        expect(reopened.version).toBe(1);
        expect(await reopened.get('a')).toBe(1);
        expect(await reopened.get('b')).toBeUndefined();
      } finally {
        await reopened.close();
      }
    });
  }
});
