/**
 * WAL recovery: replays every segment in order and decides where writing resumes.
 *
 * What a crash can leave, and what recovery does with it:
 * - A torn record at the tail of the last segment that holds data (the one group
 *   write in flight, never acknowledged): zeroed out on disk, replay stops there.
 * - A segment whose creation did not finish (bad header, nothing after it but
 *   zeros): removed. Records are only written into fully created segments.
 * Anything else that fails validation (a bad record followed by a valid one, a bad
 * record in an earlier segment, versions out of order) cannot come from a crash:
 * open fails with CorruptionError naming the file and offset, unless `repair` is
 * set, in which case the valid prefix is kept and everything after the bad record
 * is dropped and reported exactly (records, commits, versions, bytes).
 */
import { Buffer } from 'node:buffer';
import { AssertionFailedError, CorruptionError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { listSegments, segmentFileName } from './segment-files.js';
import type { WalPosition } from './wal-writer.js';
import {
  checkRecord,
  type DecodedCommit,
  decodeRecord,
  decodeSegmentHeader,
  type Hash64,
  isZero,
  RECORD_MAGIC,
  SEGMENT_HEADER_BYTES,
} from './wal-format.js';

export interface RepairReport {
  file: string;
  offset: number;
  reason: string;
  droppedRecords: number;
  droppedCommits: number;
  droppedBytes: number;
  droppedSegments: string[];
  /** Versions of the dropped commits that could still be read, if any. */
  droppedVersions: { first: number; last: number } | undefined;
}

export interface TornTail {
  file: string;
  offset: number;
  zeroedBytes: number;
}

export interface WalRecoveryResult {
  lastVersion: number;
  records: number;
  commits: number;
  /** Where the writer resumes; undefined when there is no usable segment yet. */
  resume: WalPosition | undefined;
  /** The number the next new segment gets. */
  nextSegmentNumber: number;
  tornTail: TornTail | undefined;
  repair: RepairReport | undefined;
  removedSegments: string[];
}

interface SegmentImage {
  segmentNumber: number;
  path: string;
  image: Buffer;
}

interface ReplayState {
  lastVersion: number;
  records: number;
  commits: number;
}

type SegmentOutcome =
  | { kind: 'complete'; endOffset: number }
  | { kind: 'bad-record'; offset: number; reason: string }
  | { kind: 'bad-header'; reason: string };

export async function recoverWal(
  fileSystem: FileSystem,
  walDir: string,
  hash: Hash64,
  repair: boolean,
  onRecord: (commits: readonly DecodedCommit[]) => void,
): Promise<WalRecoveryResult> {
  const numbers = await listSegments(fileSystem, walDir);
  const state: ReplayState = { lastVersion: 0, records: 0, commits: 0 };
  const result: WalRecoveryResult = {
    lastVersion: 0, records: 0, commits: 0, resume: undefined,
    nextSegmentNumber: (numbers[numbers.length - 1] ?? 0) + 1,
    tornTail: undefined, repair: undefined, removedSegments: [],
  };
  let resumeCandidate: { segment: SegmentImage; offset: number } | undefined;
  let lastData: { segment: SegmentImage; endOffset: number } | undefined;
  for (let index = 0; index < numbers.length; index++) {
    if (index > 0 && numbers[index] !== numbers[index - 1]! + 1) {
      // A missing segment is never a crash of ours (segments are only ever created in order).
      const missing = joinPath(walDir, segmentFileName(numbers[index - 1]! + 1));
      if (!repair) throw new CorruptionError(missing, 0, 'segment missing from the middle of the log');
      result.repair = await dropSegmentsAfterGap(fileSystem, walDir, missing, numbers.slice(index), hash);
      break;
    }
    const segment = await readSegment(fileSystem, walDir, numbers[index]!);
    const outcome = replaySegment(segment, hash, state, onRecord);
    const endOffset = outcome.kind === 'complete' ? outcome.endOffset : outcome.kind === 'bad-record' ? outcome.offset : 0;
    if (endOffset > SEGMENT_HEADER_BYTES) lastData = { segment, endOffset };
    if (outcome.kind === 'complete') {
      resumeCandidate = { segment, offset: outcome.endOffset };
      continue;
    }
    const later = numbers.slice(index + 1);
    const laterHasData = await anySegmentHasRecords(fileSystem, walDir, later);
    if (outcome.kind === 'bad-header') {
      if (!laterHasData && isZero(segment.image, SEGMENT_HEADER_BYTES, segment.image.length)) {
        await removeSegments(fileSystem, walDir, [segment.segmentNumber, ...later], result);
        break;
      }
      if (!repair) throw new CorruptionError(segment.path, 0, outcome.reason);
      result.repair = await dropFrom(fileSystem, walDir, segment, SEGMENT_HEADER_BYTES, later, outcome.reason, hash, true);
      break;
    }
    const laterInSegment = findValidRecordAfter(segment.image, outcome.offset, hash);
    if (!laterHasData && laterInSegment === undefined) {
      result.tornTail = await zeroTail(fileSystem, segment, outcome.offset);
      resumeCandidate = { segment, offset: outcome.offset };
      await keepOnlyEmptyLater(fileSystem, walDir, later, hash, result, (image) => { resumeCandidate = image; });
      break;
    }
    if (!repair) throw new CorruptionError(segment.path, outcome.offset, outcome.reason);
    result.repair = await dropFrom(fileSystem, walDir, segment, outcome.offset, later, outcome.reason, hash, false);
    resumeCandidate = { segment, offset: outcome.offset };
    break;
  }
  result.lastVersion = state.lastVersion;
  result.records = state.records;
  result.commits = state.commits;
  if (lastData !== undefined) await rewriteDurably(fileSystem, lastData.segment, lastData.endOffset);
  if (resumeCandidate !== undefined) result.resume = await openForResume(fileSystem, walDir, resumeCandidate.segment, resumeCandidate.offset);
  if (result.resume !== undefined) result.nextSegmentNumber = result.resume.segmentNumber + 1;
  return result;
}

async function readSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number): Promise<SegmentImage> {
  const path = joinPath(walDir, segmentFileName(segmentNumber));
  const image = Buffer.from(await fileSystem.readFile(path));
  return { segmentNumber, path, image };
}

/**
 * Replays one segment's records through `onRecord`, which applies a whole record or
 * throws without applying any of it (a value that cannot be decoded): such a record
 * is treated like any other invalid one, so repair can drop it cleanly.
 */
function replaySegment(
  segment: SegmentImage,
  hash: Hash64,
  state: ReplayState,
  onRecord: (commits: readonly DecodedCommit[]) => void,
): SegmentOutcome {
  const header = decodeSegmentHeader(segment.image, hash);
  if (typeof header === 'string') return { kind: 'bad-header', reason: header };
  if (header.segmentNumber !== segment.segmentNumber) {
    return { kind: 'bad-header', reason: `header names segment ${header.segmentNumber}` };
  }
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const check = checkRecord(segment.image, offset, hash);
    if (check.kind === 'end') {
      // Zeros end a segment's records only if nothing valid follows them: a record
      // after zeros means a write in between was lost (never a crash of ours).
      if (findValidRecordAfter(segment.image, offset, hash) === undefined) return { kind: 'complete', endOffset: offset };
      return { kind: 'bad-record', offset, reason: 'zeroed record header followed by valid records (a lost write)' };
    }
    if (check.kind === 'invalid') return { kind: 'bad-record', offset, reason: check.reason };
    const problem = replayRecord(segment.image, offset, state, onRecord);
    if (problem !== undefined) return { kind: 'bad-record', offset, reason: problem };
    state.records++;
    offset += check.lengthBytes;
  }
}

/** Decodes, checks and applies one record; returns why it is invalid, or undefined. */
function replayRecord(
  image: Buffer,
  offset: number,
  state: ReplayState,
  onRecord: (commits: readonly DecodedCommit[]) => void,
): string | undefined {
  let commits: DecodedCommit[];
  try {
    commits = decodeRecord(image, offset);
  } catch (error) {
    return `malformed payload: ${(error as Error).message}`;
  }
  let previous = state.lastVersion;
  for (const commit of commits) {
    if (commit.version <= previous) return `version ${commit.version} does not follow ${previous}`;
    previous = commit.version;
  }
  try {
    onRecord(commits);
  } catch (error) {
    if (error instanceof AssertionFailedError) throw error;
    return `record cannot be applied: ${(error as Error).message}`;
  }
  state.lastVersion = previous;
  state.commits += commits.length;
  return undefined;
}

/** Offset of the first checksum-valid record strictly after `offset`, if any. */
function findValidRecordAfter(image: Buffer, offset: number, hash: Hash64): number | undefined {
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORD_MAGIC, 0);
  let search = offset + 1;
  for (;;) {
    const found = image.indexOf(magic, search + 8);
    if (found < 0) return undefined;
    const candidate = found - 8;
    if (candidate > offset && checkRecord(image, candidate, hash).kind === 'valid') return candidate;
    search = candidate + 1;
  }
}

async function anySegmentHasRecords(fileSystem: FileSystem, walDir: string, numbers: number[]): Promise<boolean> {
  for (const segmentNumber of numbers) {
    const segment = await readSegment(fileSystem, walDir, segmentNumber);
    // Records are written only into fully created segments, so zeros after the header
    // (whatever the header holds: it may be a creation cut short) mean no data.
    if (!isZero(segment.image, SEGMENT_HEADER_BYTES, segment.image.length)) return true;
  }
  return false;
}

/** After a torn tail: later segments hold no data; keep the last fully created one to resume in. */
async function keepOnlyEmptyLater(
  fileSystem: FileSystem,
  walDir: string,
  later: number[],
  hash: Hash64,
  result: WalRecoveryResult,
  setResume: (candidate: { segment: SegmentImage; offset: number }) => void,
): Promise<void> {
  for (const segmentNumber of later) {
    const segment = await readSegment(fileSystem, walDir, segmentNumber);
    if (typeof decodeSegmentHeader(segment.image, hash) === 'string') {
      await removeSegments(fileSystem, walDir, [segmentNumber], result);
    } else {
      setResume({ segment, offset: SEGMENT_HEADER_BYTES });
    }
  }
}

/**
 * Rewrites the replayed records of the last segment that holds data, then
 * datasyncs it. What recovery read may have come from the page cache of a process
 * whose fdatasync failed (Linux then marks the pages clean without writing them):
 * replayed, visible, yet not on disk. Rewriting dirties those pages again, so the
 * sync really writes them before anything is served or appended after them.
 * Earlier segments were synced before the writer moved on from them.
 */
async function rewriteDurably(fileSystem: FileSystem, segment: SegmentImage, endOffset: number): Promise<void> {
  const handle = await fileSystem.open(segment.path, 'readWrite');
  try {
    await handle.write(segment.image.subarray(SEGMENT_HEADER_BYTES, endOffset), SEGMENT_HEADER_BYTES);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Zeroes a torn tail (from `offset` to the last non-zero byte) and makes that durable. */
async function zeroTail(fileSystem: FileSystem, segment: SegmentImage, offset: number): Promise<TornTail> {
  let end = segment.image.length;
  while (end > offset && segment.image[end - 1] === 0) end--;
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
  return { file: segment.path, offset, zeroedBytes };
}

async function dropFrom(
  fileSystem: FileSystem,
  walDir: string,
  segment: SegmentImage,
  offset: number,
  later: number[],
  reason: string,
  hash: Hash64,
  dropWholeSegment: boolean,
): Promise<RepairReport> {
  const report: RepairReport = {
    file: segment.path, offset, reason, droppedRecords: 0, droppedCommits: 0, droppedBytes: 0,
    droppedSegments: [], droppedVersions: undefined,
  };
  countReadableRecords(segment.image, offset, hash, report);
  for (const segmentNumber of later) {
    const laterSegment = await readSegment(fileSystem, walDir, segmentNumber);
    countReadableRecords(laterSegment.image, SEGMENT_HEADER_BYTES, hash, report);
    report.droppedBytes += laterSegment.image.length;
    report.droppedSegments.push(laterSegment.path);
  }
  if (dropWholeSegment) {
    report.droppedSegments.unshift(segment.path);
    report.droppedBytes += segment.image.length;
    await removeSegments(fileSystem, walDir, [segment.segmentNumber, ...later], undefined);
    return report;
  }
  report.droppedBytes += (await zeroTail(fileSystem, segment, offset)).zeroedBytes;
  await removeSegments(fileSystem, walDir, later, undefined);
  return report;
}

/** Repair of a gap: the segments after it are dropped, and reported as read. */
async function dropSegmentsAfterGap(fileSystem: FileSystem, walDir: string, missing: string, later: number[], hash: Hash64): Promise<RepairReport> {
  const report: RepairReport = {
    file: missing, offset: 0, reason: 'segment missing from the middle of the log', droppedRecords: 0, droppedCommits: 0,
    droppedBytes: 0, droppedSegments: [], droppedVersions: undefined,
  };
  for (const segmentNumber of later) {
    const segment = await readSegment(fileSystem, walDir, segmentNumber);
    countReadableRecords(segment.image, SEGMENT_HEADER_BYTES, hash, report);
    report.droppedBytes += segment.image.length;
    report.droppedSegments.push(segment.path);
  }
  await removeSegments(fileSystem, walDir, later, undefined);
  return report;
}

/** Counts the checksum-valid records from `offset` on (what a repair drops, as far as it can be read). */
function countReadableRecords(image: Buffer, offset: number, hash: Hash64, report: RepairReport): void {
  let position = findValidRecordAfter(image, offset - 1, hash);
  while (position !== undefined) {
    const check = checkRecord(image, position, hash);
    assert(check.kind === 'valid', 'found record is valid');
    report.droppedRecords++;
    report.droppedCommits += check.commitCount;
    const first = check.firstVersion;
    const last = lastVersionOf(image, position, first);
    const versions = report.droppedVersions;
    report.droppedVersions = versions === undefined
      ? { first, last }
      : { first: Math.min(versions.first, first), last: Math.max(versions.last, last) };
    position = findValidRecordAfter(image, position + check.lengthBytes - 1, hash);
  }
}

/** The version of a record's last commit (its first version if the payload does not decode). */
function lastVersionOf(image: Buffer, offset: number, firstVersion: number): number {
  try {
    const commits = decodeRecord(image, offset);
    return commits[commits.length - 1]?.version ?? firstVersion;
  } catch {
    return firstVersion;
  }
}

async function removeSegments(
  fileSystem: FileSystem,
  walDir: string,
  numbers: number[],
  result: WalRecoveryResult | undefined,
): Promise<void> {
  if (numbers.length === 0) return;
  for (const segmentNumber of numbers) {
    const path = joinPath(walDir, segmentFileName(segmentNumber));
    await fileSystem.unlink(path);
    result?.removedSegments.push(path);
  }
  await fileSystem.syncDirectory(walDir);
}

/**
 * Opens the segment writing resumes in, and makes it and its directory entry
 * durable first: a process killed while creating it may have left it complete in
 * the page cache only, and a power loss would then take every write made into it.
 */
async function openForResume(fileSystem: FileSystem, walDir: string, segment: SegmentImage, offset: number): Promise<WalPosition> {
  const handle = await fileSystem.open(segment.path, 'readWrite');
  try {
    await handle.sync();
    await fileSystem.syncDirectory(walDir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return { segmentNumber: segment.segmentNumber, handle, sizeBytes: segment.image.length, offset };
}
