/**
 * Pieces of a run's point read (RunReader.pointVersions) that need none of the
 * reader's state: the shared empty answer, the scan of one decoded block for a
 * key's entries, and the copy-out of a block read into scratch memory.
 *
 * A point read asks every live run; most rule the key out (filter or key range)
 * and answer NO_RUN_ENTRIES, made once. The run that holds the key reads one data
 * block; a block the cache does not admit is read into the read scratch
 * (run-file.ts), decompressed if the run is compressed (a packed block into the
 * inflate scratch, block-inflater.ts; other codecs into zlib's fresh output), not
 * copied again, and decoded into the decode scratch here (its per-entry arrays);
 * only the key's entries leave it, with their values copied.
 *
 * Invariants: nothing handed out aliases any scratch (collectCopiedVersions
 * copies every value before returning); the decode scratch is used by one
 * synchronous decode at a time (a decode never awaits) and holds at most
 * DECODE_SCRATCH_BYTES_MAX bytes.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import { DECODED_BLOCK_BYTES_PER_ENTRY, type DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { BlockKind } from './run-format.js';
import type { BlockRef } from './run-file.js';
import type { RunIndex } from './run-index.js';

/** The answer of a run that holds no entry for a key (shared and frozen: nothing is made per run). */
export const NO_RUN_ENTRIES: readonly RunEntry[] = Object.freeze([]);

/** Largest decode scratch kept (per-entry arrays of a block of up to ~12k entries); larger blocks get arrays of their own. */
export const DECODE_SCRATCH_BYTES_MAX = 256 * 1024;

let decodeScratch = new ArrayBuffer(4096);

/**
 * Reused backing memory for the per-entry arrays of a block of `entryCount`
 * entries decoded only for the moment (never cached, never kept past the
 * synchronous step that uses it); undefined when the block needs more than
 * DECODE_SCRATCH_BYTES_MAX (the decoder then allocates).
 */
export function decodeScratchFor(entryCount: number): ArrayBuffer | undefined {
  const needed = entryCount * DECODED_BLOCK_BYTES_PER_ENTRY;
  if (needed > DECODE_SCRATCH_BYTES_MAX) return undefined;
  if (decodeScratch.byteLength < needed) decodeScratch = new ArrayBuffer(Math.min(DECODE_SCRATCH_BYTES_MAX, Math.max(needed, 2 * decodeScratch.byteLength)));
  return decodeScratch;
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

/**
 * collectVersions for a block whose bytes (and arrays) live in scratch memory: the
 * values appended are copies, so the scratch may be reused once this returns.
 */
export function collectCopiedVersions(block: DecodedBlock, key: string, result: RunEntry[]): boolean {
  const before = result.length;
  const ended = collectVersions(block, key, result);
  for (let position = before; position < result.length; position++) {
    const entry = result[position] as RunEntry;
    if (entry.value === undefined) continue;
    const copy = Buffer.from(entry.value);
    assert(copy.buffer !== block.bytes.buffer, 'a value handed out never aliases the read scratch');
    result[position] = { key: entry.key, version: entry.version, value: copy };
  }
  return ended;
}
