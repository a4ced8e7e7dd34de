/**
 * A scrub reports the repairs its own reading caused, those made while it opened a run
 * included. Runs open lazily: on a store just opened, store.scrub() is what opens each
 * run, and the open reads and checks the run's index (and filter), rebuilding a damaged
 * one from parity and writing it back. The scrub's block steps then found nothing, so
 * its report said `repaired: []` and stats().storage.scrub.repaired stayed 0, while the
 * scrub had repaired a block (stats().storage.repairedBlocks 1, a LADYBUG_BLOCK_REPAIRED
 * warning): `ladybug scrub` said nothing was repaired. Now such a repair is in the
 * report's `repaired` (kind, offset, stripe, why) and counted in stats().storage.scrub.
 *
 * A block a read repaired before the scrub began is not the scrub's: the report leaves it
 * out, and stats().storage.repairedBlocks (which counts repairs by reads) says it, as the
 * README says.
 */
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { removeTemporaryDirectories } from './helpers.js';
import { storeWithWarmRun } from './store-with-warm-run.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
const value = (index: number) => ({ index, text: 'y'.repeat(index % 50) });

/** Footer fields (run-format.ts): K, and the index block's logical offset. */
const FOOTER_STRIPE_DATA_PAGES = 36;
const FOOTER_INDEX_OFFSET = 40;

/** A store whose newest run has its index page damaged on disk; the index's logical offset and the run file. */
async function storeWithDamagedIndex(): Promise<{ directory: string; runFile: string; original: Buffer; indexOffset: number }> {
  const { directory, runFile, original } = await storeWithWarmRun(2000, key, value, 600);
  const footer = original.length - RUN_PAGE_BYTES;
  const stripeDataPages = original.readUInt32LE(footer + FOOTER_STRIPE_DATA_PAGES);
  const indexOffset = Number(original.readBigUInt64LE(footer + FOOTER_INDEX_OFFSET));
  const logicalPage = Math.floor(indexOffset / RUN_PAGE_BYTES);
  const physicalPage = logicalPage + Math.floor(logicalPage / stripeDataPages); // a parity page after every K data pages
  const damaged = Buffer.from(original);
  damaged.fill(0x5a, physicalPage * RUN_PAGE_BYTES + 100, physicalPage * RUN_PAGE_BYTES + 200);
  writeFileSync(runFile, damaged);
  return { directory, runFile, original, indexOffset };
}

describe('scrub: repairs made while it opened a run', () => {
  it('an index rebuilt when the scrub opened the run is in the report and in stats().storage.scrub', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { directory, runFile, original, indexOffset } = await storeWithDamagedIndex();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    try {
      expect(store.stats().storage.repairedBlocks, 'runs open lazily: nothing read yet').toBe(0);
      const report = await store.scrub();
      expect(readFileSync(runFile).equals(original), 'the index page is rewritten').toBe(true);
      expect(store.stats().storage.repairedBlocks).toBe(1);
      expect(report.repaired).toHaveLength(1);
      expect(report.repaired[0]).toMatchObject({ kind: 'index', logicalOffset: indexOffset, stripe: Math.floor(indexOffset / RUN_PAGE_BYTES / original.readUInt32LE(original.length - RUN_PAGE_BYTES + FOOTER_STRIPE_DATA_PAGES)), outcome: 'repaired', file: runFile });
      expect(report.unrecoverable).toEqual([]);
      expect(store.stats().storage.scrub.repaired).toBe(1);
      // A second pass finds nothing: the repair is reported once.
      const again = await store.scrub();
      expect(again.repaired).toEqual([]);
      expect(store.stats().storage.scrub.repaired).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('an index a read rebuilt before the scrub is not the scrub\'s: left out of its report, counted in repairedBlocks', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { directory } = await storeWithDamagedIndex();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    try {
      expect(await store.get(key(1))).toEqual(value(1));
      expect(store.stats().storage.repairedBlocks).toBe(1);
      const report = await store.scrub();
      expect(report.repaired).toEqual([]);
      expect(store.stats().storage.scrub.repaired).toBe(0);
      expect(store.stats().storage.repairedBlocks).toBe(1);
    } finally {
      await store.close();
    }
  });
});
