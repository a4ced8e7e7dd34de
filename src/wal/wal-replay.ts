/**
 * Replay of one WAL segment's records: the segment header is checked, then each
 * record in turn (checkRecord), decoded (wal-record-read.ts decodeRecordWith) and handed
 * to the caller's sink. Which segments are replayed, and what happens after a
 * segment that does not replay to its end, is wal-recovery.ts's business.
 *
 * Invariants:
 * - A record whose checksum is valid is never skipped: it is applied whole, or the
 *   replay throws CorruptionError naming the file and offset (a malformed payload,
 *   versions that do not ascend, a value the decoder or the sink refuses). Nothing
 *   of a refused record reaches the sink.
 * - Versions strictly ascend across the whole replay: `ReplayState.lastVersion` is
 *   the last applied version, and each record's commits must follow it.
 * - A segment's records end at the first all-zero record header, or (format 2) the
 *   first checksum-valid record of the file's earlier use (another use tag: a
 *   recycled segment), only if no valid record of this use follows it (otherwise a
 *   write in between was lost: reported as a bad record, never taken as the end).
 * - A segment whose header is invalid, names another number, or whose size differs
 *   from its header's replays nothing (bad-header).
 */
import { AssertionFailedError, CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import {
  decodeSegmentHeader,
  type Hash64,
  recordTagOf,
  SEGMENT_HEADER_BYTES,
} from './wal-format.js';
import {
  checkRecord,
  decodeRecordWith,
  MalformedPayloadError,
  type OperationDecoder,
  type ReplayedCommit,
} from './wal-record-read.js';
import { findValidRecordFrom, type SegmentImage } from './wal-scan.js';

/** What the replay has applied so far, across segments. */
export interface ReplayState {
  lastVersion: number;
  records: number;
  commits: number;
}

/** Receives each checksum-valid record's commits; applies all of them or throws. */
export type RecordSink<Operation> = (commits: readonly ReplayedCommit<Operation>[], segmentNumber?: number) => void;

/** How one segment's replay ended. */
export type SegmentOutcome =
  | { kind: 'complete'; endOffset: number }
  | { kind: 'bad-record'; offset: number; reason: string }
  | { kind: 'bad-header'; reason: string };

/**
 * Replays one segment's records through `onRecord`, which applies a whole record or
 * throws without applying any of it. Returns where the segment's records end, or
 * the first record whose checksum or framing fails. A checksum-valid record that
 * cannot be decoded or applied throws CorruptionError (see the module invariants).
 */
export function replaySegment<Operation>(
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
  const tag = recordTagOf(header.formatVersion, header.segmentNumber);
  assert(tag === segment.tag, 'the image was read with its header\'s use tag');
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const check = checkRecord(segment.image, offset, hash, tag);
    if (check.kind === 'end') {
      // Zeros (or an earlier use's record) end a segment's records only if nothing valid
      // of this use follows: a record after them means a write in between was lost.
      if (findValidRecordFrom(segment.image, offset + 1, hash, tag) === undefined) return { kind: 'complete', endOffset: offset };
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
  assert(previous >= state.lastVersion, 'versions never go back');
  state.lastVersion = previous;
  state.commits += commits.length;
}
