/**
 * Where the WAL writer appends: the active segment, its handle, size and next record's
 * offset, how far it is zero-filled, and how its records are tagged. Made by recovery
 * (wal-recovery.ts: the segment a reopen resumes in) and by each rotation (active-segment.ts);
 * the writer's record buffer and segment rotation read it.
 */
import type { FileHandle } from '../fs/file-system.js';

export interface WalPosition {
  segmentNumber: number;
  handle: FileHandle;
  sizeBytes: number;
  /** Where the next record goes in this segment. */
  offset: number;
  /**
   * End of the zero-filled, synced prefix (CreatedSegment#filledBytes); absent for a
   * segment resumed after recovery (then only `offset` is known filled).
   */
  filledBytes?: number;
  /** The use tag of this segment's records (wal-format.ts recordTagOf: 0 in a format-1 segment). */
  tag: number;
  /**
   * Made from a recycled file (CreatedSegment#recycled): the bytes past the records are
   * an earlier use's, so each record is written with an all-zero record header after it
   * (where the segment has room), which the next record overwrites: the log's end reads
   * as an end, not as the middle of an old record (a torn tail).
   */
  recycled?: boolean;
}
