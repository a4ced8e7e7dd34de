/**
 * Repair: keeps the valid prefix of a damaged log, drops everything after it, and
 * reports exactly what was dropped.
 *
 * Invariants:
 * - Versions never repeat. Before anything is dropped, a version marker (a record
 *   of one commit with zero operations, docs/FORMAT.md) carrying the highest
 *   version of every checksum-valid record being dropped is written durably where
 *   the kept log ends, so numbering resumes above them even after a crash mid-repair.
 * - No hole: later segments are removed and the directory fsynced before the
 *   damaged segment's tail is cut. A crash in between leaves the damaged record in
 *   place, which an open refuses (or treats as the torn tail it then is, after the
 *   marker), never a log that skips from the kept prefix to later segments.
 * - A marker that needs a segment of its own (no room where the kept log ends, or
 *   nothing kept) is durable in the log before anything is dropped too: the segment is
 *   made under a temporary name with the marker and no header, renamed over the number
 *   it takes (a dropped segment's, or a missing one's) and the directory fsynced; only
 *   then are the other dropped segments removed, and its header is written last. Until
 *   then it is a segment with a bad header and a record in it: an open refuses it, a
 *   repair drops it again and counts its marker (countingTag), so the floor survives a
 *   crash at any point. Removing first left, after a crash, a log without the dropped
 *   segments and without the marker: an open then numbered commits from the kept
 *   prefix's last version again.
 * - Only the records after the damage are dropped; a checksum-valid record that
 *   fails to apply never reaches here (recovery refuses the open).
 */
import { Buffer } from 'node:buffer';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath, unlinkIfPresent } from '../fs/file-system.js';
import { SEGMENT_BYTES_MIN } from '../limits.js';
import { assert } from '../util/assert.js';
import { segmentFileName, zeroFillRange } from './segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  encodeRecord,
  encodeSegmentHeader,
  FORMAT_VERSION,
  type Hash64,
  readUint64,
  RECORD_HEADER_BYTES,
  recordTagOf,
  SEGMENT_HEADER_BYTES,
} from './wal-format.js';
import {
  checkRecord,
  type DecodedCommit,
  decodeRecord,
  plausibleRecordEnd,
} from './wal-record-read.js';
import type { ReplayState } from './wal-recovery.js';
import { endOfData, findValidRecordFrom, readSegment, type SegmentImage, zeroTail } from './wal-scan.js';

/** Bytes of a version marker record: a record header and one commit header, no operations. */
export const VERSION_MARKER_BYTES = RECORD_HEADER_BYTES + COMMIT_HEADER_BYTES;

export interface RepairReport {
  file: string;
  offset: number;
  reason: string;
  /** Records dropped: every checksum-valid one, plus the damaged record (or lost write) at `offset`. */
  droppedRecords: number;
  /** Commits of the dropped checksum-valid records, plus the damaged record's if its header reads consistently. */
  droppedCommits: number;
  droppedBytes: number;
  droppedSegments: string[];
  /**
   * From one past the last kept version to the highest version of a dropped
   * checksum-valid record; undefined when no dropped record could be read.
   * Writing resumes above `last`.
   */
  droppedVersions: { first: number; last: number } | undefined;
}

/** Where the kept log ends: a segment and the offset after its last kept record. */
export interface KeptEnd {
  segment: SegmentImage;
  offset: number;
}

export type RepairTarget =
  /** A damaged record at `offset` of `segment`; the segment's records before it are kept. */
  | { kind: 'record'; segment: SegmentImage; offset: number; reason: string; later: number[] }
  /** A whole damaged segment (header or size); `kept` is where the previous segment's records end. */
  | { kind: 'segment'; segment: SegmentImage; reason: string; kept: KeptEnd | undefined; later: number[] }
  /** A segment missing from the middle: `later` are the segments after the gap. */
  | { kind: 'gap'; missing: string; kept: KeptEnd | undefined; later: number[] };

export interface RepairOutcome {
  report: RepairReport;
  /** Where writing resumes (after the version marker, if one was written). */
  resume: KeptEnd | undefined;
}

export async function repairFrom(
  fileSystem: FileSystem,
  walDir: string,
  hash: Hash64,
  target: RepairTarget,
  state: ReplayState,
  onRecord: (commits: readonly DecodedCommit[], segmentNumber?: number) => void,
): Promise<RepairOutcome> {
  const { report, highestVersion, kept, removed } = await survey(fileSystem, walDir, hash, target, state.lastVersion);
  const floor = highestVersion > state.lastVersion ? highestVersion : undefined;
  report.droppedVersions = floor === undefined ? undefined : { first: state.lastVersion + 1, last: floor };
  let resume = kept;
  /** The number of the segment a marker with no room where the kept log ends opens (its header still to write). */
  let markerSegment: number | undefined;
  if (floor !== undefined && kept !== undefined && kept.offset + VERSION_MARKER_BYTES <= kept.segment.image.length) {
    await writeVersionMarker(fileSystem, kept.segment, kept.offset, floor, hash);
    resume = { segment: kept.segment, offset: kept.offset + VERSION_MARKER_BYTES };
  } else if (floor !== undefined) {
    // No room where the kept log ends (or nothing kept): the marker opens a new segment,
    // numbered right after the kept ones, in the log before anything is dropped (module header).
    markerSegment = kept === undefined ? removed[0]! : kept.segment.segmentNumber + 1;
    await placeMarkerSegment(fileSystem, walDir, markerSegment, floor, hash);
  }
  await removeSegmentsDurably(fileSystem, walDir, removed.filter((number) => number !== markerSegment));
  if (target.kind === 'record') await zeroTail(fileSystem, target.segment, resume!.offset);
  if (markerSegment !== undefined) {
    await completeMarkerSegment(fileSystem, walDir, markerSegment, hash);
    const segment = await readSegment(fileSystem, walDir, markerSegment);
    resume = { segment, offset: SEGMENT_HEADER_BYTES + VERSION_MARKER_BYTES };
  }
  if (floor !== undefined) {
    onRecord([{ version: floor, operations: [] }]);
    state.lastVersion = floor;
    state.records++;
    state.commits++;
  }
  return { report, resume };
}

interface Survey {
  report: RepairReport;
  highestVersion: number;
  kept: KeptEnd | undefined;
  /** Whole segments to remove. */
  removed: number[];
}

/** Reads (without changing anything) what the repair drops. */
async function survey(fileSystem: FileSystem, walDir: string, hash: Hash64, target: RepairTarget, keptVersion: number): Promise<Survey> {
  const file = target.kind === 'gap' ? target.missing : target.segment.path;
  const report: RepairReport = {
    file, offset: target.kind === 'record' ? target.offset : 0, reason: target.kind === 'gap' ? 'segment missing from the middle of the log' : target.reason,
    droppedRecords: 0, droppedCommits: 0, droppedBytes: 0, droppedSegments: [], droppedVersions: undefined,
  };
  const tally = { highestVersion: 0, firstReadableVersion: undefined as number | undefined };
  let kept: KeptEnd | undefined;
  let removed: number[];
  if (target.kind === 'record') {
    const { image } = target.segment;
    const resyncFrom = plausibleRecordEnd(image, target.offset, target.segment.tag) ?? target.offset + 1;
    countReadableRecords(image, resyncFrom, hash, target.segment.tag, report, tally);
    report.droppedBytes += endOfData(image, target.offset) - target.offset;
    kept = { segment: target.segment, offset: target.offset };
    removed = target.later;
  } else if (target.kind === 'segment') {
    countReadableRecords(target.segment.image, SEGMENT_HEADER_BYTES, hash, countingTag(target.segment, hash), report, tally);
    report.droppedBytes += target.segment.image.length;
    report.droppedSegments.push(target.segment.path);
    kept = target.kept;
    removed = [target.segment.segmentNumber, ...target.later];
  } else {
    kept = target.kept;
    removed = target.later;
  }
  for (const segmentNumber of target.later) {
    const segment = await readSegment(fileSystem, walDir, segmentNumber);
    countReadableRecords(segment.image, SEGMENT_HEADER_BYTES, hash, countingTag(segment, hash), report, tally);
    report.droppedBytes += segment.image.length;
    report.droppedSegments.push(segment.path);
  }
  if (target.kind === 'record') countDamagedRecord(target.segment, target.offset, keptVersion, tally.firstReadableVersion, report);
  return { report, highestVersion: tally.highestVersion, kept, removed };
}

/**
 * The use tag a dropped segment's records are counted by. SegmentImage#tag is read from
 * the header's format-version field (recordTagOfImage), which may be the damage itself: a
 * flipped bit or a lost sector made a format-2 header read as format 1 (tag 0), none of
 * its records was found, and with none the version marker was not written, so the next
 * commit took a version a dropped commit had. So the format-2 tag of the segment's number
 * is tried first (a recycled file's earlier use never carries it), then format 1's 0.
 */
function countingTag(segment: SegmentImage, hash: Hash64): number {
  const { image, segmentNumber } = segment;
  const tagged = recordTagOf(FORMAT_VERSION, segmentNumber);
  if (findValidRecordFrom(image, SEGMENT_HEADER_BYTES, hash, tagged) !== undefined) return tagged;
  if (findValidRecordFrom(image, SEGMENT_HEADER_BYTES, hash, 0) !== undefined) return 0;
  return segment.tag;
}

/** The damaged record (or lost write) at `offset` is one dropped record; its commits count when its header reads consistently. */
function countDamagedRecord(segment: SegmentImage, offset: number, keptVersion: number, nextReadable: number | undefined, report: RepairReport): void {
  const { image } = segment;
  report.droppedRecords++;
  if (plausibleRecordEnd(image, offset, segment.tag) === undefined) return;
  const firstVersion = readUint64(image, offset + 16);
  const commitCount = image.readUInt32LE(offset + 24);
  const fits = firstVersion > keptVersion && (nextReadable === undefined || firstVersion + commitCount - 1 < nextReadable);
  if (fits) report.droppedCommits += commitCount;
}

/** Counts the checksum-valid records from `offset` on (what a repair drops, as far as it can be read). */
function countReadableRecords(
  image: Buffer,
  offset: number,
  hash: Hash64,
  tag: number,
  report: RepairReport,
  tally: { highestVersion: number; firstReadableVersion: number | undefined },
): void {
  let position = findValidRecordFrom(image, offset, hash, tag);
  while (position !== undefined) {
    const check = checkRecord(image, position, hash, tag);
    assert(check.kind === 'valid', 'found record is valid');
    report.droppedRecords++;
    report.droppedCommits += check.commitCount;
    tally.firstReadableVersion ??= check.firstVersion;
    tally.highestVersion = Math.max(tally.highestVersion, lastVersionOf(image, position, check.firstVersion));
    position = findValidRecordFrom(image, position + check.lengthBytes, hash, tag);
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

/**
 * Writes a version marker record at `offset` and makes it durable, with an all-zero
 * record header after it where the segment has room: in a recycled segment the bytes
 * there may be the middle of an earlier use's record, which must read as the end.
 */
async function writeVersionMarker(fileSystem: FileSystem, segment: SegmentImage, offset: number, version: number, hash: Hash64): Promise<void> {
  const terminatorBytes = Math.max(0, Math.min(RECORD_HEADER_BYTES, segment.image.length - offset - VERSION_MARKER_BYTES));
  const marker = Buffer.alloc(VERSION_MARKER_BYTES + terminatorBytes);
  const length = encodeRecord([{ version, operations: [], sizeBytes: COMMIT_HEADER_BYTES }], marker, 0, hash, segment.tag);
  assert(length === VERSION_MARKER_BYTES && offset + marker.length <= segment.image.length, 'the marker fits where it is written');
  const handle = await fileSystem.open(segment.path, 'readWrite');
  try {
    await handle.write(marker, offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  marker.copy(segment.image, offset);
}

/** The name a marker segment is made under before it takes its number (placeMarkerSegment): no segment or pool name. */
export const MARKER_SEGMENT_TEMPORARY_NAME = 'repair-marker.tmp';

/**
 * Puts segment `segmentNumber` in the log holding a version marker of `version` at its
 * first record and no header yet: made under MARKER_SEGMENT_TEMPORARY_NAME (sized to
 * SEGMENT_BYTES_MIN, zero-filled, the marker written, fsynced), renamed over the
 * segment's name (a dropped segment's file, or none), the directory fsynced. A crash
 * before the rename leaves the log as it was (and the temporary file, which the next
 * repair replaces); after it, a segment an open refuses (a bad header with a record in
 * it) and a repair drops again, counting the marker. completeMarkerSegment writes the header.
 */
async function placeMarkerSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number, version: number, hash: Hash64): Promise<void> {
  const temporary = joinPath(walDir, MARKER_SEGMENT_TEMPORARY_NAME);
  await unlinkIfPresent(fileSystem, temporary);
  const marker = Buffer.alloc(VERSION_MARKER_BYTES);
  encodeRecord([{ version, operations: [], sizeBytes: COMMIT_HEADER_BYTES }], marker, 0, hash, recordTagOf(FORMAT_VERSION, segmentNumber));
  const handle = await fileSystem.open(temporary, 'createExclusive');
  try {
    await handle.truncate(SEGMENT_BYTES_MIN);
    await zeroFillRange(handle, 0, SEGMENT_BYTES_MIN);
    await handle.write(marker, SEGMENT_HEADER_BYTES);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fileSystem.rename(temporary, joinPath(walDir, segmentFileName(segmentNumber)));
  await fileSystem.syncDirectory(walDir);
}

/** Writes the header of a segment placeMarkerSegment made, and fsyncs it: from then on it is a valid segment. */
async function completeMarkerSegment(fileSystem: FileSystem, walDir: string, segmentNumber: number, hash: Hash64): Promise<void> {
  const handle = await fileSystem.open(joinPath(walDir, segmentFileName(segmentNumber)), 'readWrite');
  try {
    assert((await handle.size()) === SEGMENT_BYTES_MIN, 'the marker segment has the size it was made with');
    await handle.write(encodeSegmentHeader({ formatVersion: FORMAT_VERSION, segmentNumber, segmentSizeBytes: SEGMENT_BYTES_MIN }, hash), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Unlinks whole segments, newest first, then fsyncs the directory. */
async function removeSegmentsDurably(fileSystem: FileSystem, walDir: string, numbers: readonly number[]): Promise<void> {
  if (numbers.length === 0) return;
  for (const segmentNumber of [...numbers].reverse()) await fileSystem.unlink(joinPath(walDir, segmentFileName(segmentNumber)));
  await fileSystem.syncDirectory(walDir);
}
