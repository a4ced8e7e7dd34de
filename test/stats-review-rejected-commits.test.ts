/**
 * stats().rejectedCommits counts commits refused with none of their bytes written
 * (disk full, or the store failing while they were queued): a caller may retry each
 * of them. A commit whose record was written when the store failed got
 * CommitOutcomeUnknownError instead: it may be durable (a reopen replays it when its
 * bytes reached the disk), so it is not "refused" but counted apart, in
 * outcomeUnknownCommits. Counted here against what each call was told and what a
 * reopen finds.
 */
import { describe, expect, it } from 'vitest';
import { CommitOutcomeUnknownError, openStore, StoreFailedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError } from '../src/fs/file-system.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const errorOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('stats() counts refused commits and commits of unknown outcome apart', () => {
  it('a WAL fdatasync fails: the written commit is of unknown outcome (and a reopen has it), the queued one refused', async () => {
    const fileSystem = new GatedFileSystem(new FaultFileSystem(7));
    const store = await openStore('/db', { fileSystem, checkpointOnClose: false });
    await store.put('before', 0);
    fileSystem.armed = true;
    const written = errorOf(store.put('written', 1));
    const held = await fileSystem.nextHeld();
    const queued = errorOf(store.put('queued', 2));
    await turns(5);
    fileSystem.armed = false;
    held.fail(fileSystemError('EIO', 'fdatasync', held.path));
    expect(await written).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(await queued).toBeInstanceOf(StoreFailedError);

    const stats = store.stats();
    expect(stats.failed).toBe(true);
    expect(stats.commits).toBe(1);
    expect(stats.rejectedCommits).toBe(1);
    expect(stats.sinceOpen.rejectedCommits).toBe(1);
    expect(stats.sinceOpen.outcomeUnknownCommits).toBe(1);
    // A write made once the store has failed is refused at once: `failed` says so, it is not counted.
    expect(await errorOf(store.put('after', 3))).toBeInstanceOf(StoreFailedError);
    expect(store.stats().rejectedCommits).toBe(1);
    await store.close().catch(() => undefined);

    // The record of unknown outcome reached the disk: the reopen replays it; the refused one is absent.
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner });
    try {
      expect(await reopened.get('written')).toBe(1);
      expect(await reopened.get('queued')).toBeUndefined();
      expect(reopened.stats().sinceOpen.outcomeUnknownCommits).toBe(0);
      expect(reopened.stats().rejectedCommits).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it('disk full: the refused commit is counted in rejectedCommits, none of unknown outcome, the store goes on', async () => {
    const fileSystem = new FaultFileSystem(8);
    const store = await openStore('/db', { fileSystem });
    try {
      await store.put('before', 0);
      fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /\/wal\// });
      expect(await errorOf(store.put('full', 1))).toMatchObject({ code: 'LADYBUG_DISK_FULL' });
      const stats = store.stats();
      expect(stats.failed).toBe(false);
      expect(stats.rejectedCommits).toBe(1);
      expect(stats.sinceOpen.outcomeUnknownCommits).toBe(0);
      await store.put('after', 2);
      expect(store.stats().commits).toBe(2);
    } finally {
      await store.close();
    }
  });
});
