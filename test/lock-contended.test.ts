/**
 * src/store/directory-lock.ts: an opener that loses the race for every new lock
 * generation gives up with LockContendedError (code LADYBUG_LOCK_CONTENDED, a
 * LadybugError naming the directory and the attempts), not a plain Error without a
 * code, and leaves nothing of its own behind. A file system whose `link` always
 * fails with EEXIST stands for other openers winning each generation first.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, LadybugError, LockContendedError, openStore } from '../src/index.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

/** Every link finds its name taken, as when another opener linked that generation first. */
class AlwaysBeatenFileSystem extends ForwardingFileSystem {
  links = 0;
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override async link(): Promise<void> {
    this.links++;
    throw Object.assign(new Error('EEXIST: file already exists, link'), { code: 'EEXIST' });
  }
}

afterEach(removeTemporaryDirectories);

describe('directory lock: attempts run out', () => {
  it('DirectoryLock.acquire throws LockContendedError with a stable code, and leaves no file', async () => {
    const dir = temporaryDirectory();
    const fileSystem = new AlwaysBeatenFileSystem(new NodeFileSystem());
    const error = await DirectoryLock.acquire(fileSystem, dir, { heartbeat: false }).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(LockContendedError);
    expect(error).toBeInstanceOf(LadybugError);
    expect(error).toMatchObject({ code: ErrorCode.LockContended, lockDirectory: dir, attempts: fileSystem.links });
    expect(ErrorCode.LockContended).toBe('LADYBUG_LOCK_CONTENDED');
    expect(fileSystem.links).toBeGreaterThan(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('openStore rejects with it too', async () => {
    const dir = temporaryDirectory();
    await expect(openStore(dir, { fileSystem: new AlwaysBeatenFileSystem(new NodeFileSystem()) }))
      .rejects.toMatchObject({ code: 'LADYBUG_LOCK_CONTENDED' });
  });
});
