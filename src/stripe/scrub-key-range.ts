/**
 * The keys a damaged run block holds, named from the run's index (docs/FORMAT.md,
 * "Index block and index partition payload"), so that whoever decides what to do
 * about a block parity cannot rebuild knows which keys' reads fail.
 *
 * A data block holds the keys after the previous block's last key through its own
 * last key. Within one index partition a key's versions may span blocks, so the
 * block may also hold older versions of the previous block's last key
 * (`mayHoldAfter`); a key never spans partitions (PartitionBuilder), so the first
 * block of a partition holds exactly the keys after the previous partition's last
 * key (from the top-level index). The run's first block starts at the run's smallest
 * key (its descriptor). An index or filter partition covers its partition's keys (the
 * top-level index names them). When the damaged block is the index that would name
 * the keys (a format-2 index block, the top-level index) or the partition holding the
 * block's entry cannot be read, the range is unknown and `reason` says why; the run's
 * whole key span (from the manifest) is given with it.
 *
 * Invariants: reads only (the index partitions through the reader, without filling
 * the cache); never throws for damage: an unreadable index is an unknown range.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { RUN_PAGE_BYTES } from '../run/run-format.js';
import type { RunReader } from '../run/run-reader.js';
import type { RunScrubFinding } from '../run/run-scrub.js';
import { isRepairableReadError } from './stripe-errors.js';

/** The keys a damaged run block holds; keys are their bytes. */
export type ScrubKeyRange =
  | {
    known: true;
    /** Keys strictly after this one; undefined for the run's first block (then `first` is the run's smallest key). */
    after: Uint8Array | undefined;
    first: Uint8Array | undefined;
    /** Keys up to and including this one. */
    through: Uint8Array;
    /** Older versions of `after` may be in the block too (its versions may continue from the block before). */
    mayHoldAfter: boolean;
  }
  | {
    known: false;
    reason: string;
    /** The run's smallest and largest keys (its manifest entry): the block's keys lie between them. */
    runFirst: Uint8Array;
    runLast: Uint8Array;
  };

const bytesOf = (key: string): Uint8Array => new Uint8Array(Buffer.from(key, 'latin1'));

/** The key range of the damaged block `kind` at `logicalOffset` of `reader`'s run; undefined for a parity page (it holds no entries). */
export async function damagedKeyRange(reader: RunReader, kind: RunScrubFinding['kind'], logicalOffset: number): Promise<ScrubKeyRange | undefined> {
  if (kind === 'parity') return undefined;
  const unknown = (reason: string): ScrubKeyRange => ({
    known: false, reason, runFirst: bytesOf(reader.descriptor.smallestKey), runLast: bytesOf(reader.descriptor.largestKey),
  });
  const top = reader.topLevelIndex;
  const range = (after: string | undefined, through: string, mayHoldAfter: boolean): ScrubKeyRange => ({
    known: true,
    after: after === undefined ? undefined : bytesOf(after),
    first: after === undefined ? bytesOf(reader.descriptor.smallestKey) : undefined,
    through: bytesOf(through),
    mayHoldAfter,
  });
  if (kind !== 'data') {
    // The footer (scrub's finding names its physical offset, past every logical one): the run opens through it.
    if (logicalOffset === reader.descriptor.fileBytes - RUN_PAGE_BYTES) return unknown('the damaged block is the run\'s footer, through which the run is opened (a reopen cannot open the run)');
    if (top !== undefined) {
      for (let number = 0; number < top.count; number++) {
        if (top.indexOffset(number) === logicalOffset || top.filterOffset(number) === logicalOffset) {
          return range(number === 0 ? undefined : top.lastKey(number - 1), top.lastKey(number), false);
        }
      }
      return unknown('the damaged block is the run\'s top-level index, which names the keys of every partition');
    }
    return kind === 'filter'
      ? range(undefined, reader.descriptor.largestKey, false) // format 2: the one filter covers every key of the run
      : unknown('the damaged block is the run\'s index, which names the keys of every data block');
  }
  let number = 0;
  if (top !== undefined) {
    let low = 0;
    let high = top.count - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (top.dataOffset(middle) <= logicalOffset) low = middle;
      else high = middle - 1;
    }
    number = low;
  }
  let index;
  try {
    ({ index } = await reader.partition(number, false));
  } catch (error) {
    if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
    return unknown(`the index partition holding its entry cannot be read either: ${(error as Error).message}`);
  }
  let low = 0;
  let high = index.blockCount - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (index.offset(middle) <= logicalOffset) low = middle;
    else high = middle - 1;
  }
  if (index.offset(low) !== logicalOffset) return unknown(`no index entry starts at logical offset ${logicalOffset}`);
  if (low > 0) return range(index.lastKey(low - 1), index.lastKey(low), true);
  return range(top === undefined || number === 0 ? undefined : top.lastKey(number - 1), index.lastKey(low), false);
}
