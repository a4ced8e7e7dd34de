/**
 * The keys scrub names for a data block of a packed cold run (format 6) that parity cannot
 * rebuild (README, Self-repair: `keys`, what `ladybug repair` prints) cover every key
 * whose reads then fail. Each data block of the review store's cold run in turn is made
 * beyond parity (a flip in the block and one in the stripe's parity page inside the same
 * block's bytes); every key's history() is read, and each one that throws
 * CorruptionError must lie in the named range. The existing key-range tests use
 * uncompressed runs only. Found nothing: kept as a check.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { buildStore, fileSystemOf, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString('latin1'));

describe('keys named for an unrecoverable block of a packed cold run', () => {
  it('cover every key whose history() then fails, block by block', async () => {
    const cold = built.runFiles.find((file) => built.tiers.get(file) !== 0) as string;
    const blocks = [0, 599, 1381, 2115, 2893, 3686];
    for (const offset of blocks) {
      const fileSystem = await fileSystemOf(built.image);
      fileSystem.flipBit(cold, offset + 100, 2);
      fileSystem.flipBit(cold, 16 * RUN_PAGE_BYTES + ((offset + 101) % RUN_PAGE_BYTES), 1); // stripe 0's parity page
      const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
      const report = await store.scrub();
      expect(report.unrecoverable.map((location) => `${location.kind}@${location.logicalOffset}`), `block ${offset}`).toEqual([`data@${offset}`]);
      const keys = report.unrecoverable[0]!.keys;
      expect(keys?.known, `block ${offset}`).toBe(true);
      const failing: string[] = [];
      for (const k of [...built.model.keys()].sort()) {
        try {
          await store.history(k);
        } catch (error) {
          if (!(error instanceof CorruptionError)) throw error;
          failing.push(k);
        }
      }
      expect(failing.length, `block ${offset}: some key's reads fail`).toBeGreaterThan(0);
      if (keys?.known) {
        const after = text(keys.after);
        const through = text(keys.through) as string;
        for (const k of failing) {
          const inside = (after === undefined ? k >= (text(keys.first) as string) : k > after || (keys.mayHoldAfter && k === after)) && k <= through;
          expect(inside, `${offset}: ${k}`).toBe(true);
        }
      }
      await store.close();
    }
  }, 120_000);
});
