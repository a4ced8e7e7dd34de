/**
 * FileSystem#removeDirectory (optional) through the file systems that wrap another:
 * the tests' ForwardingFileSystem (test/support/file-system-wrappers.ts, the base of
 * most test wrappers) and the crash harness's SlowSyncFileSystem did not forward it,
 * so a backup that failed through one of them removed its files but left its empty
 * directories (backup-undo.ts), and a retry or a check of "nothing left" saw them.
 * Now each forwards it when the inner file system has it, and has none when it has none.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { SlowSyncFileSystem } from '../src/harness/slow-sync-file-system.js';
import { openStore } from '../src/index.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';

/** Every path under `prefix`, directories included. */
async function tree(fileSystem: FileSystem, prefix: string): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    const names = await fileSystem.readdir(directory).then((found) => found, () => undefined);
    for (const name of (names ?? []).sort()) {
      paths.push(`${directory}/${name}`);
      await walk(`${directory}/${name}`);
    }
  };
  await walk(prefix);
  return paths;
}

const WRAPPERS: { name: string; wrap: (inner: FaultFileSystem) => FileSystem }[] = [
  { name: 'ForwardingFileSystem (NoReadSyncFileSystem)', wrap: (inner) => new NoReadSyncFileSystem(inner) },
  { name: 'SlowSyncFileSystem', wrap: (inner) => new SlowSyncFileSystem(inner, 0) },
];

describe('removeDirectory through a wrapping file system', () => {
  for (const { name, wrap } of WRAPPERS) {
    it(`${name}: forwarded; a failed backup through it leaves no directory`, async () => {
      const inner = new FaultFileSystem(21);
      const fileSystem = wrap(inner);
      await inner.mkdir('/root/empty');
      expect(typeof fileSystem.removeDirectory).toBe('function');
      await fileSystem.removeDirectory!('/root/empty');
      expect(await inner.exists('/root/empty')).toBe(false);

      const store = await openStore('/db', { fileSystem });
      for (let index = 0; index < 100; index++) await store.put(`k${index}`, { index });
      await inner.mkdir('/backups');
      const injected = inner.injectFault({ operation: 'datasync', error: 'EIO', path: '/backups/new/deep/target/BACKUP.json.tmp' });
      await expect(store.backup('/backups/new/deep/target')).rejects.toThrow(/EIO/);
      expect(injected.triggeredCount).toBe(1);
      expect(await tree(inner, '/backups')).toEqual([]);
      await store.close();
    });
  }

  it('ForwardingFileSystem over a file system without it has none', () => {
    const inner = new FaultFileSystem(22);
    const withoutIt: FileSystem = {
      open: (path, mode) => inner.open(path, mode), readFile: (path) => inner.readFile(path), readdir: (dir) => inner.readdir(dir),
      mkdir: (dir) => inner.mkdir(dir), rename: (from, to) => inner.rename(from, to), link: (from, to) => inner.link(from, to),
      unlink: (path) => inner.unlink(path), exists: (path) => inner.exists(path), syncDirectory: (dir) => inner.syncDirectory(dir),
    };
    expect(new NoReadSyncFileSystem(withoutIt).removeDirectory).toBeUndefined();
  });
});
