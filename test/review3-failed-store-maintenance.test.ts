/**
 * A failed store (fail-stop, README "Errors") refuses its maintenance writes with the
 * failure itself, before touching any file, and its close() ends the handle on the
 * first call. Before: compact() of a store whose flush failed for good merged runs and
 * edited the manifest, and after a lock takeover failed half-way with IoError
 * ESTORELOCKLOST (the fence); backup() created the target's directories and failed with
 * an IoError (the flush's EIO from its checkpoint, or ESTORELOCKLOST from mkdir of a
 * target in another directory); and close() of a store whose lock was taken over,
 * with a manifest edit chain long enough for close's rewrite, rejected with
 * StoreFailedError "the manifest rewrite at close failed (ESTORELOCKLOST ...)", the
 * WAL left open and the handle not closed, until close() was called again.
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { LOCK_HEARTBEAT_INTERVAL_MS } from '../src/limits.js';
import { CLOSE_REWRITE_EDITS_MIN } from '../src/manifest/manifest-edit-chain.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Every store file but the lock files, with its bytes (durable or not). */
function filesOf(fileSystem: FaultFileSystem): Record<string, string> {
  const files: Record<string, string> = {};
  for (const path of fileSystem.listPaths().filter((name) => !name.includes('/LOCK')).sort()) {
    files[path] = Buffer.from(fileSystem.durableContent(path) ?? new Uint8Array()).toString('base64');
  }
  return files;
}

/** `count` runs, each its own checkpoint (a manifest edit each). */
async function checkpoints(store: Store, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    await store.put(`r${index % 3}`, Buffer.alloc(64, index));
    await store.checkpoint();
  }
}

async function takeOver(fileSystem: FaultFileSystem): Promise<void> {
  const taker = await fileSystem.open('/db/LOCK.000000000002', 'createExclusive');
  await taker.write(Buffer.from('{}'), 0);
  await taker.close();
  await vi.advanceTimersByTimeAsync(LOCK_HEARTBEAT_INTERVAL_MS);
}

/** compact() and backup() to another directory are refused with the store's failure, writing nothing. */
async function expectMaintenanceRefused(store: Store, fileSystem: FaultFileSystem): Promise<void> {
  expect(store.stats().failed).toBe(true);
  const before = filesOf(fileSystem);
  await expect(store.compact()).rejects.toBeInstanceOf(StoreFailedError);
  expect(filesOf(fileSystem), 'nothing written by compact()').toEqual(before);
  await expect(store.backup('/elsewhere/backup')).rejects.toBeInstanceOf(StoreFailedError);
  expect(await fileSystem.exists('/elsewhere/backup'), 'no backup directory made').toBe(false);
  expect(filesOf(fileSystem), 'nothing written by backup()').toEqual(before);
}

describe('a failed store refuses compact() and backup(), and closes at once', () => {
  it('a flush that failed for good', async () => {
    const fileSystem = new FaultFileSystem(41);
    const store = await openStore('/db', { fileSystem });
    try {
      await checkpoints(store, 2);
      await store.put('k', Buffer.alloc(64, 1));
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\/runs\// });
      await expect(store.checkpoint()).rejects.toThrow();
      await expectMaintenanceRefused(store, fileSystem);
      await store.close();
      expect(store.stats().closed).toBe(true);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('a directory lock taken over, with a manifest chain close would rewrite', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const fileSystem = new FaultFileSystem(42);
    const store = await openStore('/db', { fileSystem });
    try {
      await checkpoints(store, CLOSE_REWRITE_EDITS_MIN + 2);
      await store.put('late', 1);
      await takeOver(fileSystem);
      await expectMaintenanceRefused(store, fileSystem);
      const before = filesOf(fileSystem);
      // The first close() ends the handle: no manifest rewrite tried in a directory that is another process's now.
      await store.close();
      expect(store.closed).toBe(true);
      expect(filesOf(fileSystem), 'nothing written by close').toEqual(before);
      expect(await store.get('late').then(() => 'answered', (error: unknown) => (error as Error).name)).toBe('StoreClosedError');
    } finally {
      await store.close().catch(() => undefined);
    }
  });
});
