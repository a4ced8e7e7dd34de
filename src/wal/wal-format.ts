/**
 * The WAL's bytes: segment header, record frame, commit and operation encoding.
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
import { AssertionFailedError } from '../errors.js';
import { assert } from '../util/assert.js';

/**
 * Format 2 (recyclable segments): a record's use tag (bytes 28..31, covered by the
 * checksum) names the use of the file it was written in, so a segment file recycled
 * from an older segment (segment-files.ts) holds records of its earlier use after the
 * log's end: a checksum-valid record whose tag is not the segment's reads as the end
 * of the log (checkRecord), never as data and never as damage. Format 1 segments (tag
 * 0 in every record) still replay, and a writer resuming in one keeps writing tag 0.
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
 * The use tag the records of a segment carry: 0 in format 1; in format 2,
 * 1 + (segmentNumber - 1) mod (2^32 - 1), never 0, so no format-1 record (tag 0) left
 * in a recycled file is of the file's current use. Two uses of one file share a tag
 * only if their segment numbers differ by a multiple of 2^32 - 1 (numbers stay below
 * 10^10, and a file is recycled only into the next few segments).
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
 * A put's value as the encoder takes it: its msgpack bytes, or a string value itself,
 * which the encoder writes as its msgpack encoding (src/codec/msgpack-string.ts: the
 * same bytes msgpackr writes), so a string put packs into no Buffer of its own.
 */
export type EncodableValue = Uint8Array | string;

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
        target.set(value, position + 4);
        valueLength = value.length;
      }
      target.writeUInt32LE(valueLength, position);
      position += 4 + valueLength;
    }
  }
  assert(position - start === commit.sizeBytes, 'commit size matches its precomputed size');
  return position;
}

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

/** The little-endian u32 at `offset` (REQUIRES: four bytes there): readUInt32LE without the call into Node's wrapper. */
export function u32At(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16)) + bytes[offset + 3]! * 0x1000000;
}

export function isZero(buffer: Uint8Array, start: number, end: number): boolean {
  for (let index = start; index < end; index++) if (buffer[index] !== 0) return false;
  return true;
}
