/**
 * Review of run files under single bit flips, through the whole store
 * (test/review-runs-helpers.ts: a packed cold run, format 6, with tombstones and a key
 * of 100 versions, under three flushed runs, format 5). One flip at a time, at a dense
 * deterministic sample of each run file's bytes (seeded; every page that holds block
 * bytes, the parity page and the footer's fields get PER_PAGE offsets each, each zero
 * padding page one): the store opens and every get, get as of ten versions, history and
 * scan both ways (latest and as of a middle version) answers exactly the model (parity
 * rebuilds the block), or, for a flip in the footer (not in a stripe: its checksum is
 * in the manifest), throws CorruptionError naming the run file. Then `verify` reports
 * the flip (it never writes), and a scrub repairs it (a later verify is clean) or, in
 * the footer, reports it unrecoverable naming the file. Sampled, not every byte: a
 * store open and its reads take ~40 ms (busy machine), and 4 runs of 18 pages are
 * 295k offsets; every byte of the manifest's copies is in review-runs-manifest-flips.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { verifyStore } from '../src/store/verify-store.js';
import { buildStore, fileName, fileSystemOf, openAndRead, seeded, STORE, type BuiltStore } from './review-runs-helpers.js';

/** Offsets sampled in each page holding block bytes or parity, and in the footer's fields. */
const PER_PAGE = 6;
/** The footer's fields end here (docs/FORMAT.md: reserved zeros after the largest key). */
const FOOTER_FIELDS_BYTES = 2180;

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

function sample(file: string, random: () => number): number[] {
  const bytes = built.image.get(file) as Uint8Array;
  const pages = bytes.length / RUN_PAGE_BYTES;
  const offsets: number[] = [];
  for (let page = 0; page < pages; page++) {
    const start = page * RUN_PAGE_BYTES;
    const footer = page === pages - 1;
    const used = footer || bytes.subarray(start, start + RUN_PAGE_BYTES).some((byte) => byte !== 0);
    const count = used ? PER_PAGE : 1;
    for (let index = 0; index < count; index++) offsets.push(start + Math.floor(random() * (footer ? FOOTER_FIELDS_BYTES : RUN_PAGE_BYTES)));
  }
  offsets.push(bytes.length - 1); // the footer's reserved zeros: in its checksum
  return offsets;
}

describe('one flipped bit in a run file', () => {
  it.each([0, 1, 2, 3])('run %i: reads exact (footer: CorruptionError naming it); verify finds it; scrub repairs it or names it', async (position) => {
    const file = built.runFiles[position] as string;
    const size = (built.image.get(file) as Uint8Array).length;
    const random = seeded(100 + position);
    for (const offset of sample(file, random)) {
      const bit = Math.floor(random() * 8);
      const where = `${file} @${offset} bit ${bit}`;
      const inFooter = offset >= size - RUN_PAGE_BYTES;
      const damaged = async () => {
        const fileSystem = await fileSystemOf(built.image);
        fileSystem.flipBit(file, offset, bit);
        return fileSystem;
      };
      const outcome = await openAndRead(await damaged(), built);
      if (outcome.kind === 'wrong') expect.fail(`${where}: ${outcome.message}`);
      if (inFooter) {
        expect(outcome.kind, where).toBe('corruption');
        if (outcome.kind === 'corruption') expect(outcome.error.file, where).toContain(fileName(file));
      } else {
        expect(outcome.kind, `${where}: ${outcome.kind === 'corruption' ? outcome.error.message : ''}`).toBe('exact');
      }

      const fileSystem = await damaged();
      const before = await verifyStore(STORE, { fileSystem });
      expect(before.ok, where).toBe(false);
      expect(before.runs.problems.map((problem) => problem.file), where).toContain(file);
      const store = await openStore(STORE, { fileSystem, checkpointOnClose: false });
      const report = await store.scrub();
      await store.close();
      if (inFooter) {
        expect(report.unrecoverable.map((location) => location.file), where).toContain(file);
      } else {
        expect(report.unrecoverable, where).toEqual([]);
        // Not always in report.repaired: a top-level index is checked (and rebuilt) when the scrub opens the run.
        const after = await verifyStore(STORE, { fileSystem });
        expect(after.runs.problems, where).toEqual([]);
        expect(after.ok, where).toBe(true);
      }
    }
  });
});
