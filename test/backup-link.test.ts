/**
 * store.backup() hard-links the runs by default (issue 11: immutable runs are
 * shared, not copied) and falls back to copying when the file system refuses a
 * link (EPERM: a file system or policy without hard links; EXDEV is covered in
 * backup-races.test.ts). On a real directory a linked run is the same inode as
 * the store's file; `link: false` gives a different one.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreBackup } from '../src/backup/restore-backup.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { scanAll } from './workload.js';

afterEach(() => removeTemporaryDirectories());

/** Refuses every link into /backup with EPERM. */
class NoLinkFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  refusedLinks = 0;
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override async link(existingPath: string, newPath: string): Promise<void> {
    // The directory lock links its own files: only the backup's links are refused.
    if (!newPath.startsWith('/backup/')) return this.inner.link(existingPath, newPath);
    this.refusedLinks++;
    throw fileSystemError('EPERM', 'link', existingPath);
  }
}

async function writeRuns(store: Store, runs: number): Promise<Map<string, unknown>> {
  const expected = new Map<string, unknown>();
  for (let run = 0; run < runs; run++) {
    for (let index = 0; index < 40; index++) {
      await store.put(`key-${run}-${index}`, { run, index });
      expected.set(`key-${run}-${index}`, { run, index });
    }
    await store.checkpoint();
  }
  return expected;
}

describe('store.backup links runs', () => {
  it('hard-links every run by default: the backup file is the store file (same inode)', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { checkpointOnClose: false });
    await writeRuns(store, 2);
    const runs = store.stats().storage.runs;
    expect(runs).toBeGreaterThanOrEqual(2);
    const target = join(temporaryDirectory(), 'backup');
    const linked = await store.backup(target);
    expect(linked.linkedFiles).toBe(runs);
    const copiedTarget = join(temporaryDirectory(), 'copied');
    const copied = await store.backup(copiedTarget, { link: false });
    expect(copied.linkedFiles).toBe(0);
    await store.close();
    const names = readdirSync(join(target, 'runs'));
    expect(names.length).toBe(runs);
    for (const name of names) {
      const original = statSync(join(directory, 'runs', name));
      expect(statSync(join(target, 'runs', name)).ino).toBe(original.ino);
      expect(statSync(join(copiedTarget, 'runs', name)).ino).not.toBe(original.ino);
    }
  });

  it('copies the runs when the file system refuses links (EPERM), and the backup restores', async () => {
    const fileSystem = new NoLinkFileSystem(new FaultFileSystem(7));
    const store = await openStore('/db', { fileSystem, checkpointOnClose: false });
    const expected = await writeRuns(store, 2);
    const result = await store.backup('/backup');
    await store.close();
    expect(fileSystem.refusedLinks).toBeGreaterThanOrEqual(1);
    expect(result.linkedFiles).toBe(0);
    expect(result.copiedFiles).toBe(result.files);
    await restoreBackup(fileSystem.inner, '/backup', '/restored');
    const restored = await openStore('/restored', { fileSystem: fileSystem.inner });
    expect(await scanAll(restored)).toEqual(expected);
    await restored.close();
  });
});
