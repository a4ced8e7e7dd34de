/**
 * BACKUP.json's file checksum is, as docs/FORMAT.md says, xxHash64 over the xxHash64
 * values of the file's 1 MiB chunks, whatever sizes the reads that compute it return: a
 * positional read may return fewer bytes than asked (POSIX allows it; network and FUSE
 * file systems do), and the same backup must verify the same either way.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, verifyBackup } from '../src/index.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** Every read returns at most 64 KiB (a short read, as a network file system may answer). */
class ShortReadFileSystem extends ForwardingFileSystem {
  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, { read: (buffer, offset, length, position) => handle.read(buffer, offset, Math.min(length, 65_536), position) });
  }
}

describe('backup file checksums do not depend on read sizes', () => {
  it('a backup verifies the same when every read of it is short', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.batch(Array.from({ length: 3000 }, (_, index) => ({ type: 'put' as const, key: `key-${String(index).padStart(5, '0')}`, value: 'v'.repeat(200) })));
    await store.checkpoint();
    const target = join(temporaryDirectory(), 'backup');
    await store.backup(target);
    await store.close();

    const full = await verifyBackup(target);
    expect([full.ok, full.problems]).toEqual([true, []]);
    const short = await verifyBackup(target, { fileSystem: new ShortReadFileSystem(new NodeFileSystem()) });
    expect([short.ok, short.problems]).toEqual([true, []]);
  });

  it('a backup taken while every read is short verifies with full reads', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.batch(Array.from({ length: 3000 }, (_, index) => ({ type: 'put' as const, key: `key-${String(index).padStart(5, '0')}`, value: 'v'.repeat(200) })));
    await store.checkpoint();
    await store.close();
    const shortReads = await openStore(directory, { fileSystem: new ShortReadFileSystem(new NodeFileSystem()) });
    const target = join(temporaryDirectory(), 'backup');
    await shortReads.backup(target, { link: false });
    await shortReads.close();
    const full = await verifyBackup(target);
    expect([full.ok, full.problems]).toEqual([true, []]);
  });
});
