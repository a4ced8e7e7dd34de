/**
 * The WAL's bytes: segment header, record frame, commit and operation encoding.
 * Reading a record back (its check and its decoding) is wal-record-read.ts.
 * docs/FORMAT.md describes every byte; keep the two in step (FORMAT_VERSION below).
 *
 * A record is what one group commit writes: one or more commits with ascending
 * versions, one checksum over header and payload. All integers are little-endian;
 * 64-bit fields hold integers below 2^53 written as two u32 halves.
 *
 *   segment header (64 bytes, offset 0)
 *     0  magic "LBUGWAL\0"      8  format version u32   12 header size u32 (64)
 *     16 segment number u64     24 segment size u64     32 reserved (24 zero bytes)
 *     56 xxh64 of bytes 0..55
 *   record (at offset 64, then back to back; an all-zero header ends the segment)
 *     0  xxh64 of bytes 8 .. 32+payloadLength          8  magic u32 0x5257424c ("LBWR")
 *     12 payload length u32     16 first version u64    24 commit count u32
 *     28 use tag u32 (format 1: 0; format 2: recordTagOf(segment number), never 0)
 *     32 payload: commitCount commits, back to back
 *   commit:    version delta u32 (from first version) | operation count u32 (may be 0) | operations
 *   operation: type u8 (1 put, 2 delete) | key length u16 | key | [value length u32 | value (msgpack)]
 */
import { Buffer } from 'node:buffer';
import { encodedStringSizeBytes, writeEncodedString } from '../codec/msgpack-string.js';
import { EncodedValue } from '../codec/value-slabs.js';
import { AssertionFailedError, UnsupportedFormatError } from '../errors.js';
import { assert } from '../util/assert.js';

/**
 * Format 2 (recyclable segments): a record's use tag (bytes 28..31, covered by the
 * checksum) names the use of the file it was written in, so a segment file recycled
 * from an older segment (segment-files.ts) holds records of its earlier use after the
 * log's end: a checksum-valid record whose tag is not the segment's reads as the end
 * of the log (wal-record-read.ts checkRecord), never as data and never as damage.
 * Format 1 segments (tag 0 in every record) still replay, and a writer resuming in
 * one keeps writing tag 0.
 */
export const FORMAT_VERSION = 2;
/** The first format: every record's bytes 28..31 are zero; segments are never recycled. */
export const FORMAT_VERSION_UNTAGGED = 1;
export const SEGMENT_MAGIC = Buffer.from('LBUGWAL\0', 'latin1');
export const SEGMENT_HEADER_BYTES = 64;
export const RECORD_MAGIC = 0x5257424c;
export const RECORD_HEADER_BYTES = 32;
export const COMMIT_HEADER_BYTES = 8;
export const OPERATION_PUT = 1;
export const OPERATION_DELETE = 2;
export const PUT_OVERHEAD_BYTES = 1 + 2 + 4;
export const DELETE_OVERHEAD_BYTES = 1 + 2;

const TWO_TO_32 = 2 ** 32;
/**
 * Internal key strings up to this many chars are copied into a record char by char:
 * Buffer#write(latin1) is a call into C++ through two JS wrappers, about 0.13 µs a
 * commit of 64 concurrent 16-byte-key writers (issue 12 profile); longer keys take it.
 */
const KEY_COPY_BY_CHAR_CHARS_MAX = 64;

export function writeUint64(buffer: Buffer, value: number, offset: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new AssertionFailedError(`u64 field holds a safe integer: ${value}`);
  buffer.writeUInt32LE(value % TWO_TO_32, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_TO_32), offset + 4);
}

export function readUint64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * TWO_TO_32;
}

export interface SegmentHeader {
  formatVersion: number;
  segmentNumber: number;
  segmentSizeBytes: number;
}

export type Hash64 = (bytes: Uint8Array) => bigint;

export function encodeSegmentHeader(header: SegmentHeader, hash: Hash64): Buffer {
  const buffer = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(buffer, 0);
  buffer.writeUInt32LE(header.formatVersion, 8);
  buffer.writeUInt32LE(SEGMENT_HEADER_BYTES, 12);
  writeUint64(buffer, header.segmentNumber, 16);
  writeUint64(buffer, header.segmentSizeBytes, 24);
  buffer.writeBigUInt64LE(hash(buffer.subarray(0, 56)), 56);
  return buffer;
}

/** Parses a segment header; returns a reason string when it is not valid. */
export function decodeSegmentHeader(buffer: Buffer, hash: Hash64): SegmentHeader | string {
  if (buffer.length < SEGMENT_HEADER_BYTES) return 'file shorter than a segment header';
  if (!buffer.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'bad segment magic';
  if (buffer.readBigUInt64LE(56) !== hash(buffer.subarray(0, 56))) return 'segment header checksum mismatch';
  const formatVersion = buffer.readUInt32LE(8);
  if (formatVersion !== FORMAT_VERSION && formatVersion !== FORMAT_VERSION_UNTAGGED) return `unsupported format version ${formatVersion}`;
  return {
    formatVersion,
    segmentNumber: readUint64(buffer, 16),
    segmentSizeBytes: readUint64(buffer, 24),
  };
}

/**
 * Throws UnsupportedFormatError when `buffer` starts with a whole segment header (magic
 * and checksum valid) of a format version this code does not read. A crash or damage
 * fails the checksum; such a header was written by a newer release, so its segment is
 * neither an unfinished creation to remove nor damage for repair to drop: recovery and
 * repair refuse the log as it is (wal-recovery.ts).
 */
export function refuseNewerSegmentFormat(buffer: Uint8Array, hash: Hash64, path: string): void {
  if (buffer.length < SEGMENT_HEADER_BYTES) return;
  const header = Buffer.from(buffer.buffer, buffer.byteOffset, SEGMENT_HEADER_BYTES);
  if (!header.subarray(0, 8).equals(SEGMENT_MAGIC) || header.readBigUInt64LE(56) !== hash(header.subarray(0, 56))) return;
  const formatVersion = header.readUInt32LE(8);
  if (formatVersion === FORMAT_VERSION || formatVersion === FORMAT_VERSION_UNTAGGED) return;
  throw new UnsupportedFormatError(path, 8, `WAL segment format version ${formatVersion}`,
    `WAL segment format versions ${FORMAT_VERSION_UNTAGGED} and ${FORMAT_VERSION}`);
}

/**
 * The use tag the records of a segment carry: 0 in format 1; in format 2,
 * 1 + (segmentNumber - 1) mod (2^32 - 1), never 0, so no format-1 record (tag 0) left
 * in a recycled file is of the file's current use. Two uses of one file share a tag
 * only if their segment numbers differ by a multiple of 2^32 - 1 (a file is recycled
 * only into the next few segments).
 */
export function recordTagOf(formatVersion: number, segmentNumber: number): number {
  if (formatVersion !== FORMAT_VERSION) return 0;
  assert(Number.isSafeInteger(segmentNumber) && segmentNumber >= 1, 'a tagged segment has a number');
  return 1 + ((segmentNumber - 1) % (TWO_TO_32 - 1));
}

/**
 * The use tag of the records of segment `segmentNumber` whose image is `image`, read
 * from its header's format version without checking the header (replay checks it
 * before trusting a record): a damaged header leaves a best guess, used only to
 * report and count what a damaged segment holds.
 */
export function recordTagOfImage(image: Buffer, segmentNumber: number): number {
  return recordTagOf(image.length >= 12 ? image.readUInt32LE(8) : 0, segmentNumber);
}

/** One operation of a commit, in the WAL's form (as decoded: the key as bytes). */
export type WalOperation =
  | { type: typeof OPERATION_PUT; key: Uint8Array; value: Uint8Array }
  | { type: typeof OPERATION_DELETE; key: Uint8Array };

/**
 * One operation as the commit path hands it to the encoder: the key as bytes, or as
 * an internal key string (src/codec/keys.ts: one char per byte, each 0..255), which
 * the encoder writes as latin1 straight into the record, so a commit allocates no
 * key buffer. Both give the same bytes on disk (no format change).
 */
export type EncodableOperation =
  | { type: typeof OPERATION_PUT; key: Uint8Array | string; value: EncodableValue }
  | { type: typeof OPERATION_DELETE; key: Uint8Array | string };

/**
 * A put's value as the encoder takes it: its msgpack bytes, a string value itself,
 * which the encoder writes as its msgpack encoding (src/codec/msgpack-string.ts: the
 * same bytes msgpackr writes), so a string put packs into no Buffer of its own, or a
 * byte value's EncodedValue (its range of a commit slab), whose view the encoder makes
 * as it copies the bytes: a view made at prepare lived as long as the commit, past
 * the WAL write and its fdatasync, so every byte put's view survived scavenges and
 * was promoted (a bulk load's batch, issue 7).
 */
export type EncodableValue = Uint8Array | string | EncodedValue;

/** Bytes of a value's msgpack encoding in the record (without its u32 length field). */
export function valueSizeBytes(value: EncodableValue): number {
  return typeof value === 'string' ? encodedStringSizeBytes(value) : value.length;
}

/** Encoded size of one commit's operations, without the commit header. */
export function operationsSizeBytes(operations: readonly EncodableOperation[]): number {
  let size = 0;
  for (const operation of operations) {
    size += operation.type === OPERATION_PUT
      ? PUT_OVERHEAD_BYTES + operation.key.length + valueSizeBytes(operation.value)
      : DELETE_OVERHEAD_BYTES + operation.key.length;
  }
  return size;
}

/** A commit ready to frame: its version and encoded operations (sizes precomputed). */
export interface FramedCommit {
  version: number;
  operations: readonly EncodableOperation[];
  /** COMMIT_HEADER_BYTES + operationsSizeBytes(operations). */
  sizeBytes: number;
}

/**
 * Frames commits (ascending versions) as one record into `target` at `offset`, with
 * the use tag of the segment it goes in (recordTagOf). Returns the record's length.
 * REQUIRES: target has room for it.
 */
export function encodeRecord(commits: readonly FramedCommit[], target: Buffer, offset: number, hash: Hash64, tag = 0): number {
  assert(commits.length > 0, 'a record holds at least one commit');
  assert(Number.isInteger(tag) && tag >= 0 && tag < TWO_TO_32, 'a use tag is a u32');
  const firstVersion = commits[0]!.version;
  let position = offset + RECORD_HEADER_BYTES;
  for (let index = 0; index < commits.length; index++) position = encodeCommit(commits[index]!, firstVersion, target, position);
  const payloadLength = position - offset - RECORD_HEADER_BYTES;
  target.writeUInt32LE(RECORD_MAGIC, offset + 8);
  target.writeUInt32LE(payloadLength, offset + 12);
  writeUint64(target, firstVersion, offset + 16);
  target.writeUInt32LE(commits.length, offset + 24);
  target.writeUInt32LE(tag, offset + 28);
  target.writeBigUInt64LE(hash(target.subarray(offset + 8, position)), offset);
  return position - offset;
}

function encodeCommit(commit: FramedCommit, firstVersion: number, target: Buffer, start: number): number {
  const delta = commit.version - firstVersion;
  assert(delta >= 0 && delta < TWO_TO_32, 'commit versions ascend within a record');
  target.writeUInt32LE(delta, start);
  target.writeUInt32LE(commit.operations.length, start + 4);
  let position = start + COMMIT_HEADER_BYTES;
  // Indexed, not for...of: a batch's commit is encoded once, and this loop ran before V8
  // optimized it, making an iterator result per operation (16 B of garbage per put, issue 7).
  const operations = commit.operations;
  for (let index = 0; index < operations.length; index++) {
    const operation = operations[index]!;
    const key = operation.key;
    target[position] = operation.type;
    target.writeUInt16LE(key.length, position + 1);
    position += 3;
    if (typeof key === 'string') {
      if (key.length <= KEY_COPY_BY_CHAR_CHARS_MAX) {
        let codes = 0;
        for (let char = 0; char < key.length; char++) {
          const code = key.charCodeAt(char);
          codes |= code;
          target[position + char] = code;
        }
        // Message built only on failure (once per operation).
        if (codes > 0xff) throw new AssertionFailedError('an internal key string holds only chars below 256');
      } else {
        const written = target.write(key, position, key.length, 'latin1');
        assert(written === key.length, 'an internal key string encodes one byte per char');
      }
    } else {
      target.set(key, position);
    }
    position += key.length;
    if (operation.type === OPERATION_PUT) {
      const value = operation.value;
      let valueLength: number;
      if (typeof value === 'string') valueLength = writeEncodedString(value, target, position + 4);
      else {
        // An EncodedValue's view is made here and dies at once (see EncodableValue).
        target.set(value instanceof EncodedValue ? value.bytes : value, position + 4);
        valueLength = value.length;
      }
      target.writeUInt32LE(valueLength, position);
      position += 4 + valueLength;
    }
  }
  assert(position - start === commit.sizeBytes, 'commit size matches its precomputed size');
  return position;
}

/** The little-endian u32 at `offset` (REQUIRES: four bytes there): readUInt32LE without the call into Node's wrapper. */
export function u32At(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16)) + bytes[offset + 3]! * 0x1000000;
}

export function isZero(buffer: Uint8Array, start: number, end: number): boolean {
  for (let index = start; index < end; index++) if (buffer[index] !== 0) return false;
  return true;
}
