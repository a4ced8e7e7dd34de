/**
 * store.backup() when linking a run fails: a run file gone (ENOENT: background
 * compaction replaced it) restarts the copy from the current manifest state, leaving
 * nothing of the failed attempt; a source that keeps vanishing ends in BackupError
 * 'runs-changed' after BACKUP_ATTEMPTS_MAX attempts and no BACKUP.json; a file
 * system without hard links across the target (EXDEV) gets copies.
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup } from '../src/backup/restore-backup.js';
import { BackupError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { BACKUP_ATTEMPTS_MAX } from '../src/limits.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { scanAll } from './workload.js';

/** Fails chosen links into /backup (counted from 1) with `code`, changing nothing. */
class FailingLinkFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  links = 0;
  constructor(inner: FaultFileSystem, readonly fails: (call: number) => string | undefined) {
    super(inner);
  }
  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
  override async link(existingPath: string, newPath: string): Promise<void> {
    // Only the backup's links count (the directory lock links its own files).
    if (!newPath.startsWith('/backup/')) return this.inner.link(existingPath, newPath);
    const code = this.fails(++this.links);
    if (code !== undefined) throw fileSystemError(code, 'link', existingPath);
    return this.inner.link(existingPath, newPath);
  }
}

const RUNS = 3;

async function storeWithRuns(fails: (call: number) => string | undefined) {
  const fileSystem = new FailingLinkFileSystem(new FaultFileSystem(5), fails);
  const store = await openStore('/db', { fileSystem, checkpointOnClose: false });
  const expected = new Map<string, unknown>();
  for (let run = 0; run < RUNS; run++) {
    for (let index = 0; index < 50; index++) {
      await store.put(`key-${run}-${index}`, run * 100 + index);
      expected.set(`key-${run}-${index}`, run * 100 + index);
    }
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(RUNS);
  return { fileSystem, store, expected };
}

async function restoredData(fileSystem: FaultFileSystem): Promise<Map<string, unknown>> {
  await restoreBackup(fileSystem, '/backup', '/restored');
  const restored = await openStore('/restored', { fileSystem });
  try {
    return await scanAll(restored);
  } finally {
    await restored.close();
  }
}

describe('store.backup when a run vanishes', () => {
  it('restarts from the current state after ENOENT, leaving nothing of the failed attempt', async () => {
    const { fileSystem, store, expected } = await storeWithRuns((call) => (call === 2 ? 'ENOENT' : undefined));
    const result = await store.backup('/backup');
    await store.close();
    // The first attempt linked one run, failed on the second; the retry linked all three.
    expect(fileSystem.links).toBe(2 + RUNS);
    expect(result.linkedFiles).toBe(RUNS);
    expect((await fileSystem.inner.readdir('/backup/runs')).length).toBe(RUNS);
    expect(await restoredData(fileSystem.inner)).toEqual(expected);
  });

  it(`gives up with 'runs-changed' after ${BACKUP_ATTEMPTS_MAX} attempts, without BACKUP.json`, async () => {
    const { fileSystem, store } = await storeWithRuns(() => 'ENOENT');
    const error = await store.backup('/backup').then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).reason).toBe('runs-changed');
    expect(fileSystem.links).toBe(BACKUP_ATTEMPTS_MAX);
    expect(await fileSystem.inner.exists('/backup/BACKUP.json')).toBe(false);
    expect(await store.get('key-0-0')).toBe(0);
    await store.close();
  });

  it('copies the runs when the target is on another file system (EXDEV)', async () => {
    const { fileSystem, store, expected } = await storeWithRuns(() => 'EXDEV');
    const result = await store.backup('/backup');
    await store.close();
    expect(result.linkedFiles).toBe(0);
    expect(result.copiedFiles).toBe(result.files);
    expect(await restoredData(fileSystem.inner)).toEqual(expected);
  });
});
