/**
 * A bad sector on a zero padding page of a run's last stripe (the pages after the filter
 * that fill the stripe to K data pages, docs/FORMAT.md "Stripes and parity"). No block
 * lives there and its content is known (zeros), so nothing is lost and the scrub can put
 * it back: a disk remaps a bad sector when it is written. Before, the parity step read
 * the stripe page by page, gave up at the first unreadable data page and reported the
 * stripe unrecoverable ('data page ... unreadable: the stripe's parity is not checked'):
 * store.scrub() said damage it cannot repair (ladybug scrub exits 1, a background pass
 * warns LADYBUG_SCRUB_UNRECOVERABLE) where nothing was lost, and left the sector bad, so
 * that one more bad page in the stripe would be beyond parity.
 * Now the page is taken as zeros, the stripe's blocks are checked with it so, and with
 * repair it is rewritten (zeros) with the parity, reported repaired; verify (no repair)
 * reports it damaged and writes nothing.
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
        const ranges = this.bad.get(path) ?? [];
        this.bad.set(path, ranges.filter(([start, end]) => !(position <= start && position + data.length >= end)));
        return handle.write(data, position);
      },
    };
  }
}

/** Physical pages of `file`'s last stripe that are zero padding (K = 16: 17 physical pages a stripe, the footer after). */
function paddingPages(file: string): number[] {
  const bytes = built.image.get(file) as Uint8Array;
  const stripeDataPages = 16;
  const stripes = (bytes.length / RUN_PAGE_BYTES - 1) / (stripeDataPages + 1);
  // The last stripe's trailing all-zero data pages (the filter, the last logical page, is never all zeros).
  const pages: number[] = [];
  const last = stripes - 1;
  for (let position = stripeDataPages - 1; position >= 0; position--) {
    const physical = last * (stripeDataPages + 1) + position;
    const page = bytes.subarray(physical * RUN_PAGE_BYTES, (physical + 1) * RUN_PAGE_BYTES);
    if (page.some((byte) => byte !== 0)) break;
    pages.unshift(physical);
  }
  return pages;
}

describe('a bad sector on a padding page of the last stripe', () => {
  it('scrub rewrites it with zeros and reports it repaired, not unrecoverable; the file ends as written', async () => {
    const cold = built.runFiles.find((file) => built.tiers.get(file) !== 0) as string;
    const pages = paddingPages(cold);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of [pages[0]!, pages[pages.length - 1]!]) {
      const where = `${cold} page ${page}`;
      const faults = await fileSystemOf(built.image);
      const fileSystem = new RemappingBadSectorFileSystem(faults);
      fileSystem.markBad(cold, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES);

      const checked = await verifyStore(STORE, { fileSystem });
      expect(checked.ok, where).toBe(false);
      expect(fileSystem.bad.get(cold), `${where}: verify writes nothing`).toHaveLength(1);

      const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
      const report = await store.scrub();
      expect(report.unrecoverable, where).toEqual([]);
      expect(report.repaired, where).toEqual([expect.objectContaining({ file: cold, kind: 'parity', stripe: 0, outcome: 'repaired', reason: expect.stringMatching(/unreadable/) })]);
      expect(fileSystem.bad.get(cold), `${where}: the page was written`).toEqual([]);
      await readEverything(store, built);
      await store.close();
      expect(Buffer.from(faults.durableContent(cold) as Uint8Array).equals(built.image.get(cold) as Uint8Array), where).toBe(true);
      const after = await verifyStore(STORE, { fileSystem });
      expect(after.runs.problems, where).toEqual([]);
    }
  }, 60_000);

  it('a bad sector that stays bad (the write does not remap it): reported, never unrecoverable while parity still rebuilds every block', async () => {
    const cold = built.runFiles.find((file) => built.tiers.get(file) !== 0) as string;
    const page = paddingPages(cold)[0]!;
    const fileSystem = new BadSectorFileSystem(await fileSystemOf(built.image));
    fileSystem.markBad(cold, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES);
    const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    const report = await store.scrub();
    await readEverything(store, built);
    await store.close();
    // Rewritten (the write went through): the scrub cannot tell the disk kept the sector bad until it reads it again.
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired).toEqual([expect.objectContaining({ file: cold, kind: 'parity', outcome: 'repaired' })]);
  }, 60_000);
});
