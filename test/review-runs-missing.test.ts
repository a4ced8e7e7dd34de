/**
 * Review of a run file or manifest copy that is missing or truncated: the store opens
 * or not, but every read gives exactly the model's answer or CorruptionError naming
 * the file (never an I/O error, never a missing key); `verify` reports the run as a
 * problem naming it instead of failing with an I/O error; scrub names it unrecoverable;
 * compaction fails with CorruptionError. One manifest copy missing: every read exact.
 * Store: test/review-runs-helpers.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { buildStore, fileName, fileSystemOf, openAndRead, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

async function without(path: string) {
  const fileSystem = await fileSystemOf(built.image);
  await fileSystem.unlink(path);
  await fileSystem.syncDirectory(path.slice(0, path.lastIndexOf('/')));
  return fileSystem;
}

async function truncated(path: string, sizeBytes: number) {
  const fileSystem = await fileSystemOf(built.image);
  const handle = await fileSystem.open(path, 'readWrite');
  await handle.truncate(sizeBytes);
  await handle.datasync();
  await handle.close();
  return fileSystem;
}

describe('a run file the manifest lists is missing', () => {
  it('reads: CorruptionError naming the run file, not an I/O error', async () => {
    for (const file of built.runFiles) {
      const outcome = await openAndRead(await without(file), built);
      expect(outcome.kind, `${file}: ${outcome.kind === 'wrong' ? outcome.message : ''}`).toBe('corruption');
      if (outcome.kind === 'corruption') expect(outcome.error.file).toContain(fileName(file));
    }
  });

  it('verify reports it as a problem naming the file; scrub names it unrecoverable; compaction fails with CorruptionError', async () => {
    const file = built.runFiles[1] as string;
    const report = await verifyStore(STORE, { fileSystem: await without(file) });
    expect(report.ok).toBe(false);
    expect(report.runs.problems.map((problem) => problem.file)).toContain(file);

    const fileSystem = await without(file);
    const store = await openStore(STORE, { fileSystem, checkpointOnClose: false });
    const scrubbed = await store.scrub();
    expect(scrubbed.unrecoverable.map((location) => location.file)).toContain(file);
    const compacted = await store.compact().then(() => undefined, (error: unknown) => error);
    await store.close();
    expect(compacted).toBeInstanceOf(CorruptionError);
    expect((compacted as CorruptionError).file).toContain(fileName(file));
  });
});

describe('a truncated run file', () => {
  it('by a page, a byte, or to one page: CorruptionError naming it', async () => {
    for (const file of built.runFiles) {
      const size = (built.image.get(file) as Uint8Array).length;
      for (const sizeBytes of [4096, size - 4096, size - 1]) {
        const outcome = await openAndRead(await truncated(file, sizeBytes), built);
        expect(outcome.kind, `${file} to ${sizeBytes}`).toBe('corruption');
        if (outcome.kind === 'corruption') expect(outcome.error.file).toContain(fileName(file));
      }
    }
  });
});

describe('manifest copies missing or truncated', () => {
  it('one copy missing or truncated anywhere: every read exact', async () => {
    for (const copy of built.manifestFiles) {
      expect(await openAndRead(await without(copy), built), copy).toEqual({ kind: 'exact' });
      const size = (built.image.get(copy) as Uint8Array).length;
      for (const sizeBytes of [0, 23, 24, Math.floor(size / 2), size - 1]) {
        expect(await openAndRead(await truncated(copy, sizeBytes), built), `${copy} to ${sizeBytes}`).toEqual({ kind: 'exact' });
      }
    }
  });

  it('both copies truncated at the same point inside a record: CorruptionError naming copy a', async () => {
    const size = (built.image.get(built.manifestFiles[0] as string) as Uint8Array).length;
    for (const sizeBytes of [0, 23, 100, size - 1]) {
      const fileSystem = await fileSystemOf(built.image);
      for (const copy of built.manifestFiles) {
        const handle = await fileSystem.open(copy, 'readWrite');
        await handle.truncate(sizeBytes);
        await handle.datasync();
        await handle.close();
      }
      const outcome = await openAndRead(fileSystem, built);
      expect(outcome.kind, `to ${sizeBytes}`).toBe('corruption');
      if (outcome.kind === 'corruption') expect(outcome.error.file).toMatch(/MANIFEST-\d+\.a$/);
    }
  });
});
