/**
 * One damaged 8-byte spot anywhere in either copy: open returns the exact state and
 * restores both copies. The same record damaged in both copies: CorruptionError naming
 * the file and offset, never an older state.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { ManifestState } from '../src/manifest/manifest-state.js';
import { MANIFEST_DIRECTORY, openManifest, plainState, runDescriptor, STORE_DIRECTORY } from './manifest-helpers.js';

const SPOT_BYTES = 8;
const COPY_A = `${MANIFEST_DIRECTORY}/MANIFEST-0000000001.a`;
const COPY_B = `${MANIFEST_DIRECTORY}/MANIFEST-0000000001.b`;

/** A small manifest: creation plus four edits, no rewrite. */
async function smallManifest(): Promise<{ fileSystem: FaultFileSystem; expected: ManifestState; sizeBytes: number }> {
  const fileSystem = new FaultFileSystem(3);
  await fileSystem.mkdir(STORE_DIRECTORY);
  await fileSystem.syncDirectory('/');
  const manifest = await openManifest(fileSystem, { initial: { versionHighWater: 4 } });
  await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())], flushedVersion: 10 });
  await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())], flushedVersion: 20, versionHighWater: 25 });
  await manifest.apply({ removeRunIds: [1], walStartSegment: 2 });
  await manifest.apply({ addRuns: [runDescriptor(manifest.allocateRunId())] });
  const expected = plainState(manifest.state);
  const sizeBytes = manifest.stats().fileBytes;
  await manifest.close();
  return { fileSystem, expected, sizeBytes };
}

/** Overwrites up to 8 bytes at `offset` with their complement (every byte changes). */
async function damage(fileSystem: FaultFileSystem, path: string, offset: number, sizeBytes: number): Promise<void> {
  const handle = await fileSystem.open(path, 'readWrite');
  const spot = new Uint8Array(Math.min(SPOT_BYTES, sizeBytes - offset));
  await handle.read(spot, 0, spot.length, offset);
  await handle.write(spot.map((byte) => byte ^ 0xff), offset);
  await handle.datasync();
  await handle.close();
}

async function copiesOf(fileSystem: FaultFileSystem): Promise<Uint8Array[]> {
  const names = (await fileSystem.readdir(MANIFEST_DIRECTORY)).sort();
  expect(names).toHaveLength(2);
  return Promise.all(names.map((name) => fileSystem.readFile(`${MANIFEST_DIRECTORY}/${name}`)));
}

describe('manifest: a single damaged spot', () => {
  it('opens with the exact state for every 8-byte-aligned spot of each copy, and restores redundancy', async () => {
    const { sizeBytes } = await smallManifest();
    expect(sizeBytes).toBeGreaterThan(200);
    const failures: string[] = [];
    for (const path of [COPY_A, COPY_B]) {
      for (let offset = 0; offset < sizeBytes; offset += SPOT_BYTES) {
        const { fileSystem, expected } = await smallManifest();
        await damage(fileSystem, path, offset, sizeBytes);
        try {
          const reopened = await openManifest(fileSystem, { create: false });
          if (JSON.stringify(plainState(reopened.state)) !== JSON.stringify(expected)) failures.push(`${path}@${offset}: state differs`);
          if (reopened.recovery.repaired.length === 0) failures.push(`${path}@${offset}: damage not reported`);
          if (reopened.stats().repairedCopies !== 1) failures.push(`${path}@${offset}: repairedCopies ${reopened.stats().repairedCopies}`);
          await reopened.apply({ flushedVersion: 30 });
          await reopened.close();
          const [copyA, copyB] = await copiesOf(fileSystem);
          if (copyA === undefined || copyB === undefined || !Buffer.from(copyA).equals(copyB)) failures.push(`${path}@${offset}: copies differ`);
          const clean = await openManifest(fileSystem.crash('drop-unsynced'), { create: false });
          if (clean.recovery.repaired.length !== 0) failures.push(`${path}@${offset}: still damaged after the repair`);
          if (clean.state.flushedVersion !== 30) failures.push(`${path}@${offset}: edit after the repair lost`);
        } catch (error) {
          failures.push(`${path}@${offset}: ${String(error)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('repairs damage to different records of the two copies', async () => {
    const { fileSystem, expected, sizeBytes } = await smallManifest();
    await damage(fileSystem, COPY_A, 8, sizeBytes);
    await damage(fileSystem, COPY_B, sizeBytes - 8, sizeBytes);
    const reopened = await openManifest(fileSystem, { create: false });
    expect(plainState(reopened.state)).toEqual(expected);
    expect(reopened.stats().repairedCopies).toBe(2);
  });

  it('refuses the same record damaged in both copies, naming file and offset', async () => {
    for (const offset of [0, 64, 160]) {
      const { fileSystem, sizeBytes } = await smallManifest();
      await damage(fileSystem, COPY_A, offset, sizeBytes);
      await damage(fileSystem, COPY_B, offset, sizeBytes);
      const refused = await openManifest(fileSystem, { create: false }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(CorruptionError);
      const corruption = refused as CorruptionError;
      expect(corruption.file).toBe(COPY_A);
      expect(corruption.offset).toBeLessThanOrEqual(offset);
      expect(corruption.message).toContain('both copies');
    }
  });

  it('refuses the last record damaged in both copies (both hold it whole: not a torn tail)', async () => {
    const { fileSystem, sizeBytes } = await smallManifest();
    await damage(fileSystem, COPY_A, sizeBytes - 8, sizeBytes);
    await damage(fileSystem, COPY_B, sizeBytes - 8, sizeBytes);
    await expect(openManifest(fileSystem, { create: false })).rejects.toThrow(CorruptionError);
  });
});
