/**
 * Reading the WAL's records: checking a record's frame without decoding it
 * (checkRecord; plausibleRecordEnd and structuralRecordEnd for recovery's resync after
 * damage) and decoding a checked record's payload (decodeRecordWith). The bytes are
 * wal-format.ts's header and docs/FORMAT.md; the writing side is wal-format.ts
 * (encodeRecord) and wal-record-buffer.ts.
 *
 * Invariants: a record is decoded only after checkRecord found it valid (its extent
 * lies inside the image, its checksum and use tag match); decoding never reads past
 * that extent and refuses a payload that does not follow the format with
 * MalformedPayloadError, nothing of the record built for the caller; a header is
 * trusted for nothing (not even its length) before the checks in plausibleRecordEnd.
 * Decoded keys and values are views into the image, never copies.
 */
import type { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import {
  COMMIT_HEADER_BYTES,
  DELETE_OVERHEAD_BYTES,
  type Hash64,
  isZero,
  OPERATION_DELETE,
  OPERATION_PUT,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  u32At,
  type WalOperation,
} from './wal-format.js';

const TWO_TO_32 = 2 ** 32;

/**
 * A commit decoded from a record. Keys and values are views into the segment image
 * (no copy): valid while the image lives; a caller copies what it keeps.
 */
export interface DecodedCommit {
  version: number;
  operations: WalOperation[];
}

export type RecordCheck =
  | { kind: 'end' }
  | { kind: 'valid'; lengthBytes: number; firstVersion: number; commitCount: number }
  | { kind: 'invalid'; reason: string };

/**
 * Checks the record at `offset` of a segment image whose records carry use tag `tag`
 * (recordTagOf; 0 for format 1) without decoding its payload. The header's fields are
 * checked for plausibility (magic, commit count, tag, bounds) before the payload is
 * hashed, so a candidate costs a hash only when its header could be a real one.
 * In a tagged segment (tag != 0), a checksum-valid record with another tag is of the
 * file's earlier use (a recycled segment): the end of this use's records, like zeros.
 */
export function checkRecord(image: Buffer, offset: number, hash: Hash64, tag = 0): RecordCheck {
  // Runs once per record at open, in cold code (issue 7): fields are read with byte
  // arithmetic (u32At), and the header is tested for zeros only when its magic is wrong
  // (a header with the magic is not all zero).
  if (offset + RECORD_HEADER_BYTES > image.length) {
    return isZero(image, offset, image.length) ? { kind: 'end' } : { kind: 'invalid', reason: 'truncated record header' };
  }
  if (u32At(image, offset + 8) !== RECORD_MAGIC) {
    return isZero(image, offset, offset + RECORD_HEADER_BYTES) ? { kind: 'end' } : { kind: 'invalid', reason: 'bad record magic' };
  }
  const end = offset + RECORD_HEADER_BYTES + u32At(image, offset + 12);
  if (end > image.length) return { kind: 'invalid', reason: 'record extends past the end of the segment' };
  const recordTag = u32At(image, offset + 28);
  if (plausibleRecordEnd(image, offset, recordTag) !== end) return { kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' };
  if (recordTag !== tag && tag === 0) return { kind: 'invalid', reason: 'implausible record header (commit count, length or flags)' };
  // A plain Uint8Array over the payload: Buffer#subarray constructs through the species lookup.
  const covered = new Uint8Array(image.buffer, image.byteOffset + offset + 8, end - offset - 8);
  if (image.readBigUInt64LE(offset) !== hash(covered)) {
    return { kind: 'invalid', reason: 'record checksum mismatch' };
  }
  if (recordTag !== tag) return { kind: 'end' };
  return {
    kind: 'valid',
    lengthBytes: end - offset,
    firstVersion: u32At(image, offset + 16) + u32At(image, offset + 20) * TWO_TO_32,
    commitCount: u32At(image, offset + 24),
  };
}

/**
 * The end offset a record header at `offset` claims, if the header is plausible for a
 * record of use tag `tag` (0 in format 1): right magic, at least one commit, a payload
 * long enough for its commit headers, that tag, and an extent inside the image.
 * Undefined otherwise (the header may be garbage: nothing it claims can be trusted).
 */
export function plausibleRecordEnd(image: Buffer, offset: number, tag = 0): number | undefined {
  if (offset < 0 || offset + RECORD_HEADER_BYTES > image.length) return undefined;
  if (u32At(image, offset + 8) !== RECORD_MAGIC) return undefined;
  const payloadLength = u32At(image, offset + 12);
  const commitCount = u32At(image, offset + 24);
  if (commitCount < 1 || payloadLength < commitCount * COMMIT_HEADER_BYTES) return undefined;
  if (u32At(image, offset + 28) !== tag) return undefined;
  const end = offset + RECORD_HEADER_BYTES + payloadLength;
  return end <= image.length ? end : undefined;
}

/**
 * Where a record at `offset` ends by the structure of its payload (commit headers and
 * operations walked from the header's commit count), whatever its length field says;
 * undefined when the walk leaves the image or meets an unknown operation type. Recovery
 * uses it after a failed record whose length field may itself be the damaged byte: a
 * flipped bit there claims an extent over the records that follow, and only the
 * payload's own structure says where the next one starts (wal-recovery.ts).
 */
export function structuralRecordEnd(image: Buffer, offset: number): number | undefined {
  if (offset < 0 || offset + RECORD_HEADER_BYTES > image.length) return undefined;
  const commitCount = image.readUInt32LE(offset + 24);
  let position = offset + RECORD_HEADER_BYTES;
  for (let commit = 0; commit < commitCount; commit++) {
    if (position + COMMIT_HEADER_BYTES > image.length) return undefined;
    const operationCount = image.readUInt32LE(position + 4);
    position += COMMIT_HEADER_BYTES;
    for (let operation = 0; operation < operationCount; operation++) {
      if (position + DELETE_OVERHEAD_BYTES > image.length) return undefined;
      const type = image[position]!;
      if (type !== OPERATION_PUT && type !== OPERATION_DELETE) return undefined;
      position += DELETE_OVERHEAD_BYTES + image.readUInt16LE(position + 1);
      if (type === OPERATION_PUT) {
        if (position + 4 > image.length) return undefined;
        position += 4 + image.readUInt32LE(position);
      }
      if (position > image.length) return undefined;
    }
  }
  return position;
}

/**
 * A checksum-valid record whose payload does not follow the format. Internal: replay
 * turns it into CorruptionError naming the file and offset (wal-replay.ts replayRecord)
 * and repair reads it as "last version unknown" (wal-repair.ts): it never reaches a
 * caller of the store.
 */
export class MalformedPayloadError extends Error {}

/** One commit of a decoded record, its operations in the decoder's form. */
export interface ReplayedCommit<Operation> {
  version: number;
  operations: Operation[];
}

/**
 * Builds the caller's form of one operation from its bytes in a segment image:
 * the key at keyStart..keyEnd, a put's msgpack value at valueStart..valueEnd. The
 * image lives only for the replay: what is kept must be copied. May throw (a value
 * that cannot be decoded): the record is then refused, nothing of it applied.
 */
export interface OperationDecoder<Operation> {
  /** False: the commit's operations are checked for framing but not built (runs already hold it). */
  keeps(version: number): boolean;
  put(image: Buffer, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): Operation;
  delete(image: Buffer, keyStart: number, keyEnd: number): Operation;
}

/** WalOperation: views into the image (decodeRecord, verify, repair, tests). */
export const WAL_OPERATION_DECODER: OperationDecoder<WalOperation> = {
  keeps: () => true,
  put: (image, keyStart, keyEnd, valueStart, valueEnd) => ({ type: OPERATION_PUT, key: image.subarray(keyStart, keyEnd), value: image.subarray(valueStart, valueEnd) }),
  delete: (image, keyStart, keyEnd) => ({ type: OPERATION_DELETE, key: image.subarray(keyStart, keyEnd) }),
};

/**
 * Decodes a record that checkRecord found valid into WalOperation views (no copy).
 * Throws MalformedPayloadError on a malformed payload. The one decoder is
 * decodeRecordWith; this is it with WAL_OPERATION_DECODER.
 */
export function decodeRecord(image: Buffer, offset: number): DecodedCommit[] {
  return decodeRecordWith(image, offset, WAL_OPERATION_DECODER);
}

/**
 * Decodes a record checkRecord found valid, walking its payload once (the layout in
 * this module's header and docs/FORMAT.md) and building each operation with
 * `decoder`, which gets offsets into the image (openStore builds its memtable form
 * straight from them: no view per key or value, issue 7). Throws
 * MalformedPayloadError on a malformed payload; an error of the decoder (a value
 * that cannot be decoded) passes through.
 */
export function decodeRecordWith<Operation>(image: Buffer, offset: number, decoder: OperationDecoder<Operation>): ReplayedCommit<Operation>[] {
  // Runs once per record at open, in cold code (issue 7): fields are read with byte
  // arithmetic, not Buffer methods (a call through Node's JS wrapper per field while
  // interpreted).
  const end = offset + RECORD_HEADER_BYTES + u32At(image, offset + 12);
  assert(end <= image.length, 'a checked record lies inside its image');
  const firstVersion = u32At(image, offset + 16) + u32At(image, offset + 20) * TWO_TO_32;
  const commitCount = u32At(image, offset + 24);
  let position = offset + RECORD_HEADER_BYTES;
  const commits: ReplayedCommit<Operation>[] = [];
  for (let index = 0; index < commitCount; index++) {
    if (position + COMMIT_HEADER_BYTES > end) throw new MalformedPayloadError('commit header past the payload');
    const version = firstVersion + u32At(image, position);
    const operationCount = u32At(image, position + 4);
    position += COMMIT_HEADER_BYTES;
    const keep = decoder.keeps(version);
    const operations: Operation[] = [];
    // Each operation advances at least 3 bytes and stops at `end`: bounded by the payload.
    for (let operation = 0; operation < operationCount; operation++) {
      if (position + DELETE_OVERHEAD_BYTES > end) throw new MalformedPayloadError('operation header past the payload');
      const type = image[position]!;
      const keyStart = position + DELETE_OVERHEAD_BYTES;
      const keyEnd = keyStart + (image[position + 1]! | (image[position + 2]! << 8));
      if (keyEnd > end) throw new MalformedPayloadError('key past the payload');
      if (type === OPERATION_DELETE) {
        if (keep) operations.push(decoder.delete(image, keyStart, keyEnd));
        position = keyEnd;
        continue;
      }
      if (type !== OPERATION_PUT || keyEnd + 4 > end) throw new MalformedPayloadError(`bad operation type ${type}`);
      const valueStart = keyEnd + 4;
      const valueEnd = valueStart + u32At(image, keyEnd);
      if (valueEnd > end) throw new MalformedPayloadError('value past the payload');
      if (keep) operations.push(decoder.put(image, keyStart, keyEnd, valueStart, valueEnd));
      position = valueEnd;
    }
    commits.push({ version, operations });
  }
  if (position !== end) throw new MalformedPayloadError('record payload has trailing bytes');
  return commits;
}
