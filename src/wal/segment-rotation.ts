/**
 * The WAL writer's choice of its next segment (wal-writer.ts): when it is prepared,
 * how big it is, and how a rotation gets it (the segment itself comes from
 * next-segment.ts: a recycled file of the pool, else a new one).
 *
 * - Prepared in the background once the active segment is half full, unless one is
 *   (a cut's segment sized to the write rate: at once, see below; the segment after
 *   one that a few large records filled: as the rotation to it ends, OUTRUN_RECORDS_MAX),
 *   or sooner, once a seal's cut now would want a segment no smaller than the next
 *   and larger than a first one (cutSizeBytes; so not in a quiet store's first
 *   segment, nor at the first records after a checkpoint's small one). While a fresh
 *   store's segments grow, that is after the active segment's first 64 KiB of records.
 *   A fresh store's first cut used to find the active segment less than half full, so
 *   nothing prepared, and created its rate-sized segment on the commit path: the 4 MiB
 *   zero fill, its fsync and the directory fsync, 68-121 ms that every writer waited
 *   (issue 12: 64 writers of 100 B values, at 3-4 s, a 16 MiB segment after an 8 MiB
 *   one 2 MiB full). The cut now takes the segment the growth prepared: both want
 *   twice the active one.
 * - Sizes grow: twice the active segment's (a store's first is SEGMENT_BYTES_INITIAL,
 *   capped), at least big enough for the record it is made for, at most
 *   `segmentSizeBytes`; a checkpoint asks for a small one instead.
 * - A seal's cut sizes its segment by the write rate (cutSizeBytes): the log bytes
 *   written since the previous cut (about one memtable's), rounded up to a power of
 *   two (the sizes the recycled pool keeps), at least the first-segment size, at most
 *   `segmentSizeBytes`. It used to start at the first-segment size, which doubled back
 *   over about 6 rotations per seal that commits waited for under sustained load
 *   (issue 12: 38-50 waits in a 6 s run of 64 concurrent 4 KiB writers; the segment
 *   after a 64 KiB one was needed before its preparation, begun at half full, ended).
 *   A segment sized so (larger than a first one) keeps its size for the next
 *   segment, which is prepared at once: under a steady rate that next one is the next
 *   cut's, taken ready (keepPreparedUpTo), so a memtable costs one rotation and its
 *   creation is off the commit path. A quiet store's cuts stay at the first size.
 * - A rotation takes the prepared segment, or creates one now. A background creation
 *   that ran out of space is retried once (the disk may have room again, and that old
 *   failure is not this commit's); ENOSPC becomes DiskFullError naming the segment.
 *   Any other failure (a failed fsync above all) is never retried: it fails the store.
 *
 * REQUIRES: the caller holds the 'wal.writer' lock for every call (the writer's own).
 */
import { DiskFullError } from '../errors.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { NextSegment, type NextSegmentConfig, type ReleasedSpace } from './next-segment.js';
import { type CreatedSegment, firstSegmentSizeBytes, segmentFileName } from './segment-files.js';
import { SEGMENT_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';

/**
 * A full segment that held at most this many records was outrun by the writer (records
 * large beside a growing segment: a group of 64 4 KiB commits is 4 first segments): the
 * next is prepared as the rotation to it ends, not after its first record, when half
 * full. Before, each segment up to 1 MiB was needed before its preparation ended: 5 of
 * 5 growth rotations waited after a fresh store's first second (issue 12).
 */
const OUTRUN_RECORDS_MAX = 4;

export class SegmentRotation {
  readonly #config: NextSegmentConfig;
  /** The next segment: prepared in the background, made from the pool or new. */
  readonly #next: NextSegment;
  /** The size the prepared segment was asked for (0 when none is prepared). */
  #preparedSizeBytes = 0;
  /** Log bytes of the segments rotated away from since the last cut or checkpoint (cutSizeBytes). */
  #bytesSinceCut = 0;
  /**
   * The active segment was made at a cut with a size from the write rate (larger than
   * a first segment): the next keeps its size and is prepared at once (module header).
   */
  #activeIsRateSized = false;
  /** Records acknowledged in the active segment (maybePrepareNext's calls since the last rotation). */
  #recordsInActive = 0;

  constructor(config: NextSegmentConfig) {
    this.#config = config;
    this.#next = new NextSegment(config);
  }

  /** Segments made new, and made from recycled files, since open. */
  get created(): number {
    return this.#next.created;
  }

  get recycled(): number {
    return this.#next.recycled;
  }

  /**
   * A rotation to a segment of at most `sizeBytes` (a cut's or checkpoint's; any size for
   * a full segment's) takes the prepared one, already made: it waits for no creation. Else
   * it waits: none prepared, its creation under way or failed (retried now or final), or
   * one larger than wanted, removed and made again (the writer's rotationWaits).
   */
  readyFor(sizeBytes = Number.POSITIVE_INFINITY): boolean {
    return this.#next.isCreated && this.#preparedSizeBytes <= sizeBytes;
  }

  /**
   * The next segment's background preparation is under way. A record's fdatasync then
   * never runs inline (FileHandle#datasync's mayBlock hint withheld): a lone writer whose
   * syncs run inline never hands the event loop a turn between commits, and the
   * preparation needs one per I/O completion (5 to 8 for a new segment: the pool's
   * listing, truncate, 1 to 4 zero writes, fsync, directory fsync; about 6 for a pooled
   * one, segment-files.ts), so the writer overtook it and waited for it at the rotation
   * (issue 12: 23 waits in 20,000 4 KiB puts on a fresh store, 26 rotations). On
   * the thread pool the record's fdatasync runs beside the preparation's I/O, each
   * commit a turn of the loop, for the few commits the preparation takes.
   */
  preparing(): boolean {
    return this.#next.isPrepared && !this.#next.isReady;
  }

  /**
   * Starts creating the segment after `active` in the background once `active` is half
   * full, or at once when `active` is a cut's rate-sized segment, or as soon as a seal's
   * cut now would want a segment as large as the next (module header).
   */
  maybePrepareNext(active: WalPosition): void {
    this.#recordsInActive++;
    if (this.#next.isPrepared) return;
    const sizeBytes = this.#nextSizeBytes(active, 0);
    if (!this.#activeIsRateSized && active.offset < active.sizeBytes / 2 && !this.#cutWants(active, sizeBytes)) return;
    this.#preparedSizeBytes = sizeBytes;
    this.#next.prepare(active.segmentNumber + 1, sizeBytes);
  }

  /**
   * A seal's cut now would want a segment of at least `nextSizeBytes`, and larger than a
   * first segment (a quiet store's cut, and the small segment a checkpoint leaves, keep
   * the half-full rule): the growth's next segment then serves a cut too.
   */
  #cutWants(active: WalPosition, nextSizeBytes: number): boolean {
    const cutSizeBytes = this.cutSizeBytes(active);
    return cutSizeBytes >= nextSizeBytes && cutSizeBytes > firstSegmentSizeBytes(this.#config.segmentSizeBytes);
  }

  /**
   * The size of the segment a seal's cut away from `active` moves to: the log bytes
   * written since the previous cut (or checkpoint, or open), `active`'s included, rounded
   * up to a power of two, at least the first-segment size, at most `segmentSizeBytes`.
   */
  cutSizeBytes(active: WalPosition): number {
    const firstSizeBytes = firstSegmentSizeBytes(this.#config.segmentSizeBytes);
    const bytesSinceCut = this.#bytesSinceCut + active.offset - SEGMENT_HEADER_BYTES;
    if (bytesSinceCut <= firstSizeBytes) return firstSizeBytes;
    return Math.min(this.#config.segmentSizeBytes, 2 ** Math.ceil(Math.log2(bytesSinceCut)));
  }

  /**
   * Before a cut's or checkpoint's rotation to a segment of `sizeBytes`: a prepared
   * segment no larger is kept (the rotation takes it, ready or not); a larger one is
   * removed unused (discardPrepared).
   */
  async keepPreparedUpTo(sizeBytes: number): Promise<void> {
    if (this.#next.isPrepared && this.#preparedSizeBytes <= sizeBytes) return;
    await this.discardPrepared();
  }

  /**
   * The next segment's size: twice the active one's (segments start small, see
   * SEGMENT_BYTES_INITIAL; a cut's rate-sized one keeps its size), at least big enough
   * for a record of `recordBytesMin`, at most `segmentSizeBytes`.
   */
  #nextSizeBytes(active: Pick<WalPosition, 'sizeBytes'>, recordBytesMin: number, preferredSizeBytes = this.#activeIsRateSized ? active.sizeBytes : 2 * active.sizeBytes): number {
    const sizeBytes = Math.min(this.#config.segmentSizeBytes, Math.max(preferredSizeBytes, SEGMENT_HEADER_BYTES + recordBytesMin));
    assert(sizeBytes >= SEGMENT_HEADER_BYTES + recordBytesMin, 'the next segment holds the record it is made for');
    return sizeBytes;
  }

  /** Creates the segment after `active` now (NextSegment#create: from the pool when it has one of the size). */
  #createNext(active: WalPosition, recordBytesMin = 0, preferredSizeBytes?: number): Promise<CreatedSegment> {
    return this.#next.create(active.segmentNumber + 1, this.#nextSizeBytes(active, recordBytesMin, preferredSizeBytes));
  }

  /**
   * The segment a rotation away from `active` moves to: the prepared one, or one big
   * enough for a record of `recordBytesMin` created now. `preferredSizeBytes` marks a
   * cut's or checkpoint's rotation and is the size it creates (cutSizeBytes,
   * checkpointSegmentSizeBytes); it restarts the count of bytes since the cut.
   */
  async take(active: WalPosition, recordBytesMin: number, preferredSizeBytes?: number): Promise<CreatedSegment> {
    const outrun = preferredSizeBytes === undefined && active.offset >= active.sizeBytes / 2 && this.#recordsInActive <= OUTRUN_RECORDS_MAX;
    this.#recordsInActive = 0;
    const prepared = this.#next.takePrepared();
    this.#preparedSizeBytes = 0;
    let created: CreatedSegment;
    try {
      // A background creation that ran out of space earlier is retried once now: the
      // disk may have room again, and that old failure is not this commit's. Any other
      // failure (a failed fsync above all) is never retried and trusted: it fails the store.
      created = prepared === undefined
        ? await this.#createNext(active, recordBytesMin, preferredSizeBytes)
        : await prepared.catch((error: unknown) => {
          if (isFileSystemError(error, 'ENOSPC')) return this.#createNext(active, recordBytesMin, preferredSizeBytes);
          throw error;
        });
    } catch (error) {
      if (isFileSystemError(error, 'ENOSPC')) {
        // Heard by commits only (refused, GroupCommit): a checkpoint's rotation goes on without the
        // segment (WalSections#cutForCheckpoint).
        throw new DiskFullError(joinPath(this.#config.walDir, segmentFileName(active.segmentNumber + 1)), 'the commit was rejected', { cause: error });
      }
      throw error;
    }
    if (preferredSizeBytes === undefined) {
      this.#bytesSinceCut += active.offset - SEGMENT_HEADER_BYTES;
      this.#activeIsRateSized = false;
      // The records outran the growth: the segment after this one is made now, not after a record.
      // It holds the record this rotation is for: when the segment taken here (prepared before
      // that record was known) is too small for it, the writer rotates again at once and takes
      // this one (a prepared segment is taken whatever its size), which then must hold it.
      if (outrun && !this.#next.isPrepared) {
        this.#preparedSizeBytes = this.#nextSizeBytes(created, recordBytesMin, 2 * created.sizeBytes);
        this.#next.prepare(created.segmentNumber + 1, this.#preparedSizeBytes);
      }
    } else {
      this.#bytesSinceCut = 0;
      this.#activeIsRateSized = preferredSizeBytes > firstSegmentSizeBytes(this.#config.segmentSizeBytes) && created.sizeBytes >= preferredSizeBytes;
    }
    return created;
  }

  /**
   * Removes the prepared next segment before a small rotation: a recycled file goes back
   * to the pool (nothing was written into it); a new one is unlinked (NextSegment#discard).
   */
  discardPrepared(): Promise<number> {
    this.#preparedSizeBytes = 0;
    return this.#next.discard(true);
  }

  /**
   * compact()'s release of the WAL's spare disk space (NextSegment#releaseSpare). The
   * next segment is then prepared only at half full again: a user asked for the space.
   */
  releaseSpare(): Promise<ReleasedSpace> {
    this.#preparedSizeBytes = 0;
    this.#activeIsRateSized = false;
    return this.#next.releaseSpare();
  }

  /** Closes any prepared next segment (it stays on disk, valid and empty). */
  close(): Promise<void> {
    this.#preparedSizeBytes = 0;
    return this.#next.close();
  }
}
