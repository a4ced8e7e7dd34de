/**
 * Where a run cursor goes to read a key with many versions as of an old version
 * (RunCursor.seekVersion): the block that ends just above the version among the blocks
 * ending with the key, found with the point read's search (VersionSeek,
 * run-point-seek.ts: the key's first block, its last full one, then interpolated
 * guesses), reading a few blocks instead of every block above the answer.
 *
 * The cursor then hands out that block's last entry (above the version) and goes on
 * from there: the first entry it meets at or below the version is the answer, and the
 * one before it the entry just above the answer, which is all resolve.ts reads of the
 * entries above the answer while maxVersionsPerKey is unbounded (a retention marker's
 * error names it). The entries between the key's first one and that block are left
 * out: the scan seeks only while retention is unbounded, as a get does (read-view.ts).
 */
import { assert } from '../util/assert.js';
import type { DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { SEEK_DONE, VersionSeek } from './run-point-seek.js';

/** A block of the key's: its number in the partition and the block. */
export interface SeekBlock {
  readonly local: number;
  readonly block: DecodedBlock;
}

/**
 * The block just before the first, among [first, fullEnd), whose last entry is at or
 * below `version` (the last of them, fullEnd - 1, when none is). REQUIRES: blocks
 * [first, fullEnd) end with `key`, fullEnd - first >= 2, `firstBlock` is block `first`
 * whose entries from `firstStart` on are the key's and whose last entry is above
 * `version`. Synchronous while the blocks it reads are cached (`read`), else a promise.
 */
export function blockAboveVersion(
  key: string,
  first: number,
  firstBlock: DecodedBlock,
  firstStart: number,
  fullEnd: number,
  version: number,
  read: (local: number) => DecodedBlock | Promise<DecodedBlock>,
): SeekBlock | Promise<SeekBlock> {
  assert((firstBlock.versions[firstBlock.count - 1] as number) > version, "the key's first block ends above the version");
  const search = new VersionSeek(first, fullEnd, version);
  const probed = new Map<number, DecodedBlock>();
  const took = (local: number, block: DecodedBlock): void => {
    probed.set(local, block);
    search.took(local, [block.entryWithKey(block.count - 1, key)], false);
  };
  const step = (): SeekBlock | Promise<SeekBlock> => {
    for (;;) {
      const local = search.next();
      if (local === SEEK_DONE) {
        const above = search.landing - 1;
        const block = probed.get(above);
        assert(block !== undefined, 'the block before the landing one was read by the search');
        return { local: above, block };
      }
      if (local === first) {
        const entries: RunEntry[] = [];
        for (let position = firstStart; position < firstBlock.count; position++) entries.push(firstBlock.entryWithKey(position, key));
        probed.set(first, firstBlock);
        search.took(first, entries, true);
        continue;
      }
      const block = read(local);
      if (block instanceof Promise) {
        return block.then((read) => {
          took(local, read);
          return step();
        });
      }
      took(local, block);
    }
  };
  return step();
}
