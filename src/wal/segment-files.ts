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
 * The zero fill is written WAL_ZERO_FILL_STEP_BYTES at a time from one shared zero
 * buffer, off the event loop where the file system can (writeOffThread), back to back
 * with no other turn of the event loop between chunks (issue 12): a lone awaited
 * writer whose fdatasyncs run inline never hands the loop a turn between commits, so
 * a background creation progresses only by the turns its own I/O completions take
 * (and those the writer gives while it waits). A yield and a 256 KiB write per chunk
 * made a new segment's creation about 36 turns, which a segment of a few hundred
 * records never gave it: the rotation waited for it in the foreground. Now a new
 * segment takes truncate, at most 4 writes, fsync and directory fsync. Segments
 * start small (SEGMENT_BYTES_INITIAL) and grow; the header records each segment's
 * size, which recovery checks against the file's.
 *
 * A background creation can be abandoned (SegmentCreationAbort): the zero fill stops
 * before its next chunk (each a write completion away on a file system with
 * writeOffThread) and the partial file (no header yet: never a valid segment)
 * is removed. A seal's cut abandons the large next segment it would only delete: it
 * waited for its whole zero fill and fsync first, 170-285 ms of stalled commits per
 * seal with 4 KiB values and 32 MiB segments on a busy disk (issue 12).
 *
 * Recycling (WAL format 2): removeSegmentsBelow renames covered segments into a pool
 * (`recycled-<old number>-<size>.log`, names no segment listing matches; power-of-two
 * sizes only, those the writer makes again) of at most
 * WAL_RECYCLED_SEGMENTS_MAX files and WAL_RECYCLED_BYTES_MAX bytes, the newest kept;
 * takeRecycledSegment makes a new segment of the same size from one: the new header
 * written and fsynced, then the rename to the segment's name, then the directory
 * fsynced. Its blocks are allocated and written, so it needs no zero fill; the bytes
 * past its records are its earlier use's, which the new use tag (wal-format.ts) reads
 * as the end of the log, and the writer follows each record with an all-zero record
 * header there (WalPosition.recycled). A crash before the rename leaves a pool file
 * (never replayed: not a segment name); after it, a valid empty segment.
 */
import { Buffer } from 'node:buffer';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath, unlinkIfPresent } from '../fs/file-system.js';
import {
  SEGMENT_BYTES_INITIAL,
  SEGMENT_BYTES_MIN,
  WAL_RECYCLED_BYTES_MAX,
  WAL_RECYCLED_SEGMENTS_MAX,
  WAL_ZERO_FILL_AHEAD_BYTES,
  WAL_ZERO_FILL_STEP_BYTES,
} from '../limits.js';
import { assert } from '../util/assert.js';
import { decodeSegmentHeader, encodeSegmentHeader, FORMAT_VERSION, type Hash64, recordTagOf, SEGMENT_HEADER_BYTES } from './wal-format.js';

/** Segment numbers: ten digits, zero padded; more (without a leading zero) from 10,000,000,000 on, as run ids. */
const SEGMENT_NAME = /^wal-(\d{10}|[1-9]\d{10,})\.log$/;
const RECYCLED_NAME = /^recycled-(\d{10}|[1-9]\d{10,})-(\d{1,13})\.log$/;

/** The number of a store's first segment (until a manifest records another start). */
export const FIRST_SEGMENT_NUMBER = 1;
/**
 * WAL_ZERO_FILL_STEP_BYTES of zeros, shared by every zero fill and never written into
 * (made once per process, not per creation).
 */
let chunkZeros: Buffer | undefined;

export function segmentFileName(segmentNumber: number): string {
  assert(Number.isSafeInteger(segmentNumber) && segmentNumber > 0, 'segment number in range');
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
  /** Bytes from offset 0 that are zero-filled (or header) and synced, or written by an earlier use: records may go below this. */
  filledBytes: number;
  /** The use tag its records carry (recordTagOf). */
  tag: number;
  /** Made from a recycled file: the bytes past its records hold an earlier use's, not zeros. */
  recycled: boolean;
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
    return { segmentNumber, handle, sizeBytes, filledBytes, tag: recordTagOf(FORMAT_VERSION, segmentNumber), recycled: false };
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
 * Size of the segment an explicit checkpoint rotates to (checkpoint(), close(),
 * backup(): WalWriter#rotateForCheckpoint): SEGMENT_BYTES_MIN, not a first segment's
 * SEGMENT_BYTES_INITIAL. A checkpoint is what a store gets before it goes quiet (close,
 * a backup, a compact() asking for space back), and its segment is allocated whole
 * (WAL_ZERO_FILL_AHEAD_BYTES covers it): 64 KiB was 0.11x of a 5,000-key store's live
 * bytes left on disk for records that may never come (issue 7, delete-heavy
 * compaction-space). Writes that do follow grow it back by doubling, two rotations
 * more than from a first segment. A seal's cut under load keeps firstSegmentSizeBytes,
 * and a checkpoint that finds the active segment empty does not rotate: an empty
 * segment a cut left (64 KiB) then stays (update-heavy compaction-space's case).
 */
export function checkpointSegmentSizeBytes(segmentSizeBytes: number): number {
  const sizeBytes = Math.min(SEGMENT_BYTES_MIN, segmentSizeBytes);
  assert(sizeBytes > SEGMENT_HEADER_BYTES && sizeBytes <= firstSegmentSizeBytes(segmentSizeBytes), 'a checkpoint segment is no larger than a first one');
  return sizeBytes;
}

/**
 * Writes zeros over bytes [start, end) of `handle`'s file (not synced: the caller
 * syncs before any record goes there), one write per WAL_ZERO_FILL_STEP_BYTES with no
 * turn of the event loop between them besides their completions (module header).
 * `abort` is checked before each write. REQUIRES: no record lies in that range.
 */
export async function zeroFillRange(handle: FileHandle, start: number, end: number, abort?: SegmentCreationAbort): Promise<void> {
  assert(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end, 'zero fill range ordered');
  chunkZeros ??= Buffer.alloc(WAL_ZERO_FILL_STEP_BYTES);
  for (let position = start; position < end; position += chunkZeros.length) {
    if (abort?.abandoned === true) throw new SegmentCreationAbandoned(handle.path);
    const length = Math.min(chunkZeros.length, end - position);
    const chunk = length === chunkZeros.length ? chunkZeros : chunkZeros.subarray(0, length);
    // Off the event loop where the file system can: nothing waits on the next segment yet.
    await (handle.writeOffThread !== undefined ? handle.writeOffThread(chunk, position) : handle.write(chunk, position));
  }
}

interface RecycledFile {
  name: string;
  /** The number of the segment it was (unique: segment numbers are never reused). */
  previousNumber: number;
  sizeBytes: number;
}

function recycledFileName(previousNumber: number, sizeBytes: number): string {
  return `recycled-${String(previousNumber).padStart(10, '0')}-${sizeBytes}.log`;
}

/**
 * The recycled pool's files, newest (highest previous number) first: the order both
 * takeRecycledSegment takes them in and removeSegmentsBelow keeps them in. Which file
 * of a size is taken does not change the pool's size (one file of that size goes
 * either way); the newest is the likeliest still in the page cache, so the records'
 * partial-page writes over it need no read of the page first. An older file that
 * sits unused is the first the bounds drop, and compact() empties the pool.
 */
async function listRecycled(fileSystem: FileSystem, walDir: string): Promise<RecycledFile[]> {
  const files: RecycledFile[] = [];
  for (const name of await fileSystem.readdir(walDir)) {
    const match = RECYCLED_NAME.exec(name);
    if (match) files.push({ name, previousNumber: Number(match[1]), sizeBytes: Number(match[2]) });
  }
  return files.sort((left, right) => right.previousNumber - left.previousNumber);
}

/**
 * Only sizes the writer makes again are worth keeping: powers of two (the growth from
 * SEGMENT_BYTES_INITIAL, and a power-of-two segmentSizeBytes). A segment made for an
 * outsized commit (its own size) or a cap of another size is unlinked as before.
 */
function isRecyclableSize(sizeBytes: number): boolean {
  return sizeBytes >= SEGMENT_BYTES_MIN && Number.isSafeInteger(sizeBytes) && (sizeBytes & (sizeBytes - 1)) === 0;
}

/**
 * Makes segment `segmentNumber` of `sizeBytes` from a recycled file of that size, if
 * the pool has one: header written and fsynced, renamed to the segment's name, the
 * directory fsynced (durable when this resolves, as createSegment's). Undefined when
 * none fits (or a remover took it meanwhile): the caller creates the segment. Pool
 * files larger than `sizeBytesMax` (the store's segmentSizeBytes: a store reopened with
 * smaller segments never makes them again) are unlinked on the way.
 */
export async function takeRecycledSegment(
  fileSystem: FileSystem,
  walDir: string,
  segmentNumber: number,
  sizeBytes: number,
  hash: Hash64,
  sizeBytesMax: number = Number.MAX_SAFE_INTEGER,
): Promise<CreatedSegment | undefined> {
  assert(sizeBytes <= sizeBytesMax, 'the segment wanted fits the largest size');
  const path = joinPath(walDir, segmentFileName(segmentNumber));
  const pool = await listRecycled(fileSystem, walDir);
  for (const file of pool) if (file.sizeBytes > sizeBytesMax) await unlinkIfPresent(fileSystem, joinPath(walDir, file.name));
  for (const file of pool) {
    if (file.sizeBytes !== sizeBytes) continue;
    const poolPath = joinPath(walDir, file.name);
    const handle = await preparedPoolFile(fileSystem, walDir, poolPath, segmentNumber, sizeBytes, hash);
    if (handle === undefined) continue;
    try {
      await fileSystem.rename(poolPath, path);
      await fileSystem.syncDirectory(walDir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      if (isFileSystemError(error, 'ENOENT')) continue;
      throw error;
    }
    return { segmentNumber, handle, sizeBytes, filledBytes: sizeBytes, tag: recordTagOf(FORMAT_VERSION, segmentNumber), recycled: true };
  }
  return undefined;
}

/**
 * Opens pool file `poolPath` and writes and fsyncs the header of segment
 * `segmentNumber` into it; undefined when it cannot serve (gone, another size, an alias
 * of a live segment, or any I/O error: a pool file holds nothing of the log, so a read
 * or write error on it only drops it from the pool, best effort, and the caller creates
 * a new segment instead, as before format 2).
 */
async function preparedPoolFile(
  fileSystem: FileSystem,
  walDir: string,
  poolPath: string,
  segmentNumber: number,
  sizeBytes: number,
  hash: Hash64,
): Promise<FileHandle | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await fileSystem.open(poolPath, 'readWrite');
    if ((await handle.size()) !== sizeBytes || (await fileSystem.exists(joinPath(walDir, segmentFileName(segmentNumber))))
      || (await aliasesLiveSegment(fileSystem, walDir, handle, hash))) {
      await handle.close();
      return undefined;
    }
    await handle.write(encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber, segmentSizeBytes: sizeBytes }, hash), 0);
    await handle.sync();
    return handle;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (!isFileSystemError(error, 'ENOENT')) await fileSystem.unlink(poolPath).catch(() => undefined);
    return undefined;
  }
}

/**
 * True (and the pool name unlinked) when a pool file's header names a segment that
 * exists: a crash can leave an unsynced rename's file under both names (the fault file
 * system's 'random-subset' does), and writing a new header into it would overwrite
 * that live segment. A pool file's header names the segment it was, which is gone
 * (renamed into the pool), or one a crash left under both names.
 */
async function aliasesLiveSegment(fileSystem: FileSystem, walDir: string, handle: FileHandle, hash: Hash64): Promise<boolean> {
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const read = await handle.read(head, 0, SEGMENT_HEADER_BYTES, 0);
  const header = decodeSegmentHeader(head.subarray(0, read), hash);
  if (typeof header === 'string' || !(await fileSystem.exists(joinPath(walDir, segmentFileName(header.segmentNumber))))) return false;
  await unlinkIfPresent(fileSystem, handle.path);
  return true;
}

/**
 * Unlinks every file of the recycled pool, then fsyncs the directory once (also when
 * the pool was empty but `sync` says the caller unlinked something of its own).
 * Returns how many files and bytes (their sizes, as the names say) were removed.
 * REQUIRES: nothing takes from the pool meanwhile (NextSegment#releaseSpare: the
 * wal.writer lock, with the background preparation awaited). A remover adding to the
 * pool meanwhile (a flush's removeSegmentsBelow) is safe: what it adds after the listing stays.
 */
export async function emptyRecycledPool(fileSystem: FileSystem, walDir: string, sync = false): Promise<{ files: number; bytes: number }> {
  const pool = await listRecycled(fileSystem, walDir);
  for (const file of pool) await unlinkIfPresent(fileSystem, joinPath(walDir, file.name));
  if (pool.length > 0 || sync) await fileSystem.syncDirectory(walDir);
  return { files: pool.length, bytes: pool.reduce((sum, file) => sum + file.sizeBytes, 0) };
}

/**
 * Puts a segment that was made but never written (a prepared next segment a cut left
 * unused) back into the recycled pool. Not synced: the caller's next segment creation
 * syncs the directory, and until then the segment is a valid empty one.
 * REQUIRES: no record of the segment's own use was written into it.
 */
export async function returnToPool(fileSystem: FileSystem, walDir: string, segmentNumber: number, sizeBytes: number): Promise<void> {
  await fileSystem.rename(joinPath(walDir, segmentFileName(segmentNumber)), joinPath(walDir, recycledFileName(segmentNumber, sizeBytes)));
}

/**
 * Removes the segments numbered below `first` (covered by runs: a checkpoint's WAL
 * deletion, or what a crash in the middle of one left) and makes that durable. The
 * newest of them, with the pool's files, are kept in the recycled pool up to its
 * bounds (renamed); the rest, and pool files past the bounds, are unlinked.
 * Returns the removed segments' paths (recycled ones included). `listed`: the segment
 * numbers listSegments returned, when the caller listed wal/ already and nothing has
 * created or removed a segment since (open: one listing for this and recovery).
 */
export async function removeSegmentsBelow(fileSystem: FileSystem, walDir: string, first: number, listed?: readonly number[]): Promise<string[]> {
  const numbers = (listed ?? await listSegments(fileSystem, walDir)).filter((number) => number < first);
  // Nothing below (every clean open): the pool is not listed (a second readdir, a thread-pool round trip).
  if (numbers.length === 0) return [];
  const pool = await listRecycled(fileSystem, walDir);
  const covered: RecycledFile[] = [];
  for (const number of numbers) {
    const handle = await fileSystem.open(joinPath(walDir, segmentFileName(number)), 'read');
    try {
      covered.push({ name: segmentFileName(number), previousNumber: number, sizeBytes: await handle.size() });
    } finally {
      await handle.close();
    }
  }
  // Newest first: the covered segments are newer than every pool file.
  const candidates = [...covered.reverse(), ...pool];
  let keptFiles = 0;
  let keptBytes = 0;
  const paths: string[] = [];
  for (const candidate of candidates) {
    const keep = isRecyclableSize(candidate.sizeBytes) && keptFiles < WAL_RECYCLED_SEGMENTS_MAX && keptBytes + candidate.sizeBytes <= WAL_RECYCLED_BYTES_MAX;
    const path = joinPath(walDir, candidate.name);
    const isSegment = SEGMENT_NAME.test(candidate.name);
    if (keep) {
      keptFiles++;
      keptBytes += candidate.sizeBytes;
      const poolPath = joinPath(walDir, recycledFileName(candidate.previousNumber, candidate.sizeBytes));
      // A crash during an earlier removal can leave both names (rename then does nothing): the pool has it.
      if (isSegment && (await fileSystem.exists(poolPath))) await fileSystem.unlink(path);
      else if (isSegment) await fileSystem.rename(path, poolPath);
    } else if (isSegment) {
      await fileSystem.unlink(path);
    } else {
      await unlinkIfPresent(fileSystem, path);
    }
    if (isSegment) paths.push(path);
  }
  assert(keptFiles <= WAL_RECYCLED_SEGMENTS_MAX && keptBytes <= WAL_RECYCLED_BYTES_MAX, 'the recycled pool stays within its bounds');
  await fileSystem.syncDirectory(walDir);
  return paths.reverse();
}
