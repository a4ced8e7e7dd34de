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

/** Answers of pointVersions cut short by their stop (RunPointLookup.pointVersions): older entries of the key were not read. */
const CUT_SHORT = new WeakSet<readonly RunEntry[]>();

/** Marks `entries` as a key's newest entries only (the key has older ones in the run); returns them. */
export function markCutShort<T extends readonly RunEntry[]>(entries: T): T {
  CUT_SHORT.add(entries);
  return entries;
}

/** True when `entries` are not the key's every entry in their run (the read stopped before its older ones). */
export function isCutShort(entries: readonly RunEntry[]): boolean {
  return CUT_SHORT.has(entries);
}

/**
 * True once `entries` (one key's, newest first) hold `count` entries at or below
 * `version`: they are a suffix, so the one `count` from the end decides. Never for a
 * negative `version` (no stop: every entry is read).
 */
export function reachedStop(entries: readonly RunEntry[], version: number, count: number): boolean {
  if (version < 0 || count < 1 || entries.length < count) return false;
  return (entries[entries.length - count] as RunEntry).version <= version;
}

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
