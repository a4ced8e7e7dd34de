/**
 * FileSystem#removeDirectory (rmdir(2)) in every implementation: an empty directory goes,
 * one holding anything is refused (ENOTEMPTY) and kept, a missing one is ENOENT, a file
 * ENOTDIR; on the fault file system the removal is durable only once the parent is synced;
 * the read-only view changes nothing, the dry-run view hides the directory and leaves the
 * disk as it was, the killable one refuses it once writes are, and says ENOTSUP over a file
 * system that has none.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dryRunView } from '../src/fs/dry-run-view.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { KillableFileSystem, LOCK_LOST_CODE } from '../src/fs/killable-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { readOnlyView } from '../src/fs/read-only-view.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function writeFile(fileSystem: FileSystem, path: string): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  await handle.write(new Uint8Array([1, 2, 3]), 0);
  await handle.close();
}

/** The rmdir(2) contract on `fileSystem` under `root` (an existing, empty directory). */
async function checkContract(fileSystem: FileSystem, root: string): Promise<void> {
  await fileSystem.mkdir(`${root}/full/inner`);
  await writeFile(fileSystem, `${root}/file`);
  await expect(fileSystem.removeDirectory!(`${root}/full`)).rejects.toMatchObject({ code: 'ENOTEMPTY' });
  await expect(fileSystem.removeDirectory!(`${root}/missing`)).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(fileSystem.removeDirectory!(`${root}/file`)).rejects.toMatchObject({ code: 'ENOTDIR' });
  expect(await fileSystem.exists(`${root}/full/inner`)).toBe(true);
  await fileSystem.removeDirectory!(`${root}/full/inner`);
  await fileSystem.removeDirectory!(`${root}/full`);
  expect(await fileSystem.exists(`${root}/full`)).toBe(false);
  expect((await fileSystem.readdir(root)).sort()).toEqual(['file']);
}

describe('FileSystem#removeDirectory', () => {
  it('node file system', async () => {
    await checkContract(new NodeFileSystem(), temporaryDirectory());
  });

  it('fault file system: the rmdir(2) contract, durable only after the parent is synced, faults inject', async () => {
    const fileSystem = new FaultFileSystem(3);
    await fileSystem.mkdir('/root');
    await checkContract(fileSystem, '/root');
    await fileSystem.mkdir('/root/a');
    await fileSystem.syncDirectory('/');
    await fileSystem.syncDirectory('/root');
    await fileSystem.removeDirectory('/root/a');
    expect(await fileSystem.crash('drop-unsynced').exists('/root/a')).toBe(true);

    const again = new FaultFileSystem(4);
    await again.mkdir('/root/a');
    await again.syncDirectory('/');
    await again.syncDirectory('/root');
    await again.removeDirectory('/root/a');
    await again.syncDirectory('/root');
    const rebooted = again.crash('drop-unsynced');
    expect(await rebooted.exists('/root')).toBe(true);
    expect(await rebooted.exists('/root/a')).toBe(false);

    const faulty = new FaultFileSystem(5);
    await faulty.mkdir('/root/a');
    faulty.injectFault({ operation: 'removeDirectory', error: 'EIO', path: '/root/a' });
    await expect(faulty.removeDirectory('/root/a')).rejects.toMatchObject({ code: 'EIO' });
    expect(await faulty.exists('/root/a')).toBe(true);
    await expect(faulty.removeDirectory('/')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
  });

  it('read-only view: changes nothing', async () => {
    const directory = temporaryDirectory();
    mkdirSync(join(directory, 'empty'));
    await readOnlyView(new NodeFileSystem()).removeDirectory!(join(directory, 'empty'));
    expect(existsSync(join(directory, 'empty'))).toBe(true);
  });

  it('dry-run view: the directory leaves the view, not the disk; one holding a file it created is not empty', async () => {
    const directory = temporaryDirectory();
    mkdirSync(join(directory, 'empty'));
    mkdirSync(join(directory, 'held'));
    writeFileSync(join(directory, 'file'), 'x');
    const view = dryRunView(new NodeFileSystem());
    await view.removeDirectory!(join(directory, 'empty'));
    expect(await view.exists(join(directory, 'empty'))).toBe(false);
    expect(existsSync(join(directory, 'empty'))).toBe(true);
    await writeFile(view, join(directory, 'held', 'new'));
    await expect(view.removeDirectory!(join(directory, 'held'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(view.removeDirectory!(join(directory, 'held', 'new'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(view.removeDirectory!(join(directory, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await view.unlink(join(directory, 'held', 'new'));
    await view.removeDirectory!(join(directory, 'held'));
    expect(existsSync(join(directory, 'held'))).toBe(true);
  });

  it('killable: forwards, refuses once writes are refused, ENOTSUP over a file system without it', async () => {
    const inner = new FaultFileSystem(6);
    await inner.mkdir('/root/a');
    await inner.mkdir('/root/b');
    const killable = new KillableFileSystem(inner);
    await killable.removeDirectory('/root/a');
    expect(await inner.exists('/root/a')).toBe(false);
    killable.refuseWrites();
    await expect(killable.removeDirectory('/root/b')).rejects.toMatchObject({ code: LOCK_LOST_CODE });
    expect(await inner.exists('/root/b')).toBe(true);

    const withoutIt: FileSystem = { ...bound(inner), removeDirectory: undefined };
    await expect(new KillableFileSystem(withoutIt).removeDirectory('/root/b')).rejects.toMatchObject({ code: 'ENOTSUP' });
    expect(await inner.exists('/root/b')).toBe(true);
  });
});

/** `fileSystem`'s methods as a plain object. */
function bound(fileSystem: FaultFileSystem): FileSystem {
  return {
    open: (path, mode) => fileSystem.open(path, mode), readFile: (path) => fileSystem.readFile(path), readdir: (dir) => fileSystem.readdir(dir),
    mkdir: (dir) => fileSystem.mkdir(dir), rename: (from, to) => fileSystem.rename(from, to), link: (from, to) => fileSystem.link(from, to),
    unlink: (path) => fileSystem.unlink(path), exists: (path) => fileSystem.exists(path), syncDirectory: (dir) => fileSystem.syncDirectory(dir),
  };
}
