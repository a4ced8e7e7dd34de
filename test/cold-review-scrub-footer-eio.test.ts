/**
 * A bad sector on the footer page of a run no read has opened yet (the footer is in no
 * stripe; with the run unopened there is no decoded copy to rewrite it from, so the run
 * cannot be opened: unrecoverable rightly). README (Self-repair): a finding's `kind` is the
 * damaged place, and `file` its path as every other finding gives it. The scrub named it
 * kind 'index' at logical offset 0, the run's first data block, by its bare file name, for
 * the footer's EIO (only a CorruptionError carried the offset and the path), so
 * `ladybug scrub --json` and the LADYBUG_SCRUB_UNRECOVERABLE warning pointed an operator at
 * the wrong page. Now: kind 'footer' at the footer page's offset, the path, as for a
 * damaged footer. And a one-off EIO there (a read retries the open) was reported
 * unrecoverable: the scrub now opens once more.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { buildStore, fileSystemOf, STORE, type BuiltStore } from './review-runs-helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

describe('a bad sector on the footer page of an unopened run', () => {
  it.each(['cold', 'flushed'])('%s run: scrub reports it unrecoverable as kind footer at the footer page', async (which) => {
    const file = built.runFiles.find((path) => (built.tiers.get(path) !== 0) === (which === 'cold')) as string;
    const size = (built.image.get(file) as Uint8Array).length;
    const fileSystem = new BadSectorFileSystem(await fileSystemOf(built.image));
    fileSystem.markBad(file, size - RUN_PAGE_BYTES, size);
    const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    const report = await store.scrub();
    await store.close();
    expect(report.repaired).toEqual([]);
    expect(report.unrecoverable).toEqual([
      expect.objectContaining({ file, kind: 'footer', logicalOffset: size - RUN_PAGE_BYTES, stripe: -1, outcome: 'unrecoverable', reason: expect.stringMatching(/EIO/) }),
    ]);
  }, 60_000);
});

describe('a one-off EIO reading the footer of an unopened run', () => {
  it('is read again: the run is scrubbed, nothing is unrecoverable', async () => {
    const file = built.runFiles.find((path) => built.tiers.get(path) !== 0) as string;
    const fileSystem = await fileSystemOf(built.image);
    const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    fileSystem.injectFault({ operation: 'read', error: 'EIO', path: new RegExp(`${file.slice(file.lastIndexOf('/') + 1).replace('.', '\\.')}$`), nth: 1 });
    const report = await store.scrub();
    await store.close();
    expect(report.unrecoverable).toEqual([]);
    expect(report.runs).toBe(built.runFiles.length);
    expect(report.blocksChecked).toBeGreaterThan(built.runFiles.length * 2);
  }, 60_000);
});
