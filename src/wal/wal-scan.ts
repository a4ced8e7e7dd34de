/**
 * Reading segment images for recovery and repair: loading a segment, searching
 * for the next checksum-valid record, and zeroing a tail.
 *
 * Invariant: a resync search hashes a candidate only when its header is plausible
 * (checkRecord checks magic, commit count, flags and bounds first), and over at most
 * the bytes left in the image. Callers start the search past a failed record's
 * claimed extent when its header is plausible, so bytes inside a torn record's own
 * payload (a value holding an image of a WAL record) are never taken for records.
 */
import { Buffer } from 'node:buffer';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { segmentFileName } from './segment-files.js';
import { checkRecord, type Hash64, RECORD_MAGIC } from './wal-format.js';

export interface SegmentImage {
  segmentNumber: number;
  path: string;
  image: Buffer;
}

export async function readSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number): Promise<SegmentImage> {
  const path = joinPath(walDir, segmentFileName(segmentNumber));
  const image = Buffer.from(await fileSystem.readFile(path));
  return { segmentNumber, path, image };
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC, 0);

/** Offset of the first checksum-valid record at or after `start`, if any. */
export function findValidRecordFrom(image: Buffer, start: number, hash: Hash64): number | undefined {
  assert(start >= 0, 'a search starts inside the image');
  let search = start;
  for (;;) {
    const found = image.indexOf(MAGIC_BYTES, search + 8);
    if (found < 0) return undefined;
    const candidate = found - 8;
    if (checkRecord(image, candidate, hash).kind === 'valid') return candidate;
    search = candidate + 1;
  }
}

/** One past the last non-zero byte at or after `offset` (or `offset` if all zero). */
export function endOfData(image: Buffer, offset: number): number {
  let end = image.length;
  while (end > offset && image[end - 1] === 0) end--;
  return end;
}

/** Zeroes a tail (from `offset` to the last non-zero byte) and makes that durable. */
export async function zeroTail(fileSystem: FileSystem, segment: SegmentImage, offset: number): Promise<{ file: string; offset: number; zeroedBytes: number }> {
  const end = endOfData(segment.image, offset);
  const zeroedBytes = end - offset;
  if (zeroedBytes > 0) {
    const handle = await fileSystem.open(segment.path, 'readWrite');
    try {
      await handle.write(Buffer.alloc(zeroedBytes), offset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    segment.image.fill(0, offset, end);
  }
  assert(endOfData(segment.image, offset) === offset, 'the tail reads as zeros');
  return { file: segment.path, offset, zeroedBytes };
}
