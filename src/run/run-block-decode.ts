/**
 * The read of one data block of a run (run-reader.ts) from its file: read through
 * StripedRunFile (checked against the index's checksum, rebuilt from parity where it
 * can), decompressed if the run is compressed, decoded (data-block.ts) and checked
 * against the index once more (its last key). The BlockCache is the reader's business:
 * nothing here caches.
 *
 * On the calling thread when the file reads synchronously (FileHandle.readSync) and
 * the block passes its check; else a promise (no readSync, or a repair).
 *
 * A block read only to copy one key's versions out (collectUncachedVersions,
 * collectHeldVersions) is not decoded: its entries are walked in place, with the
 * decoder's checks (data-block-seek.ts), and only the key's values leave, as copies.
 *
 * Invariants: a compressed block's bytes, and a block read only to copy one key's
 * versions out, go through a reused read scratch (run-file.ts) that is given back on
 * every path, thrown errors included; a decoded block never aliases the scratch
 * (asserted) or the inflate scratch. Every mismatch is a CorruptionError naming the file and offset.
 * Only bytes that passed their check reach the compressed tier (BlockCache.compressed.hold),
 * and a block held there is decoded without a second check: nothing writes it after.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { BlockCache } from './block-cache.js';
import { decompressPayload } from './block-compression.js';
import { blockInflater } from './block-inflater.js';
import { decodeDataBlock, type DecodedBlock } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { releaseReadScratch, takeReadScratch, type CheckedBlock, type StripedRunFile } from './run-file.js';
import { RUN_BLOCK_HEADER_BYTES, RunCompression, type RunFooter } from './run-format.js';
import type { RunIndex } from './run-index.js';
import { collectKeyEntries } from './data-block-seek.js';
import { dataBlockRef } from './run-point-read.js';

type Compression = RunFooter['compression'];

/**
 * Reads, checks (repairing from parity with `repair`) and decodes data block `local` of
 * `index`; a compressed block's checked bytes are offered to `keep`'s compressed tier.
 */
export function readDecodedNow(file: StripedRunFile, compression: Compression, index: RunIndex, local: number, repair: boolean, keep?: BlockCache): DecodedBlock | Promise<DecodedBlock> {
  assert(local >= 0 && local < index.blockCount, 'data block index inside the partition');
  const compressed = compression !== RunCompression.none;
  // A compressed block's bytes are needed only until decompressed (fresh memory): read them into a reused scratch buffer.
  const scratch = compressed ? takeReadScratch(index.lengthBytes(local)) : undefined;
  let checked: CheckedBlock | Promise<CheckedBlock>;
  try {
    checked = file.readBlockNow(dataBlockRef(index, local), repair, scratch);
  } catch (error) {
    if (scratch !== undefined) releaseReadScratch(scratch);
    throw error;
  }
  if (checked instanceof Promise) return decodeWhenRead(file, compression, index, local, checked, scratch, keep);
  try {
    if (scratch !== undefined) keep?.compressed.hold(file.runId, index.offset(local), checked);
    return decodeChecked(file.path, compression, index, local, checked, scratch);
  } finally {
    if (scratch !== undefined) releaseReadScratch(scratch);
  }
}

async function decodeWhenRead(
  file: StripedRunFile, compression: Compression, index: RunIndex, local: number, pending: Promise<CheckedBlock>, scratch: Buffer | undefined, keep: BlockCache | undefined,
): Promise<DecodedBlock> {
  try {
    const checked = await pending;
    if (scratch !== undefined) keep?.compressed.hold(file.runId, index.offset(local), checked);
    return decodeChecked(file.path, compression, index, local, checked, scratch);
  } finally {
    if (scratch !== undefined) releaseReadScratch(scratch);
  }
}

/**
 * For a block left out of the cache: read into scratch, checked, walked in place
 * (data-block-seek.ts), and `key`'s entries appended to `result` as copies (the scratch
 * is reused by the next read); true when the key ends in the block. A compressed block's
 * checked bytes are offered to `keep`'s compressed tier.
 */
export function collectUncachedVersions(
  file: StripedRunFile, compression: Compression, index: RunIndex, local: number, key: string, result: RunEntry[], repair: boolean, keep?: BlockCache,
): boolean | Promise<boolean> {
  const scratch = takeReadScratch(index.lengthBytes(local));
  let checked: CheckedBlock | Promise<CheckedBlock>;
  try {
    checked = file.readBlockNow(dataBlockRef(index, local), repair, scratch);
  } catch (error) {
    releaseReadScratch(scratch);
    throw error;
  }
  if (checked instanceof Promise) return collectUncachedWhenRead(file, compression, index, local, key, result, checked, scratch, keep);
  try {
    if (compression !== RunCompression.none) keep?.compressed.hold(file.runId, index.offset(local), checked);
    return collectChecked(file.path, compression, index, local, key, result, checked);
  } finally {
    releaseReadScratch(scratch);
  }
}

/**
 * The rest of collectUncachedVersions once a read that went asynchronous arrives. A
 * function of its own, not a closure: a closure over the parameters made V8 allocate
 * their context on every call, the synchronous path's included.
 */
async function collectUncachedWhenRead(
  file: StripedRunFile, compression: Compression, index: RunIndex, local: number, key: string, result: RunEntry[], pending: Promise<CheckedBlock>, scratch: Buffer,
  keep: BlockCache | undefined,
): Promise<boolean> {
  try {
    const checked = await pending;
    if (compression !== RunCompression.none) keep?.compressed.hold(file.runId, index.offset(local), checked);
    return collectChecked(file.path, compression, index, local, key, result, checked);
  } finally {
    releaseReadScratch(scratch);
  }
}

/**
 * A block held by the compressed tier (BlockCache.compressed.lookup: checked when it was
 * read), decoded into memory of its own for the decoded tier; no file read.
 */
export function decodeHeld(path: string, compression: Compression, index: RunIndex, local: number, held: CheckedBlock): DecodedBlock {
  return decodeChecked(path, compression, index, local, held, undefined);
}

/** collectUncachedVersions for a block held by the compressed tier: inflated and walked for the moment, `key`'s entries copied out. */
export function collectHeldVersions(path: string, compression: Compression, index: RunIndex, local: number, key: string, result: RunEntry[], held: CheckedBlock): boolean {
  return collectChecked(path, compression, index, local, key, result, held);
}

/**
 * Appends copies of `key`'s entries in a checked block used for the moment (in the read
 * scratch, or inflated into the inflate scratch) to `result`: one checked walk over its
 * entries (data-block-seek.ts), no decoded block made.
 */
function collectChecked(path: string, compression: Compression, index: RunIndex, local: number, key: string, result: RunEntry[], block: CheckedBlock): boolean {
  const offset = index.offset(local);
  if (compression === RunCompression.none) {
    return collectKeyEntries(path, offset, block.bytes, RUN_BLOCK_HEADER_BYTES, block.payloadBytes, block.entryCount, index, local, key, result);
  }
  if (compression === RunCompression.deflate) {
    // Inflated into the inflater's scratch and walked there: no view made of the payload or of the output.
    const inflater = blockInflater();
    const length = inflater.inflateInto(block.bytes, RUN_BLOCK_HEADER_BYTES, block.payloadBytes, path, offset);
    if (length >= 0) return collectKeyEntries(path, offset, inflater.output, 0, length, block.entryCount, index, local, key, result);
  }
  const raw = decompressPayload(compression, payloadOf(block), path, offset);
  return collectKeyEntries(path, offset, raw, 0, raw.length, block.entryCount, index, local, key, result);
}

/** The compressed payload of a checked block (a view of its bytes). */
function payloadOf(checked: CheckedBlock): Buffer {
  return checked.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + checked.payloadBytes);
}

/**
 * The decompressed payload of a checked block of a compressed run: a packed (deflate)
 * block through the reused stream into its scratch (block-inflater.ts), valid until the
 * next block; anything it declines, and the older codecs, through zlib's one-shot call.
 */
function decompressed(path: string, compression: Compression, offset: number, checked: CheckedBlock): Buffer {
  const payload = payloadOf(checked);
  const inflated = compression === RunCompression.deflate ? blockInflater().inflateBlock(payload, path, offset) : undefined;
  return inflated ?? decompressPayload(compression, payload, path, offset);
}

/**
 * Decompresses (if the run is compressed) and decodes a checked block into memory of
 * its own (what the cache may keep); `scratch` is not released here.
 */
function decodeChecked(path: string, compression: Compression, index: RunIndex, local: number, checked: CheckedBlock, scratch: Buffer | undefined): DecodedBlock {
  const offset = index.offset(local);
  let { bytes, payloadBytes } = checked;
  let payloadStart = RUN_BLOCK_HEADER_BYTES;
  if (compression !== RunCompression.none) {
    const raw = decompressed(path, compression, offset, checked);
    // Decoded in place when the payload owns its memory exactly (the cache counts
    // bytes.length); a view into the inflate scratch (never its whole buffer: the
    // inflater declines a block that fills it) or a larger allocation (zlib's output
    // chunk) is copied to an exact one before the cache may hold it.
    // (Not Buffer.from: a copy under 4 KiB, as most packed blocks are, would be a slice of Node's shared pool.)
    bytes = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length ? raw : exactCopy(raw);
    assert(scratch === undefined || bytes.buffer !== scratch.buffer, 'a decompressed block never aliases the read scratch');
    payloadBytes = raw.length;
    payloadStart = 0;
  }
  const decoded = decodeDataBlock(path, offset, bytes, payloadBytes, checked.entryCount, payloadStart);
  if (index.compareLastKey(decoded.keyAt(decoded.count - 1), local) !== 0) {
    throw new CorruptionError(path, offset, 'data block: last key differs from the index');
  }
  return decoded;
}

/** A copy of `bytes` in memory of its own, exactly as long (what the block cache counts). */
function exactCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}
