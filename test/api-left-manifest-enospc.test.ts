/**
 * ENOSPC in the manifest. Issue 7 asks, for ENOSPC during a flush: "the flush is retried
 * later and commits continue until the stall bound, then DiskFullError; nothing
 * acknowledged is lost". The run write did that; the manifest edit after it did not:
 * any failed manifest write failed the store (StoreFailedError for every later write),
 * also ENOSPC that struck before a byte of the edit could be durable.
 *
 * Now ENOSPC before any byte of the edit can be durable (an append's write to copy a; a
 * new generation's open, write or rename of copy a's temporary file) withdraws the edit:
 * apply() rejects with DiskFullError, the manifest is as before it and takes the next
 * edit (the same sequence number: a chain's are consecutive), and the flusher retries as
 * after a full disk in its run. Fail-stop stays where the edit may be durable: ENOSPC on
 * copy b once copy a holds the edit (datasynced) or carries its final name (a reopen may
 * replay the edit, so whether the run it names is listed is unknown), and every failed
 * sync (never retried). Checked on the fault-injecting file system, with a crash after.
 */
import { describe, expect, it } from 'vitest';
import { DiskFullError, StoreFailedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

// A copy's handle keeps the temporary name it was created under (renamed after): both match.
const COPY_A = /\/store\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/;
const COPY_B = /\/store\/manifest\/MANIFEST-\d+\.b(\.tmp)?$/;
const TEMPORARY_A = /\/store\/manifest\/MANIFEST-\d+\.a\.tmp$/;
const TEMPORARY_B = /\/store\/manifest\/MANIFEST-\d+\.b\.tmp$/;

const addRun = (runId: number) => ({ addRuns: [runDescriptor(runId)], nextRunId: runId + 1 });

/** A fault-injecting file system whose store directory is durable (so a crash keeps it). */
async function storeFileSystem(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(STORE_DIRECTORY);
  await fileSystem.syncDirectory('/');
  return fileSystem;
}

describe('a manifest edit that finds the disk full before any byte of it is durable', () => {
  it('an append (copy a): DiskFullError, nothing changed, the next edit is written and read back after a crash', async () => {
    const fileSystem = await storeFileSystem(81);
    const manifest = await openManifest(fileSystem);
    await manifest.apply(addRun(1));
    const before = plainState(manifest.state);
    const full = fileSystem.injectFault({ operation: 'write', path: COPY_A, error: 'ENOSPC' });
    await expect(manifest.apply(addRun(2))).rejects.toBeInstanceOf(DiskFullError);
    expect(full.triggeredCount).toBe(1);
    expect(plainState(manifest.state)).toEqual(before);
    await manifest.apply(addRun(3));
    expect(manifest.state.runs.map((run) => run.runId)).toEqual([1, 3]);
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(reopened.state.runs.map((run) => run.runId)).toEqual([1, 3]);
    await reopened.close();
  });

  it('a new generation (copy a\'s temporary file): DiskFullError, its temporary file removed, the next edit rewrites', async () => {
    const fileSystem = await storeFileSystem(82);
    const manifest = await openManifest(fileSystem, { editsMax: 1 });
    await manifest.apply(addRun(1)); // the chain is at its bound: the next edit rewrites
    const full = fileSystem.injectFault({ operation: 'write', path: TEMPORARY_A, error: 'ENOSPC' });
    await expect(manifest.apply(addRun(2))).rejects.toBeInstanceOf(DiskFullError);
    expect(full.triggeredCount).toBe(1);
    expect(fileSystem.listPaths().filter((path) => path.endsWith('.tmp'))).toEqual([]);
    expect(manifest.state.runs.map((run) => run.runId)).toEqual([1]);
    const rewritesBefore = manifest.stats().rewrites;
    await manifest.apply(addRun(3));
    expect(manifest.stats().rewrites).toBe(rewritesBefore + 1);
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(reopened.state.runs.map((run) => run.runId)).toEqual([1, 3]);
    await reopened.close();
  });

  it('a close() rewrite that finds the disk full is skipped: close resolves, the chain on disk is whole', async () => {
    const fileSystem = await storeFileSystem(83);
    const manifest = await openManifest(fileSystem);
    for (let runId = 1; runId <= 16; runId++) await manifest.apply(addRun(runId)); // CLOSE_REWRITE_EDITS_MIN edits
    fileSystem.injectFault({ operation: 'write', path: TEMPORARY_A, error: 'ENOSPC' });
    await manifest.close();
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(reopened.state.runs).toHaveLength(16);
    await reopened.close();
  });
});

describe('a manifest edit that may be durable when the disk fills stays fail-stop', () => {
  it.each([
    ['an append\'s copy b (copy a holds the edit)', COPY_B, 100],
    ['a new generation\'s copy b (copy a has its final name)', TEMPORARY_B, 1],
  ])('%s: StoreFailedError, then every later edit too', async (_name, path, editsMax) => {
    const fileSystem = await storeFileSystem(84);
    const manifest = await openManifest(fileSystem, { editsMax });
    await manifest.apply(addRun(1));
    fileSystem.injectFault({ operation: 'write', path, error: 'ENOSPC' });
    await expect(manifest.apply(addRun(2))).rejects.toBeInstanceOf(StoreFailedError);
    await expect(manifest.apply(addRun(3))).rejects.toBeInstanceOf(StoreFailedError);
    await manifest.close().catch(() => undefined);
    // A reopen may or may not replay the edit (why it is not retried); either is whole.
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect([[1], [1, 2]]).toContainEqual(reopened.state.runs.map((run) => run.runId));
    await reopened.close();
  });
});

describe('ENOSPC on the manifest edit of a flush', () => {
  it('the flush is retried later, commits go on, and nothing acknowledged is lost after a crash', async () => {
    const fileSystem = new FaultFileSystem(85);
    const store = await openStore('/db', { fileSystem });
    const written = new Map<string, number>();
    for (let index = 0; index < 50; index++) {
      await store.put(`k${index}`, index);
      written.set(`k${index}`, index);
    }
    const full = fileSystem.injectFault({ operation: 'write', path: /\/db\/manifest\/MANIFEST-\d+\.a(\.tmp)?$/, error: 'ENOSPC' });
    await expect(store.checkpoint()).rejects.toBeInstanceOf(DiskFullError);
    expect(full.triggeredCount).toBe(1);
    expect(store.stats().storage.flushes).toBe(0);
    // The run the edit would have listed is gone: listed nowhere, it held space the retry needs.
    expect(fileSystem.listPaths().filter((path) => path.endsWith('.run'))).toEqual([]);
    // Not failed: commits go on (the fault struck once: space is back).
    for (let index = 50; index < 60; index++) {
      await store.put(`k${index}`, index);
      written.set(`k${index}`, index);
    }
    const result = await store.checkpoint();
    expect(result.flushedVersion).toBe(store.version);
    expect(store.stats().storage.flushes).toBeGreaterThan(0);
    store[abandonStore]();
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced') });
    for (const [name, value] of written) expect(await reopened.get(name)).toBe(value);
    await reopened.close();
  });
});
