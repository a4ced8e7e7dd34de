/**
 * A point read's pass over one checked data block that is not kept (read into the
 * read scratch, or inflated from the compressed tier into the inflate scratch): the
 * key's entries, with their values copied out, and nothing else made.
 *
 * decodeDataBlock (data-block.ts) makes what the block cache keeps: five per-entry
 * arrays over one buffer, a DecodedBlock, and then a binary search, the key's entry
 * objects as views of the block, copies of their values, and a string of the block's
 * last key for the check against the index. For a block used once by one get that was
 * most of the decode (five typed arrays and a string per miss, issue 7: a uniform get
 * of a 1M-key store misses on almost every get). This walks the entry headers once,
 * as decodeDataBlock does, with the same structural checks in the same order (a block
 * that decodeDataBlock refuses is refused here with the same CorruptionError), compares
 * each distinct key with the searched one while it is not yet past it, and copies the
 * values of the matching entries straight out of the block bytes.
 *
 * Invariants: the answer (entries appended, and whether the block holds a key after
 * `key`) is what collectVersions answers on the decoded block; every value appended is
 * a copy (never a view of `bytes`, which the caller reuses); the whole payload is
 * checked, and its last key against the index, before anything is appended.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { compareByteRanges, compareKeyToBytes } from './data-block.js';
import type { RunEntry } from './run-descriptor.js';
import { RUN_ENTRY_DELETE, RUN_ENTRY_FIXED_BYTES, RUN_ENTRY_PUT, RUN_ENTRY_VALUE_LENGTH_BYTES } from './run-format.js';
import type { RunIndex } from './run-index.js';

const TWO_TO_32 = 2 ** 32;

/**
 * Appends copies of `key`'s entries in the checked block payload at `payloadStart` of
 * `bytes` (`payloadBytes` long, `entryCount` entries; block `local` of `index`) to
 * `result`; true when the block holds a key after `key` (later blocks cannot hold it),
 * as collectVersions answers. A structural fault, or a last key that differs from the
 * index's, is a CorruptionError naming `file` and `offset`, as decodeDataBlock and the
 * block read (run-block-decode.ts) report them.
 */
export function collectKeyEntries(
  file: string, offset: number, bytes: Buffer, payloadStart: number, payloadBytes: number, entryCount: number,
  index: RunIndex, local: number, key: string, result: RunEntry[],
): boolean {
  if (entryCount === 0) throw blockCorrupt(file, offset, 'no entries');
  const end = payloadStart + payloadBytes;
  assert(payloadStart >= 0 && end <= bytes.length, 'the payload lies inside the block bytes');
  let position = payloadStart;
  let previousKeyStart = -1;
  let previousKeyLength = 0;
  let previousVersion = 0;
  // The searched key against the current entry's key: > 0 while the entries are below it.
  let order = 1;
  let after = false;
  // Where the key's entries lie: the first one's header, and one past the last one's value.
  let foundStart = -1;
  let foundEnd = -1;
  for (let entry = 0; entry < entryCount; entry++) {
    const entryStart = position;
    if (position + RUN_ENTRY_FIXED_BYTES > end) throw blockCorrupt(file, offset, 'entry header past the payload');
    const keyLength = (bytes[position] as number) | ((bytes[position + 1] as number) << 8);
    position += 2;
    let keyOrder: number;
    if (keyLength === 0) {
      if (previousKeyStart < 0) throw blockCorrupt(file, offset, 'first entry repeats a previous key');
      keyOrder = 0;
    } else {
      if (keyLength > KEY_BYTES_MAX || position + keyLength + RUN_ENTRY_FIXED_BYTES - 2 > end) throw blockCorrupt(file, offset, 'bad key length');
      keyOrder = previousKeyStart < 0 ? 1 : compareByteRanges(bytes, position, keyLength, previousKeyStart, previousKeyLength);
      if (keyOrder === 0) throw blockCorrupt(file, offset, 'a repeated key is not marked as repeated');
      previousKeyStart = position;
      previousKeyLength = keyLength;
      position += keyLength;
      // A new key: where the searched key stands against it (only until the walk is past it).
      if (order >= 0) order = compareKeyToBytes(key, bytes, previousKeyStart, keyLength);
    }
    const kind = bytes[position++];
    const version = readU32(bytes, position) + readU32(bytes, position + 4) * TWO_TO_32;
    position += 8;
    if (keyOrder < 0 || (keyOrder === 0 && version >= previousVersion)) throw blockCorrupt(file, offset, 'entries out of order');
    if (kind === RUN_ENTRY_PUT) {
      if (position + RUN_ENTRY_VALUE_LENGTH_BYTES > end) throw blockCorrupt(file, offset, 'value length past the payload');
      const valueLength = readU32(bytes, position);
      position += RUN_ENTRY_VALUE_LENGTH_BYTES;
      if (position + valueLength > end) throw blockCorrupt(file, offset, 'value past the payload');
      position += valueLength;
    } else if (kind !== RUN_ENTRY_DELETE) {
      throw blockCorrupt(file, offset, `unknown entry kind ${kind}`);
    }
    previousVersion = version;
    if (order === 0) {
      if (foundStart < 0) foundStart = entryStart;
      foundEnd = position;
    } else if (order < 0) {
      after = true;
    }
  }
  if (position !== end) throw blockCorrupt(file, offset, 'payload length disagrees with the entries');
  if (index.compareLastKeyBytes(bytes, previousKeyStart, previousKeyLength, local) !== 0) throw blockCorrupt(file, offset, 'last key differs from the index');
  if (foundStart >= 0) appendCopies(bytes, foundStart, foundEnd, key, result);
  return after;
}

/** Appends the entries whose headers lie in [start, end) (checked by the walk: all of one key) with their values copied. */
function appendCopies(bytes: Buffer, start: number, end: number, key: string, result: RunEntry[]): void {
  let position = start;
  while (position < end) {
    const keyLength = (bytes[position] as number) | ((bytes[position + 1] as number) << 8);
    position += 2 + keyLength;
    const kind = bytes[position++];
    const version = readU32(bytes, position) + readU32(bytes, position + 4) * TWO_TO_32;
    position += 8;
    let value: Buffer | undefined;
    if (kind === RUN_ENTRY_PUT) {
      const valueLength = readU32(bytes, position);
      position += RUN_ENTRY_VALUE_LENGTH_BYTES;
      value = Buffer.allocUnsafe(valueLength);
      bytes.copy(value, 0, position, position + valueLength);
      position += valueLength;
    }
    result.push({ key, version, value });
  }
}

/** CorruptionError of a data block, worded as decodeDataBlock's and the block read's (run-block-decode.ts). */
function blockCorrupt(file: string, offset: number, reason: string): CorruptionError {
  return new CorruptionError(file, offset, `data block: ${reason}`);
}

/** Little-endian u32 at `position` (checked against the payload end by the caller). */
function readU32(bytes: Uint8Array, position: number): number {
  return ((bytes[position] as number) | ((bytes[position + 1] as number) << 8) | ((bytes[position + 2] as number) << 16) | ((bytes[position + 3] as number) << 24)) >>> 0;
}
