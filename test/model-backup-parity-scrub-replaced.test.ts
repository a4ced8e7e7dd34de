/**
 * A scrub racing a compaction reports no unrecoverable damage for a run the compaction
 * replaced under it. Seed 245 of the backup/parity model test (24 steps): an index
 * partition of run 5 damaged in one page (parity rebuilds it), then a scrub beside a bulk
 * write and compact(): the scrub rebuilt the partition but could not write it back (the
 * compaction had unlinked the file; the scrub holds the reader, not the name), and its
 * parity step, reading the page still bad, called stripe 0 unrecoverable, so a scrub
 * reported unrecoverable damage (ladybug scrub: exit 1) where nothing was lost: the run
 * was gone, its entries merged by reads that check every block. Replayed here.
 */
import { describe, it } from 'vitest';
import { makeConfig, makeSteps, runSteps } from './model-backup-parity-driver.js';

describe('scrub beside a compaction that replaces a damaged run', () => {
  it('seed 245 of the backup/parity model test: no unrecoverable finding for the replaced run', async () => {
    await runSteps(makeConfig(245), makeSteps(245, 24));
  }, 120_000);
});
