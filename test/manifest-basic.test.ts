/**
 * Manifest basics: create, apply, reopen, rewrite at the bound, run ids, refused
 * edits, fail-stop after a failed datasync, the size bound, a missing manifest.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError, StoreClosedError, StoreFailedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MANIFEST_BYTES_MAX } from '../src/limits.js';
import { Manifest } from '../src/manifest/manifest.js';
import { MANIFEST_DIRECTORY, openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

async function freshFileSystem(): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir(STORE_DIRECTORY);
  await fileSystem.syncDirectory('/');
  return fileSystem;
}

describe('manifest: create, apply, reopen', () => {
  it('creates with the initial state, persists edits, and reopens to the same state', async () => {
    const fileSystem = await freshFileSystem();
    expect(await Manifest.exists(fileSystem, STORE_DIRECTORY)).toBe(false);
    const manifest = await openManifest(fileSystem, { initial: { flushedVersion: 5, versionHighWater: 9 } });
    expect(await Manifest.exists(fileSystem, STORE_DIRECTORY)).toBe(true);
    expect(manifest.state).toEqual({ runs: [], nextRunId: 1, flushedVersion: 5, walStartSegment: 1, versionHighWater: 9 });
    const first = manifest.allocateRunId();
    const second = manifest.allocateRunId();
    expect([first, second]).toEqual([1, 2]);
    await manifest.apply({ addRuns: [runDescriptor(first)], flushedVersion: 20, versionHighWater: 20 });
    await manifest.apply({ addRuns: [runDescriptor(second)], walStartSegment: 3 });
    await manifest.apply({ removeRunIds: [first] });
    const expected = {
      runs: [runDescriptor(second)],
      nextRunId: 3,
      flushedVersion: 20,
      walStartSegment: 3,
      versionHighWater: 20,
    };
    expect(plainState(manifest.state)).toEqual(expected);
    expect(Object.isFrozen(manifest.state.runs)).toBe(true);
    await manifest.close();
    await expect(manifest.apply({ flushedVersion: 30 })).rejects.toThrow(StoreClosedError);

    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
    expect(plainState(reopened.state)).toEqual(expected);
    expect(reopened.recovery).toEqual({ repaired: [], truncatedTail: false });
    expect(reopened.stats()).toMatchObject({ editsSinceRewrite: 3, rewrites: 0, repairedCopies: 0 });
    await reopened.close();
  });

  it('rewrites the whole manifest after editsMax edits and restarts the chain', async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem, { editsMax: 3 });
    expect(manifest.stats().rewrites).toBe(1); // the creation
    for (let index = 0; index < 7; index += 1) {
      await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())] });
    }
    // edits 1-3 appended, edit 4 rewrites, 5-7 appended
    expect(manifest.stats()).toMatchObject({ editsSinceRewrite: 3, rewrites: 2 });
    const names = (await fileSystem.readdir(MANIFEST_DIRECTORY)).sort();
    expect(names).toEqual(['MANIFEST-0000000002.a', 'MANIFEST-0000000002.b']);
    const expected = plainState(manifest.state);
    expect(expected.runs.map((run) => run.runId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'), { editsMax: 3 });
    expect(plainState(reopened.state)).toEqual(expected);
    expect(reopened.stats().editsSinceRewrite).toBe(3);
  });

  it('persists handed-out run ids with the next edit, and never hands out a recorded id again', async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem);
    const ids = [manifest.allocateRunId(), manifest.allocateRunId(), manifest.allocateRunId()];
    await manifest.apply({ flushedVersion: 1 }); // carries nextRunId 4 although it names no run
    manifest.allocateRunId(); // 4: handed out after the last durable edit
    const reopened = await openManifest(fileSystem.crash('drop-unsynced'));
    expect(ids).toEqual([1, 2, 3]);
    expect(reopened.state.nextRunId).toBe(4);
    reopened.raiseNextRunId(5); // the store found run file 4 on disk
    expect(reopened.allocateRunId()).toBe(5);
    await reopened.apply({ addRuns: [runDescriptor(9)] }); // an id never allocated raises the counter past it
    expect(reopened.state.nextRunId).toBe(10);
  });

  it('refuses edits that do not apply, without writing anything or failing', async () => {
    const fileSystem = await freshFileSystem();
    const manifest = await openManifest(fileSystem, { initial: { flushedVersion: 10 } });
    const bytesBefore = manifest.stats().fileBytes;
    await expect(manifest.apply({ removeRunIds: [1] })).rejects.toThrow(RangeError);
    await expect(manifest.apply({ flushedVersion: 9 })).rejects.toThrow(/would decrease/);
    await expect(manifest.apply({ addRuns: [{ ...runDescriptor(1), level: -1 }] })).rejects.toThrow(TypeError);
    await manifest.apply({ addRuns: [runDescriptor(1)] });
    await expect(manifest.apply({ addRuns: [runDescriptor(1)] })).rejects.toThrow(/already used/);
    expect(manifest.stats().editsSinceRewrite).toBe(1);
    expect(manifest.stats().fileBytes).toBeGreaterThan(bytesBefore);
  });

  it('fails stop after a failed datasync: the edit rejects, later edits reject, reopen has either state', async () => {
    for (const copy of ['a', 'b']) {
      const path = new RegExp(`MANIFEST-\\d+\\.${copy}`);
      const fileSystem = await freshFileSystem();
      const manifest = await openManifest(fileSystem);
      await manifest.apply({ flushedVersion: 1 });
      const before = plainState(manifest.state);
      fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path });
      await expect(manifest.apply({ flushedVersion: 2 })).rejects.toThrow(StoreFailedError);
      expect(plainState(manifest.state)).toEqual(before);
      await expect(manifest.apply({ flushedVersion: 3 })).rejects.toThrow(StoreFailedError);
      const reopened = await openManifest(fileSystem.crash('drop-unsynced'));
      // Copy a's fsync failed: its write was never durable, the edit is gone. Copy b's
      // failed: copy a holds the edit whole, so the in-flight edit may survive.
      expect([1, 2]).toContain(reopened.state.flushedVersion);
      expect(reopened.state.flushedVersion).toBe(copy === 'a' ? 1 : 2);
      await reopened.apply({ flushedVersion: 4 });
    }
  });

  it('refuses a missing manifest without create, and one over MANIFEST_BYTES_MAX', async () => {
    const fileSystem = await freshFileSystem();
    const hash = await loadHash64();
    await expect(Manifest.open(fileSystem, STORE_DIRECTORY, hash, { create: false })).rejects.toThrow(CorruptionError);
    const manifest = await openManifest(fileSystem);
    await manifest.close();
    const handle = await fileSystem.open(`${MANIFEST_DIRECTORY}/MANIFEST-0000000001.a`, 'readWrite');
    await handle.truncate(MANIFEST_BYTES_MAX + 1);
    await handle.close();
    const refused = await Manifest.open(fileSystem, STORE_DIRECTORY, hash, { create: false }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect((refused as CorruptionError).file).toBe(`${MANIFEST_DIRECTORY}/MANIFEST-0000000001.a`);
  });
});
