/**
 * Reading segment images for recovery and repair: loading a segment, searching
 * for the next checksum-valid record, and zeroing a tail.
 *
 * Invariant: a resync search hashes a candidate only when its header is plausible
 * (checkRecord checks magic, commit count, flags and bounds first), and over at most
 * the bytes left in the image. Callers start the search past a failed record's
 * claimed extent when its header is plausible, so bytes inside a torn record's own
 * payload (a value holding an image of a WAL record) are never taken for records.
 *
 * checkSealedSegment is scrub's check of a segment the writer has left: it reports
 * damage and never writes (the records are acknowledged commits: see its comment).
 */
import { Buffer } from 'node:buffer';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { segmentFileName } from './segment-files.js';
import { decodeSegmentHeader, type Hash64, RECORD_HEADER_BYTES, RECORD_MAGIC, recordTagOfImage, SEGMENT_HEADER_BYTES, u32At } from './wal-format.js';
import { checkRecord } from './wal-record-read.js';

export interface SegmentImage {
  segmentNumber: number;
  path: string;
  image: Buffer;
  /** The use tag of this segment's records (recordTagOfImage: from its header's format version). */
  tag: number;
}

export async function readSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number): Promise<SegmentImage> {
  const path = joinPath(walDir, segmentFileName(segmentNumber));
  const image = asBuffer(await fileSystem.readFile(path));
  return { segmentNumber, path, image, tag: recordTagOfImage(image, segmentNumber) };
}

/**
 * The file's bytes as a Buffer over the same memory: the array readFile returns is the
 * caller's own (a fresh read), so it is not copied. Buffer.from(array) copied every
 * segment at open, into fresh pages: reading the 9 MB a killed 1M-key store replays
 * took 11.9-13.0 ms of CPU with the copy, 5.5-7.1 without (issue 7).
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC, 0);

/**
 * Offset of the first checksum-valid record of use tag `tag` (the segment's: records
 * of a recycled file's earlier use are not searched for) at or after `start`, if any.
 */
export function findValidRecordFrom(image: Buffer, start: number, hash: Hash64, tag: number): number | undefined {
  assert(start >= 0, 'a search starts inside the image');
  let search = start;
  for (;;) {
    const found = image.indexOf(MAGIC_BYTES, search + 8);
    if (found < 0) return undefined;
    const candidate = found - 8;
    // The tag is checked before the hash: an earlier use's records cost no hash. At open
    // this runs once per earlier-use record a recycled segment holds past the log's end,
    // in cold code: the tag is read with byte arithmetic (u32At), not a Buffer method.
    if (found + 24 <= image.length && u32At(image, found + 20) === tag && checkRecord(image, candidate, hash, tag).kind === 'valid') return candidate;
    search = candidate + 1;
  }
}

/** One past the last non-zero byte at or after `offset` (or `offset` if all zero). */
export function endOfData(image: Buffer, offset: number): number {
  let end = image.length;
  while (end > offset && image[end - 1] === 0) end--;
  return end;
}

/** Largest write of zeroTail: a recycled segment's tail (its earlier use's bytes) can be its whole size, up to SEGMENT_BYTES_MAX. */
export const ZERO_TAIL_CHUNK_BYTES = 1024 * 1024;

/**
 * Zeroes a tail (from `offset` to the last non-zero byte) and makes that durable: writes
 * of at most ZERO_TAIL_CHUNK_BYTES from one buffer, then one datasync.
 */
export async function zeroTail(fileSystem: FileSystem, segment: SegmentImage, offset: number): Promise<{ file: string; offset: number; zeroedBytes: number }> {
  const end = endOfData(segment.image, offset);
  const zeroedBytes = end - offset;
  if (zeroedBytes > 0) {
    const handle = await fileSystem.open(segment.path, 'readWrite');
    try {
      const zeros = Buffer.alloc(Math.min(zeroedBytes, ZERO_TAIL_CHUNK_BYTES));
      for (let position = offset; position < end; position += zeros.length) {
        await handle.write(end - position >= zeros.length ? zeros : zeros.subarray(0, end - position), position);
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    segment.image.fill(0, offset, end);
  }
  assert(endOfData(segment.image, offset) === offset, 'the tail reads as zeros');
  return { file: segment.path, offset, zeroedBytes };
}

/** What scrub found in one sealed segment: every record up to the zero tail checked. */
export interface SealedSegmentCheck {
  path: string;
  bytes: number;
  records: number;
  /** The first damage (header or record), with its offset; undefined when every record checks. */
  problem: { offset: number; reason: string; validRecordsAfter: boolean } | undefined;
}

/**
 * Checks a sealed segment (one the writer left: every record in it was acknowledged)
 * the way recovery would, without decoding values or writing a byte: its header, then
 * each record's checksum up to the zero tail, and that nothing valid follows the tail.
 * Never repairs: dropping a damaged record would drop acknowledged commits.
 */
export async function checkSealedSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number, hash: Hash64): Promise<SealedSegmentCheck> {
  const segment = await readSegment(fileSystem, walDir, segmentNumber);
  const result: SealedSegmentCheck = { path: segment.path, bytes: segment.image.length, records: 0, problem: undefined };
  const header = decodeSegmentHeader(segment.image, hash);
  const headerProblem = typeof header === 'string' ? header
    : header.segmentNumber !== segmentNumber ? `header names segment ${header.segmentNumber}`
      : header.segmentSizeBytes !== segment.image.length ? `segment is ${segment.image.length} bytes, its header says ${header.segmentSizeBytes}` : undefined;
  if (headerProblem !== undefined) {
    result.problem = { offset: 0, reason: headerProblem, validRecordsAfter: findValidRecordFrom(segment.image, SEGMENT_HEADER_BYTES, hash, segment.tag) !== undefined };
    return result;
  }
  let offset = SEGMENT_HEADER_BYTES;
  // Each step advances by a whole record (at least RECORD_HEADER_BYTES): bounded by the image.
  for (;;) {
    const check = checkRecord(segment.image, offset, hash, segment.tag);
    if (check.kind === 'valid') {
      assert(check.lengthBytes >= RECORD_HEADER_BYTES, 'a record advances the scan');
      result.records++;
      offset += check.lengthBytes;
      continue;
    }
    const validRecordsAfter = findValidRecordFrom(segment.image, offset + 1, hash, segment.tag) !== undefined;
    if (check.kind === 'end') {
      if (validRecordsAfter) result.problem = { offset, reason: 'zeroed record header followed by valid records (a lost write)', validRecordsAfter };
      return result;
    }
    result.problem = { offset, reason: check.reason, validRecordsAfter };
    return result;
  }
}
