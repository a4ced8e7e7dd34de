/**
 * What a fast reopen relies on (issue 7, "clean reopen of 10M keys under 50 ms"):
 * - a clean close leaves the manifest as one full-state record once the edit chain
 *   grew past CLOSE_REWRITE_EDITS_MIN, so the next open replays one record;
 * - a read that must open a run starts opening the other runs it will ask (a point
 *   read: the runs whose key span holds the key), and a scan's first cursor starts the
 *   cursors of the other runs its range meets, so their file reads overlap;
 * - nothing is checked less: a damaged run is still a CorruptionError on the read
 *   that needs it, even when its open ahead failed first (a plain get that a newer
 *   run decides does not need it).
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError, StoreFailedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { CLOSE_REWRITE_EDITS_MIN, Manifest } from '../src/manifest/manifest.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { MANIFEST_DIRECTORY, openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

async function freshFileSystem(): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir(STORE_DIRECTORY);
  await fileSystem.syncDirectory('/');
  return fileSystem;
}

async function manifestFiles(fileSystem: FaultFileSystem): Promise<string[]> {
  return (await fileSystem.readdir(MANIFEST_DIRECTORY)).sort();
}

describe('manifest: a clean close rewrites a long edit chain', () => {
  it(`rewrites at close after ${CLOSE_REWRITE_EDITS_MIN} edits: the reopen replays one record, same state`, async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem);
    for (let runId = 1; runId <= CLOSE_REWRITE_EDITS_MIN; runId++) await manifest.apply({ addRuns: [runDescriptor(runId)], flushedVersion: runId });
    await manifest.apply({ removeRunIds: [1, 2] });
    const before = plainState(manifest.state);
    expect(manifest.stats().editsSinceRewrite).toBe(CLOSE_REWRITE_EDITS_MIN + 1);
    const filesBefore = await manifestFiles(fileSystem);
    await manifest.close();
    const filesAfter = await manifestFiles(fileSystem);
    expect(filesAfter).not.toEqual(filesBefore); // a new generation replaced the old one
    expect(filesAfter).toHaveLength(2);
    // Durable as a rewrite must be: survives a crash that drops everything unsynced.
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(plainState(reopened.state)).toEqual(before);
    expect(reopened.stats().editsSinceRewrite).toBe(0);
    await reopened.close();
  });

  it('leaves a short chain alone, and never rewrites with compactChain: false', async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem);
    for (let runId = 1; runId < CLOSE_REWRITE_EDITS_MIN; runId++) await manifest.apply({ addRuns: [runDescriptor(runId)] });
    const files = await manifestFiles(fileSystem);
    await manifest.close();
    expect(await manifestFiles(fileSystem)).toEqual(files);
    const reopened = await openManifest(fileSystem, { create: false });
    expect(reopened.stats().editsSinceRewrite).toBe(CLOSE_REWRITE_EDITS_MIN - 1);
    await reopened.apply({ flushedVersion: 5 });
    await reopened.close({ compactChain: false });
    expect(await manifestFiles(fileSystem)).toEqual(files);
  });

  it('a failed rewrite at close is fail-stop, and the old chain still opens', async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem);
    for (let runId = 1; runId <= CLOSE_REWRITE_EDITS_MIN; runId++) await manifest.apply({ addRuns: [runDescriptor(runId)] });
    const before = plainState(manifest.state);
    fileSystem.injectFault({ operation: 'datasync', error: 'EIO' });
    await expect(manifest.close()).rejects.toThrow(StoreFailedError);
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(plainState(reopened.state)).toEqual(before);
    await reopened.close();
  });

  it('a store closed cleanly after many flushes reopens from one manifest record', async () => {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore('/db', { fileSystem });
    const rounds = 20; // a literal: the chain must be long whatever the constant says
    expect(rounds).toBeGreaterThan(CLOSE_REWRITE_EDITS_MIN);
    for (let round = 0; round < rounds; round++) {
      await store.put(`key-${round}`, round);
      await store.checkpoint();
    }
    await store.close();
    const crashed = fileSystem.crash('drop-unsynced');
    const manifest = await Manifest.open(crashed, '/db', await loadHash64(), { create: false });
    expect(manifest.stats().editsSinceRewrite).toBe(0);
    await manifest.close();
    const reopened = await openStore('/db', { fileSystem: crashed });
    for (let round = 0; round < rounds; round++) expect(await reopened.get(`key-${round}`)).toBe(round);
    await reopened.close();
  });
});

/** Wraps `fileSystem` so run-file opens are counted, and how many were in flight at once. */
function watchRunOpens(fileSystem: FaultFileSystem): { opened: string[]; inFlightMax: number } {
  const watch = { opened: [] as string[], inFlightMax: 0 };
  let inFlight = 0;
  const open = fileSystem.open.bind(fileSystem);
  fileSystem.open = async (path: string, mode: OpenMode): Promise<FileHandle> => {
    if (!path.includes('/runs/')) return open(path, mode);
    watch.opened.push(path);
    inFlight++;
    watch.inFlightMax = Math.max(watch.inFlightMax, inFlight);
    try {
      return await open(path, mode);
    } finally {
      inFlight--;
    }
  };
  return watch;
}

/** A store of `runs` runs, each holding every key of `keys` (so every run's span holds every key). */
async function storeOfRuns(runs: number, keys: readonly string[]): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(5);
  const store = await openStore('/db', { fileSystem });
  for (let round = 0; round < runs; round++) {
    await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: `${key}:${round}` })));
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(runs);
  await store.close();
  return fileSystem.crash('keep-all');
}

const KEYS = ['a', 'm', 'z'];

describe('opening runs ahead of a read', () => {
  it('a point read opens the runs it asks together, not one after another', async () => {
    const fileSystem = await storeOfRuns(3, KEYS);
    const watch = watchRunOpens(fileSystem);
    const store = await openStore('/db', { fileSystem });
    expect(watch.opened).toEqual([]); // open itself reads no run file
    expect(await store.get('m')).toBe('m:2');
    expect(new Set(watch.opened).size).toBe(3);
    expect(watch.inFlightMax).toBeGreaterThan(1);
    await store.close();
  });

  it('a scan starts the cursors of the runs its range meets together, with the same answer', async () => {
    const fileSystem = await storeOfRuns(3, KEYS);
    const watch = watchRunOpens(fileSystem);
    const store = await openStore('/db', { fileSystem });
    const seen: Array<[string, unknown]> = [];
    for await (const [key, value] of store.scan({ gte: 'b' })) seen.push([String(key), value]);
    expect(seen).toEqual([['m', 'm:2'], ['z', 'z:2']]);
    expect(new Set(watch.opened).size).toBe(3);
    expect(watch.inFlightMax).toBeGreaterThan(1);
    // A second scan of another range, and a reverse one, read right after cursors ahead were started.
    const reversed: string[] = [];
    for await (const [key] of store.scan({ lt: 'n', reverse: true })) reversed.push(String(key));
    expect(reversed).toEqual(['m', 'a']);
    await store.close();
  });

  it('a damaged run is still a CorruptionError on the read that needs it, though its open ahead failed first', async () => {
    const fileSystem = await storeOfRuns(3, KEYS);
    const runFiles = (await fileSystem.readdir('/db/runs')).sort();
    expect(runFiles).toHaveLength(3);
    // The oldest run, asked last by a point read (newest first): its open ahead fails first.
    const damaged = `/db/runs/${runFiles[0]}`;
    const handle = await fileSystem.open(damaged, 'readWrite');
    await handle.truncate((await handle.size()) - 4096);
    await handle.close();
    const store = await openStore('/db', { fileSystem });
    // The newest run decides a plain get of a key first read: the older runs, the damaged
    // one among them, cannot change its answer and are not asked (read-view.ts #slotFromRuns).
    expect(await store.get('m')).toBe('m:2');
    // A read as of the first round's version needs the damaged run.
    await expect(store.get('z', { asOf: 1 })).rejects.toThrow(CorruptionError);
    await expect(store.get('z', { asOf: 1 })).rejects.toThrow(CorruptionError); // not remembered as opened
    // The key's second miss stops at the same run too (the point cache keeps an incomplete point)...
    expect(await store.get('m')).toBe('m:2');
    // ...and a read its newest entry does not answer reads every run: the damage is reported, not skipped.
    await expect(store.get('m', { asOf: 1 })).rejects.toThrow(CorruptionError);
    await store.close().catch(() => undefined);
  });
});
