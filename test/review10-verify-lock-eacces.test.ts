/**
 * Review 10 (a new user inspecting a store they cannot write): `ladybug verify` takes the
 * store's directory lock, a file it creates, and on a store owned by another user that
 * failed with the raw EACCES error: `ladybug: EACCES: permission denied, open
 * '.../LOCK.tmp-...'`, no stable code, where `ladybug stats` and openStore report the
 * same failure as IoError [LADYBUG_IO]. verifyStore (and the reserved-count check beside
 * it) now types a failure to take the lock as openStore does. Simulated with a file
 * system whose lock-file creation fails with EACCES (the tests run as root, where
 * permissions do not refuse).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { ErrorCode, IoError, openStore } from '../src/index.js';
import { checkReservedEntryCounts, verifyStore } from '../src/store/verify-store.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';

class LockDeniedFileSystem extends ForwardingFileSystem {
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (/LOCK\.tmp-/.test(path)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', errno: -13, syscall: 'open', path });
    }
    return super.open(path, mode);
  }
}

async function closedStoreFileSystem(): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(10);
  const store = await openStore('/db', { fileSystem });
  await store.put('k', 1);
  await store.close();
  return fileSystem;
}

describe('review10: verify on a store whose lock it may not create', () => {
  it('verifyStore and checkReservedEntryCounts reject with IoError (LADYBUG_IO, errno EACCES)', async () => {
    const denied = new LockDeniedFileSystem(await closedStoreFileSystem());
    for (const check of [() => verifyStore('/db', { fileSystem: denied }), () => checkReservedEntryCounts('/db', { fileSystem: denied })]) {
      const error = await check().then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(IoError);
      expect((error as IoError).code).toBe(ErrorCode.Io);
      expect((error as IoError).errno).toBe('EACCES');
    }
    // The same file system opened through openStore fails the same way (what the CLI's other commands print).
    await expect(openStore('/db', { fileSystem: denied })).rejects.toMatchObject({ code: ErrorCode.Io, errno: 'EACCES' });
  });
});
