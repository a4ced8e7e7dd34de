/**
 * Pieces of a run's point read (RunReader.pointVersions) that need none of the
 * reader's state: the shared empty answer, the address of a data block, and the scan
 * of one decoded (cached) block for a key's entries.
 *
 * A point read asks every live run; most rule the key out (filter or key range)
 * and answer NO_RUN_ENTRIES, made once. The run that holds the key reads one data
 * block; a block the cache holds decoded is searched here; a block the cache does not
 * admit is read into the read scratch (run-file.ts), decompressed if the run is
 * compressed (a packed block into the inflate scratch, block-inflater.ts; other codecs
 * into zlib's fresh output), and walked in place (data-block-seek.ts): only the key's
 * entries leave it, with their values copied.
 */
import type { DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { BlockKind } from './run-format.js';
import type { BlockRef } from './run-file.js';
import type { RunIndex } from './run-index.js';

/** The answer of a run that holds no entry for a key (shared and frozen: nothing is made per run). */
export const NO_RUN_ENTRIES: readonly RunEntry[] = Object.freeze([]);

/** The address and check of data block `local` of `index`. */
export function dataBlockRef(index: RunIndex, local: number): BlockRef {
  return { logicalOffset: index.offset(local), lengthBytes: index.lengthBytes(local), kind: BlockKind.data, checksum: index.checksum(local) };
}

/** Appends `key`'s entries in `block` to `result`; true when the block ends after them (later blocks cannot hold the key). */
export function collectVersions(block: DecodedBlock, key: string, result: RunEntry[]): boolean {
  let position = block.lowerBound(key);
  while (position < block.count && block.compareKey(key, position) === 0) result.push(block.entryWithKey(position++, key));
  return position < block.count;
}

/** collectVersions once a block read from the file arrives (a function of its own: see RunReader#partitionOnceFilterRead). */
export async function collectVersionsOnceRead(pending: Promise<DecodedBlock>, key: string, result: RunEntry[]): Promise<boolean> {
  return collectVersions(await pending, key, result);
}
