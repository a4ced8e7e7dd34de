/**
 * WAL recovery: replays every segment in order and decides where writing resumes.
 *
 * What a crash can leave, and what recovery does with it:
 * - A torn record at the tail of the last segment that holds data (the one group
 *   write in flight, never acknowledged): zeroed out on disk, replay stops there.
 * - A segment whose creation did not finish (bad header, or a file shorter than
 *   its header says, with nothing after the header but zeros): removed. Records
 *   are only written into fully created segments.
 * Anything else that fails validation (a bad record followed by a valid one, a bad
 * record in an earlier segment, a missing segment, a segment whose size differs
 * from its header's) cannot come from a crash: open fails with CorruptionError
 * naming the file and offset, unless `repair` is set, in which case the valid
 * prefix is kept, everything after it is dropped and reported (src/wal/wal-repair.ts).
 *
 * Invariants:
 * - A record whose checksum is valid is never zeroed, skipped or dropped as a torn
 *   tail: if it cannot be decoded or applied (versions out of order, a value this
 *   process cannot decode), the open fails with CorruptionError, with or without
 *   repair. Only repair drops checksum-valid records, and only those after damage.
 * - The log begins at `expectedFirstSegment`; a log that does not is refused.
 * - The resync search after a failed record starts past that record's claimed
 *   extent when its header is plausible (a torn record's own payload may hold bytes
 *   that look like records), and each candidate is hashed only when its header is
 *   plausible, over at most the bytes left in the segment.
 * - `lastVersion` is at least every version of every checksum-valid record repair
 *   dropped (a marker record makes that durable), so versions never repeat.
 *
 * Decoding: a record's payload is walked once by decodeRecordWith, which hands each
 * operation's key and value to the caller's OperationDecoder as offsets into the
 * segment image (openStore builds its memtable form straight from them: no view per
 * key or value, issue 7). Without a decoder, the operations are wal-format.ts's
 * WalOperation views, as decodeRecord makes them (test/replay-decode.test.ts holds the
 * two to the same answers and the same refusals).
 */
import { AssertionFailedError, CorruptionError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { FIRST_SEGMENT_NUMBER, listSegments, segmentFileName } from './segment-files.js';
import type { WalPosition } from './wal-writer.js';
import type { Buffer } from 'node:buffer';
import {
  checkRecord,
  COMMIT_HEADER_BYTES,
  type DecodedCommit,
  decodeSegmentHeader,
  type Hash64,
  isZero,
  OPERATION_DELETE,
  OPERATION_PUT,
  plausibleRecordEnd,
  readUint64,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  type WalOperation,
} from './wal-format.js';
import { findValidRecordFrom, readSegment, type SegmentImage, zeroTail } from './wal-scan.js';
import { repairFrom, type RepairReport, type RepairTarget } from './wal-repair.js';

export type { RepairReport } from './wal-repair.js';

export interface TornTail {
  file: string;
  offset: number;
  zeroedBytes: number;
}

export interface WalRecoveryOptions {
  /**
   * The segment number the log must begin with: FIRST_SEGMENT_NUMBER (1) for a
   * store without a manifest; a manifest passes the WAL start it recorded.
   */
  expectedFirstSegment?: number;
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

export interface ReplayState {
  lastVersion: number;
  records: number;
  commits: number;
}

/** A checksum-valid record whose payload does not follow the format (replayRecord says so). */
export class MalformedPayloadError extends Error {}

/** One commit of a replayed record, its operations in the caller's form. */
export interface ReplayedCommit<Operation> {
  version: number;
  operations: Operation[];
}

/** Receives each checksum-valid record's commits; applies all of them or throws. */
export type RecordSink<Operation> = (commits: readonly ReplayedCommit<Operation>[], segmentNumber?: number) => void;

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

/** wal-format.ts's WalOperation: views into the image (verify, tests). */
export const WAL_OPERATION_DECODER: OperationDecoder<WalOperation> = {
  keeps: () => true,
  put: (image, keyStart, keyEnd, valueStart, valueEnd) => ({ type: OPERATION_PUT, key: image.subarray(keyStart, keyEnd), value: image.subarray(valueStart, valueEnd) }),
  delete: (image, keyStart, keyEnd) => ({ type: OPERATION_DELETE, key: image.subarray(keyStart, keyEnd) }),
};

type SegmentOutcome =
  | { kind: 'complete'; endOffset: number }
  | { kind: 'bad-record'; offset: number; reason: string }
  | { kind: 'bad-header'; reason: string };

export function recoverWal(
  fileSystem: FileSystem,
  walDir: string,
  hash: Hash64,
  repair: boolean,
  onRecord: RecordSink<WalOperation>,
  options?: WalRecoveryOptions,
): Promise<WalRecoveryResult>;
export function recoverWal<Operation>(
  fileSystem: FileSystem,
  walDir: string,
  hash: Hash64,
  repair: boolean,
  onRecord: RecordSink<Operation>,
  options: WalRecoveryOptions & { decoder: OperationDecoder<Operation> },
): Promise<WalRecoveryResult>;
export async function recoverWal<Operation>(
  fileSystem: FileSystem,
  walDir: string,
  hash: Hash64,
  repair: boolean,
  onRecord: RecordSink<Operation>,
  options: WalRecoveryOptions & { decoder?: OperationDecoder<Operation> } = {},
): Promise<WalRecoveryResult> {
  // Without a decoder the overloads make Operation WalOperation.
  const decoder = options.decoder ?? (WAL_OPERATION_DECODER as unknown as OperationDecoder<Operation>);
  const expectedFirstSegment = options.expectedFirstSegment ?? FIRST_SEGMENT_NUMBER;
  assert(Number.isSafeInteger(expectedFirstSegment) && expectedFirstSegment >= 1, 'expectedFirstSegment is a segment number');
  // Segments below the start are covered by runs: a checkpoint that crashed while
  // deleting them leaves them behind. Open removes them first; verify skips them.
  const numbers = (await listSegments(fileSystem, walDir)).filter((number) => number >= expectedFirstSegment);
  checkLogStart(walDir, numbers, expectedFirstSegment);
  const state: ReplayState = { lastVersion: 0, records: 0, commits: 0 };
  const result: WalRecoveryResult = {
    lastVersion: 0, records: 0, commits: 0, resume: undefined, nextSegmentNumber: expectedFirstSegment,
    tornTail: undefined, repair: undefined, removedSegments: [],
  };
  let resumeCandidate: { segment: SegmentImage; offset: number } | undefined;
  let lastData: { segment: SegmentImage; endOffset: number } | undefined;
  let repairTarget: RepairTarget | undefined;
  // The next segment's read, started before this one replays (the read overlaps the
  // replay's CPU); awaited before anything else reads or leaves, so no read outlives the loop.
  let nextRead: Promise<SegmentImage> | undefined;
  try {
    for (let index = 0; index < numbers.length; index++) {
      if (index > 0 && numbers[index] !== numbers[index - 1]! + 1) {
        // A missing segment is never a crash of ours (segments are only ever created in order).
        const missing = joinPath(walDir, segmentFileName(numbers[index - 1]! + 1));
        if (!repair) throw new CorruptionError(missing, 0, 'segment missing from the middle of the log');
        repairTarget = { kind: 'gap', missing, kept: resumeCandidate, later: numbers.slice(index) };
        break;
      }
      const read = nextRead ?? readSegment(fileSystem, walDir, numbers[index]!);
      nextRead = undefined;
      const segment = await read;
      if (index + 1 < numbers.length && numbers[index + 1] === numbers[index]! + 1) {
        nextRead = readSegment(fileSystem, walDir, numbers[index + 1]!);
        nextRead.catch(() => undefined); // observed when awaited (next turn, or the finally below)
      }
      const outcome = replaySegment(segment, hash, state, decoder, onRecord);
      if (outcome.kind !== 'complete' && nextRead !== undefined) {
        // What follows reads the later segments itself: settle the read first.
        await nextRead.catch(() => undefined);
        nextRead = undefined;
      }
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
        repairTarget = { kind: 'segment', segment, reason: outcome.reason, kept: resumeCandidate, later };
        break;
      }
      // Resync past the failed record's claimed extent: its own payload may hold bytes of records.
      const resyncFrom = plausibleRecordEnd(segment.image, outcome.offset) ?? outcome.offset + 1;
      if (!laterHasData && findValidRecordFrom(segment.image, resyncFrom, hash) === undefined) {
        result.tornTail = await zeroTail(fileSystem, segment, outcome.offset);
        resumeCandidate = { segment, offset: outcome.offset };
        await keepOnlyEmptyLater(fileSystem, walDir, later, hash, result, (image) => { resumeCandidate = image; });
        break;
      }
      if (!repair) throw new CorruptionError(segment.path, outcome.offset, outcome.reason);
      repairTarget = { kind: 'record', segment, offset: outcome.offset, reason: outcome.reason, later };
      break;
    }
  } finally {
    // A replay that threw leaves the next read in flight: it ends before the open fails.
    await nextRead?.catch(() => undefined);
  }
  if (repairTarget !== undefined) {
    // Repair replays only the version marker it writes: a commit without operations.
    const repaired = await repairFrom(fileSystem, walDir, hash, repairTarget, state,
      (markers, segmentNumber) => onRecord(markers.map((marker) => asMarker<Operation>(marker)), segmentNumber));
    result.repair = repaired.report;
    resumeCandidate = repaired.resume;
  }
  result.lastVersion = state.lastVersion;
  result.records = state.records;
  result.commits = state.commits;
  result.resume = await rewriteAndOpenForResume(fileSystem, walDir, lastData, resumeCandidate);
  if (result.resume !== undefined) result.nextSegmentNumber = result.resume.segmentNumber + 1;
  return result;
}

function asMarker<Operation>(commit: DecodedCommit): ReplayedCommit<Operation> {
  assert(commit.operations.length === 0, 'repair replays only version markers');
  return { version: commit.version, operations: [] };
}

/**
 * rewriteDurably and openForResume, concurrently (two independent fsyncs, often of the
 * same file through two handles): both are done before recovery returns, which is all
 * either needs. If either fails, the open fails, and a handle the other opened is closed.
 */
async function rewriteAndOpenForResume(
  fileSystem: FileSystem,
  walDir: string,
  lastData: { segment: SegmentImage; endOffset: number } | undefined,
  resumeCandidate: { segment: SegmentImage; offset: number } | undefined,
): Promise<WalPosition | undefined> {
  const [rewritten, resumed] = await Promise.allSettled([
    lastData === undefined ? undefined : rewriteDurably(fileSystem, lastData.segment, lastData.endOffset),
    resumeCandidate === undefined ? undefined : openForResume(fileSystem, walDir, resumeCandidate.segment, resumeCandidate.offset),
  ]);
  if (rewritten.status === 'rejected') {
    if (resumed.status === 'fulfilled') await resumed.value?.handle.close().catch(() => undefined);
    throw rewritten.reason;
  }
  if (resumed.status === 'rejected') throw resumed.reason;
  return resumed.value;
}

/** Refuses a log that does not begin at `expectedFirstSegment` (a lost first segment would otherwise go unnoticed). */
function checkLogStart(walDir: string, numbers: readonly number[], expectedFirstSegment: number): void {
  const first = numbers[0];
  if (first === undefined || first === expectedFirstSegment) return;
  const expected = joinPath(walDir, segmentFileName(expectedFirstSegment));
  assert(first > expectedFirstSegment, 'segments below the start were filtered out');
  throw new CorruptionError(expected, 0,
    `the log's first segment is missing (the log begins at ${segmentFileName(expectedFirstSegment)}; the first present is ${segmentFileName(first)}); repair cannot keep a log without its beginning`);
}

/**
 * Replays one segment's records through `onRecord`, which applies a whole record or
 * throws without applying any of it. Returns where the segment's records end, or
 * the first record whose checksum or framing fails. A checksum-valid record that
 * cannot be decoded or applied throws CorruptionError (see the module invariants).
 */
function replaySegment<Operation>(
  segment: SegmentImage,
  hash: Hash64,
  state: ReplayState,
  decoder: OperationDecoder<Operation>,
  onRecord: RecordSink<Operation>,
): SegmentOutcome {
  const header = decodeSegmentHeader(segment.image, hash);
  if (typeof header === 'string') return { kind: 'bad-header', reason: header };
  if (header.segmentNumber !== segment.segmentNumber) {
    return { kind: 'bad-header', reason: `header names segment ${header.segmentNumber}` };
  }
  if (header.segmentSizeBytes !== segment.image.length) {
    // A segment is preallocated to its header's size before any record is written:
    // a different size is a truncated (or extended) file, whose loss could be silent.
    return { kind: 'bad-header', reason: `segment is ${segment.image.length} bytes, its header says ${header.segmentSizeBytes}` };
  }
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const check = checkRecord(segment.image, offset, hash);
    if (check.kind === 'end') {
      // Zeros end a segment's records only if nothing valid follows them: a record
      // after zeros means a write in between was lost (never a crash of ours).
      if (findValidRecordFrom(segment.image, offset + 1, hash) === undefined) return { kind: 'complete', endOffset: offset };
      return { kind: 'bad-record', offset, reason: 'zeroed record header followed by valid records (a lost write)' };
    }
    if (check.kind === 'invalid') return { kind: 'bad-record', offset, reason: check.reason };
    replayRecord(segment, offset, state, decoder, onRecord);
    state.records++;
    offset += check.lengthBytes;
  }
}

/** Decodes, checks and applies one checksum-valid record; throws CorruptionError if it cannot. */
export function replayRecord<Operation>(
  segment: SegmentImage,
  offset: number,
  state: ReplayState,
  decoder: OperationDecoder<Operation>,
  onRecord: RecordSink<Operation>,
): void {
  const refuse = (problem: string): CorruptionError => new CorruptionError(segment.path, offset,
    `checksum-valid record ${problem}; a record whose checksum is valid is never dropped, not even by repair`);
  let commits: ReplayedCommit<Operation>[];
  try {
    commits = decodeRecordWith(segment.image, offset, decoder);
  } catch (error) {
    if (error instanceof AssertionFailedError) throw error;
    if (error instanceof MalformedPayloadError) throw refuse(`has a malformed payload (${error.message})`);
    // The decoder's refusal (a value this process cannot decode) is the record's application failing.
    throw refuse(`cannot be applied (${(error as Error).message})`);
  }
  let previous = state.lastVersion;
  for (const commit of commits) {
    if (commit.version <= previous) throw refuse(`has version ${commit.version}, which does not follow ${previous}`);
    previous = commit.version;
  }
  try {
    onRecord(commits, segment.segmentNumber);
  } catch (error) {
    if (error instanceof AssertionFailedError) throw error;
    throw refuse(`cannot be applied (${(error as Error).message})`);
  }
  state.lastVersion = previous;
  state.commits += commits.length;
}

/**
 * Decodes a record checkRecord found valid, walking its payload once (format: wal-format.ts
 * and docs/FORMAT.md) and building each operation with `decoder`. Throws
 * MalformedPayloadError with decodeRecord's reason on a malformed payload; an error of
 * the decoder (a value that cannot be decoded) passes through.
 */
export function decodeRecordWith<Operation>(image: Buffer, offset: number, decoder: OperationDecoder<Operation>): ReplayedCommit<Operation>[] {
  const end = offset + RECORD_HEADER_BYTES + image.readUInt32LE(offset + 12);
  assert(end <= image.length, 'a checked record lies inside its image');
  const firstVersion = readUint64(image, offset + 16);
  const commitCount = image.readUInt32LE(offset + 24);
  let position = offset + RECORD_HEADER_BYTES;
  const commits: ReplayedCommit<Operation>[] = [];
  for (let index = 0; index < commitCount; index++) {
    if (position + COMMIT_HEADER_BYTES > end) throw new MalformedPayloadError('commit header past the payload');
    const version = firstVersion + image.readUInt32LE(position);
    const operationCount = image.readUInt32LE(position + 4);
    position += COMMIT_HEADER_BYTES;
    const keep = decoder.keeps(version);
    const operations: Operation[] = [];
    // Each operation advances at least 3 bytes and stops at `end`: bounded by the payload.
    for (let operation = 0; operation < operationCount; operation++) {
      if (position + 3 > end) throw new MalformedPayloadError('operation header past the payload');
      const type = image[position]!;
      const keyStart = position + 3;
      const keyEnd = keyStart + (image[position + 1]! | (image[position + 2]! << 8));
      if (keyEnd > end) throw new MalformedPayloadError('key past the payload');
      if (type === OPERATION_DELETE) {
        if (keep) operations.push(decoder.delete(image, keyStart, keyEnd));
        position = keyEnd;
        continue;
      }
      if (type !== OPERATION_PUT || keyEnd + 4 > end) throw new MalformedPayloadError(`bad operation type ${type}`);
      const valueStart = keyEnd + 4;
      const valueEnd = valueStart + image.readUInt32LE(keyEnd);
      if (valueEnd > end) throw new MalformedPayloadError('value past the payload');
      if (keep) operations.push(decoder.put(image, keyStart, keyEnd, valueStart, valueEnd));
      position = valueEnd;
    }
    commits.push({ version, operations });
  }
  if (position !== end) throw new MalformedPayloadError('record payload has trailing bytes');
  return commits;
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
    const header = decodeSegmentHeader(segment.image, hash);
    if (typeof header === 'string' || header.segmentSizeBytes !== segment.image.length) {
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

async function removeSegments(
  fileSystem: FileSystem,
  walDir: string,
  numbers: number[],
  result: WalRecoveryResult,
): Promise<void> {
  if (numbers.length === 0) return;
  for (const segmentNumber of numbers) {
    const path = joinPath(walDir, segmentFileName(segmentNumber));
    await fileSystem.unlink(path);
    result.removedSegments.push(path);
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
