/**
 * WAL segment files: names, listing, creation with preallocation.
 *
 * A segment is created complete before anything is appended to it: sized to its
 * full length (truncate), its first WAL_ZERO_FILL_AHEAD_BYTES zero-filled, header
 * written, the file fsynced, then its directory fsynced. Only then may a record be
 * written into it, so after any crash a segment is either fully created (its header
 * valid) or holds no record at all (recovery removes it). The rest of the segment
 * is a hole, which reads as zeros (end of log) like the written zeros it replaces.
 *
 * Invariant (the WAL writer keeps it): a record is written only into bytes that were
 * zero-filled and synced first (zeroFillRange then datasync), so a record's own bytes
 * never need blocks allocated or the file size changed: fdatasync is much cheaper when
 * it commits no metadata (see the README's benchmark notes). The writer fills ahead of
 * its write position in the background (issue 12: zero-filling whole segments up
 * front wrote 2 bytes of zeros per record byte in a 33 MB run of 4 KiB commits, as
 * segments grew, in bursts of up to 32 MiB plus their fsync). A record fdatasync that
 * overlaps a fill step of the same file writes back (and allocates) that step's zeros
 * too: about one in WAL_ZERO_FILL_STEP_BYTES of records (WAL_ZERO_FILL_AHEAD_BYTES
 * and smaller segments are filled whole at creation, in their own file, as before).
 *
 * The zero fill is written in chunks of ZERO_FILL_CHUNK_BYTES with a turn of the
 * event loop between chunks: a file system whose writes block (NodeFileSystem
 * writes synchronously) then blocks the loop for one chunk at a time, not for the
 * whole range. Segments start small (SEGMENT_BYTES_INITIAL) and grow; the
 * header records each segment's size, which recovery checks against the file's.
 *
 * A background creation can be abandoned (SegmentCreationAbort): the zero fill stops
 * before its next chunk and the partial file (no header yet: never a valid segment)
 * is removed. A seal's cut abandons the large next segment it would only delete: it
 * waited for its whole zero fill and fsync first, 170-285 ms of stalled commits per
 * seal with 4 KiB values and 32 MiB segments on a busy disk (issue 12).
 */
import { Buffer } from 'node:buffer';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { SEGMENT_BYTES_INITIAL, WAL_ZERO_FILL_AHEAD_BYTES } from '../limits.js';
import { assert } from '../util/assert.js';
import { encodeSegmentHeader, FORMAT_VERSION, type Hash64, SEGMENT_HEADER_BYTES } from './wal-format.js';

const SEGMENT_NAME = /^wal-(\d{10})\.log$/;

/** The number of a store's first segment (until a manifest records another start). */
export const FIRST_SEGMENT_NUMBER = 1;
/** Largest single write of the zero fill; the event loop gets a turn between two. */
const ZERO_FILL_CHUNK_BYTES = 256 * 1024;

export function segmentFileName(segmentNumber: number): string {
  assert(Number.isInteger(segmentNumber) && segmentNumber > 0 && segmentNumber < 1e10, 'segment number in range');
  return `wal-${String(segmentNumber).padStart(10, '0')}.log`;
}

/** Segment numbers present in `walDir`, ascending. */
export async function listSegments(fileSystem: FileSystem, walDir: string): Promise<number[]> {
  const names = await fileSystem.readdir(walDir);
  const numbers: number[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match) numbers.push(Number(match[1]));
  }
  return numbers.sort((left, right) => left - right);
}

/** Set `abandoned` to make a createSegment in progress give up at its next zero-fill chunk. */
export interface SegmentCreationAbort {
  abandoned: boolean;
}

/**
 * An abandoned creation's rejection. Internal, so it has no `code`: only the WAL
 * writer's rotation abandons a creation (SegmentCreationAbort), after taking that
 * creation's promise out of its state, and it ignores the rejection; createSegment
 * removes the partial file. It never reaches a caller (test/internal-errors.test.ts).
 */
export class SegmentCreationAbandoned extends Error {
  constructor(path: string) {
    super(`creation of WAL segment ${path} abandoned`);
    this.name = 'SegmentCreationAbandoned';
  }
}

export interface CreatedSegment {
  segmentNumber: number;
  handle: FileHandle;
  sizeBytes: number;
  /** Bytes from offset 0 that are zero-filled (or header) and synced: records may go below this. */
  filledBytes: number;
}

/**
 * Creates segment `segmentNumber`, sized to `sizeBytes` with its first
 * min(sizeBytes, WAL_ZERO_FILL_AHEAD_BYTES) zero-filled, durable (data, size and
 * directory entry) when this resolves. On failure the partial file is removed.
 */
export async function createSegment(
  fileSystem: FileSystem,
  walDir: string,
  segmentNumber: number,
  sizeBytes: number,
  hash: Hash64,
  abort?: SegmentCreationAbort,
): Promise<CreatedSegment> {
  const path = joinPath(walDir, segmentFileName(segmentNumber));
  const handle = await fileSystem.open(path, 'createExclusive');
  try {
    assert(sizeBytes > SEGMENT_HEADER_BYTES, 'segment larger than its header');
    const filledBytes = Math.min(sizeBytes, WAL_ZERO_FILL_AHEAD_BYTES);
    await handle.truncate(sizeBytes);
    await zeroFillRange(handle, 0, filledBytes, abort);
    const header = encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber, segmentSizeBytes: sizeBytes }, hash);
    await handle.write(header, 0);
    await handle.sync();
    await fileSystem.syncDirectory(walDir);
    return { segmentNumber, handle, sizeBytes, filledBytes };
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fileSystem.unlink(path).catch(() => undefined);
    throw error;
  }
}

/** Size of a store's first segment: SEGMENT_BYTES_INITIAL, capped by the configured segment size. */
export function firstSegmentSizeBytes(segmentSizeBytes: number): number {
  return Math.min(SEGMENT_BYTES_INITIAL, segmentSizeBytes);
}

/**
 * Writes zeros over bytes [start, end) of `handle`'s file (not synced: the caller
 * syncs before any record goes there). REQUIRES: no record lies in that range.
 */
export async function zeroFillRange(handle: FileHandle, start: number, end: number, abort?: SegmentCreationAbort): Promise<void> {
  assert(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end, 'zero fill range ordered');
  const zeros = Buffer.alloc(Math.min(ZERO_FILL_CHUNK_BYTES, end - start));
  for (let position = start; position < end; position += zeros.length) {
    if (position > start) await yieldToEventLoop();
    if (abort?.abandoned === true) throw new SegmentCreationAbandoned(handle.path);
    const length = Math.min(zeros.length, end - position);
    const chunk = length === zeros.length ? zeros : zeros.subarray(0, length);
    // Off the event loop where the file system can: nothing waits on the next segment yet.
    await (handle.writeOffThread !== undefined ? handle.writeOffThread(chunk, position) : handle.write(chunk, position));
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Removes the segments numbered below `first` (covered by runs: a checkpoint's WAL
 * deletion, or what a crash in the middle of one left) and makes that durable.
 * Returns the removed paths.
 */
export async function removeSegmentsBelow(fileSystem: FileSystem, walDir: string, first: number): Promise<string[]> {
  const paths = (await listSegments(fileSystem, walDir))
    .filter((number) => number < first)
    .map((number) => joinPath(walDir, segmentFileName(number)));
  for (const path of paths) await fileSystem.unlink(path);
  if (paths.length > 0) await fileSystem.syncDirectory(walDir);
  return paths;
}
