/**
 * Whether a segment that does not replay (its header invalid, naming another number, or
 * its size not its header's: wal-replay.ts 'bad-header') can be a segment creation a
 * crash cut short, or was damaged after its creation completed. Only the first is
 * removed silently (wal-recovery.ts); the second may have held acknowledged commits and
 * is corruption: CorruptionError naming the file, or with repair, dropped and reported.
 *
 * What a crash can leave under a segment's name: the file is created under its name,
 * sized (truncate), zero-filled, given its header (one 64-byte write at offset 0, one
 * sector), fsynced, and its directory fsynced; only then is a record written into it,
 * and nothing the store does later shrinks it or writes its header again (records,
 * zero fills and a torn tail's zeros go past the header). So a crash during the creation
 * can leave it empty, zeros of any length (a zero fill cut short, with or without the
 * size: release 0.1 filled by writes, without truncate), a header alone (a power loss
 * that kept the header's sector but not the size), or the full size with a torn or
 * missing header: none held a record. Two things tell a damaged segment apart:
 * - A file shorter than the header holding a non-zero byte. The header is written
 *   whole, after the zero fill or the size, so a file that has any header byte is at
 *   least 64 bytes long, and shorter ones hold zeros only; a truncated segment keeps the
 *   magic's first bytes, which are not zero.
 * - A later segment. A segment's creation starts only once the one before it is
 *   complete (the next segment is prepared while the current one is written into), so
 *   a segment with a later one after it had completed its creation, whatever the later
 *   one holds (an empty segment prepared ahead, as close() leaves it).
 * What stays ambiguous: the last segment, empty or all zeros, or a header alone. Such a
 * segment that held acknowledged commits is still removed as an unfinished creation.
 *
 * What is no evidence: the manifest's WAL start naming the segment (a seal's cut records
 * the next segment's number before the rotation creates it, and the flush's manifest
 * edit may come first: flusher.ts, a cut waiting on a full disk), and a previous segment
 * holding acknowledged records (the next segment is prepared from half full on).
 */
import type { FileSystem } from '../fs/file-system.js';
import { decodeSegmentHeader, type Hash64, SEGMENT_HEADER_BYTES } from './wal-format.js';
import type { SegmentPoint } from './wal-resume.js';
import { readSegment, type SegmentImage } from './wal-scan.js';

/**
 * Why the segment whose bytes are `image` had completed its creation, or undefined when
 * it may be a creation a crash cut short. `laterSegment`: the number of a segment after
 * it, if any.
 */
export function completedCreationEvidence(image: Uint8Array, laterSegment: number | undefined): string | undefined {
  if (laterSegment !== undefined) {
    return `segment ${laterSegment} exists after it, and a segment is created only once the one before it is complete`;
  }
  if (image.length < SEGMENT_HEADER_BYTES && image.some((byte) => byte !== 0)) {
    return `it is ${image.length} bytes, shorter than a segment header, and not all zeros: no crash during a creation leaves that`;
  }
  return undefined;
}

/** The reason a damaged segment is refused: what is wrong with it, why it is not a crash's leftover, what it costs. */
export function damagedSegmentReason(problem: string, evidence: string): string {
  return `${problem}; ${evidence}, so it was damaged after its creation (truncated or overwritten): `
    + 'the records it held, if any, are lost and cannot be counted';
}

/** emptyLaterSegments' answer. */
export interface EmptyLaterSegments {
  /** The last fully created one (writing resumes in it). */
  resume: SegmentPoint | undefined;
  /** Unfinished creations, to remove. */
  unfinished: number[];
  /** The first one damaged after its creation, and why (then the others are not looked at). */
  damaged: { damaged: SegmentImage; reason: string } | undefined;
}

/**
 * After a torn tail, the later segments (which hold no data): the last fully created one
 * to resume in, the unfinished creations to remove, or the first one damaged after its
 * creation (segment-evidence.ts: one with a later one after it, or short with data in
 * it), which is corruption.
 */
export async function emptyLaterSegments(
  fileSystem: FileSystem,
  walDir: string,
  later: number[],
  hash: Hash64,
): Promise<EmptyLaterSegments> {
  const found: EmptyLaterSegments = { resume: undefined, unfinished: [], damaged: undefined };
  for (const [index, segmentNumber] of later.entries()) {
    const segment = await readSegment(fileSystem, walDir, segmentNumber);
    const header = decodeSegmentHeader(segment.image, hash);
    const problem = typeof header === 'string' ? header
      : header.segmentSizeBytes !== segment.image.length ? `segment is ${segment.image.length} bytes, its header says ${header.segmentSizeBytes}` : undefined;
    if (problem === undefined) {
      found.resume = { segment, offset: SEGMENT_HEADER_BYTES };
      continue;
    }
    const evidence = completedCreationEvidence(segment.image, later[index + 1]);
    if (evidence !== undefined) {
      found.damaged = { damaged: segment, reason: damagedSegmentReason(problem, evidence) };
      return found;
    }
    found.unfinished.push(segmentNumber);
  }
  return found;
}
