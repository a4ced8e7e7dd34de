/**
 * A bad sector at each page of the review store's packed cold run in turn (data, index,
 * filter, zero padding, parity, footer), one a write remaps as a disk does: store.scrub()
 * rebuilds and rewrites whatever parity covers, reports it repaired and nothing
 * unrecoverable, the sector is gone, the file ends byte for byte as written, verify is clean
 * and every read answers the model. The footer (in no stripe, the run unopened) is the one
 * unrecoverable finding, kind 'footer' at its page. Before f458f13 the eleven padding pages
 * were reported unrecoverable and left bad; before 303bcad the footer was named 'index' @0.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { verifyStore } from '../src/store/verify-store.js';
import { buildStore, fileSystemOf, readEverything, STORE, type BuiltStore } from './review-runs-helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

/** A bad sector that reads fail on until a write covers it whole (the disk remaps it). */
class RemappingBadSectorFileSystem extends BadSectorFileSystem {
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    return {
      ...handle,
      write: async (data, position) => {
        this.bad.set(path, (this.bad.get(path) ?? []).filter(([start, end]) => !(position <= start && position + data.length >= end)));
        return handle.write(data, position);
      },
    };
  }
}

describe('a remappable bad sector at each page of the cold run', () => {
  it('scrub repairs it (the footer of the unopened run: unrecoverable, kind footer); the file ends as written', async () => {
    const cold = built.runFiles.find((file) => built.tiers.get(file) !== 0) as string;
    const original = built.image.get(cold) as Uint8Array;
    const pages = original.length / RUN_PAGE_BYTES;
    for (let page = 0; page < pages; page++) {
      const where = `${cold} page ${page}`;
      const faults = await fileSystemOf(built.image);
      const fileSystem = new RemappingBadSectorFileSystem(faults);
      fileSystem.markBad(cold, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES);
      const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
      const report = await store.scrub();
      if (page === pages - 1) {
        expect(report.unrecoverable, where).toEqual([expect.objectContaining({ file: cold, kind: 'footer', logicalOffset: page * RUN_PAGE_BYTES })]);
        await store.close();
        continue;
      }
      expect(report.unrecoverable, where).toEqual([]);
      expect(report.repaired.length, where).toBeGreaterThan(0);
      expect(report.repaired.every((location) => location.file === cold), where).toBe(true);
      expect(fileSystem.bad.get(cold), where).toEqual([]);
      await readEverything(store, built);
      await store.close();
      expect(Buffer.from(faults.durableContent(cold) as Uint8Array).equals(original), where).toBe(true);
      const after = await verifyStore(STORE, { fileSystem });
      expect(after.ok, where).toBe(true);
    }
  }, 120_000);
});
