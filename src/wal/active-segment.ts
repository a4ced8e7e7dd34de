/**
 * The WAL's active segment and the moves to the next one: where records are appended
 * (WalPosition), the LSN base across segments, and the rotations of every kind: a full
 * segment or an outsized commit (rotateForRecord), a memtable seal's cut
 * (cutAtNextRecord, rotateAtCut) and a checkpoint (rotateForCheckpoint). The writer
 * (wal-writer.ts) encodes, writes and syncs records into it; when the next segment is
 * prepared and how big it is, segment-rotation.ts; the zero-filled prefix the records go
 * into, zero-fill-ahead.ts.
 *
 * Cuts: when a memtable is sealed, the log is cut (cutAtNextRecord): no record is
 * written into the active segment after that; the next goes into a new segment,
 * sized by the write rate since the previous cut (segment-rotation.ts: a quiet store's
 * is small, a loaded one's holds about a memtable's log and is prepared ahead). So the
 * WAL position a flush covers is a segment boundary, the flush deletes every segment of
 * its memtable, and a reopen after a kill replays only the segments of unflushed
 * memtables (not a whole large segment).
 *
 * Invariants:
 * - Segments are taken in order (each rotation's is the active one's number + 1), and a
 *   new segment is filled past its header before it becomes active.
 * - No record goes into a segment a seal cut off: a pending cut is cleared only by a
 *   rotation (the writer asserts it before each record).
 * - A rotation's failure other than DiskFullError is final (#failure): every later call
 *   refuses with it, so no later creation's directory fsync is trusted in its place.
 *
 * REQUIRES: the caller holds the 'wal.writer' lock for every call except the getters
 * (LOCK_ORDER.md).
 */
import { performance } from 'node:perf_hooks';
import { DiskFullError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import type { ReleasedSpace } from './next-segment.js';
import { checkpointSegmentSizeBytes, firstSegmentSizeBytes } from './segment-files.js';
import { SegmentRotation } from './segment-rotation.js';
import { type Hash64, SEGMENT_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';
import { ZeroFillAhead } from './zero-fill-ahead.js';

export interface ActiveSegmentConfig {
  fileSystem: FileSystem;
  walDir: string;
  hash: Hash64;
  segmentSizeBytes: number;
}

export class ActiveSegment {
  readonly #config: ActiveSegmentConfig;
  #active: WalPosition;
  /** LSN of the active segment's byte 0 (its header counted as the previous segment's end). */
  #lsnBase = 0;
  /** The next segment: when it is prepared, its size, taking it at a rotation. */
  readonly #rotation: SegmentRotation;
  /** The active segment's zero-filled, synced prefix and the fill ahead of it. */
  readonly zeroFill: ZeroFillAhead;
  /**
   * Rotations of every kind (full segment, outsized commit, seal's cut, checkpoint) that
   * waited for a segment's creation, not taking a prepared one made (SegmentRotation#readyFor).
   * Every commit waits behind one; a checkpoint's counts also when none was waiting (close).
   */
  #rotationWaits = 0;
  /** Milliseconds those rotations took (the creation and the rotation's own steps). */
  #rotationWaitMs = 0;
  #closed = false;
  /**
   * A rotation's failure other than DiskFullError (a failed fsync, directory fsync or write
   * of a segment, prepared ahead or not, compact()'s release included): final, every later
   * call refuses with it, so no later creation's directory fsync is trusted in its place.
   */
  #failure: { error: unknown } | undefined;
  /**
   * Set by a memtable seal's cut (cutAtNextRecord): the active segment holds records
   * and the next record must go into a new segment. Cleared by any rotation.
   */
  #cutPending = false;
  /**
   * Whether the writes a synced record starts in the background (the zero fill ahead, the
   * next segment's preparation) may run: false once the directory lock's lease expired
   * (fenceBackgroundWrites). Every other write into wal/ follows a group's lease check.
   */
  #backgroundWritesAllowed: () => boolean = () => true;

  constructor(config: ActiveSegmentConfig, active: WalPosition) {
    this.#config = config;
    this.#active = active;
    this.#rotation = new SegmentRotation(config);
    this.zeroFill = new ZeroFillAhead(config.fileSystem, active, active.filledBytes ?? active.offset);
  }

  /** Where the next record goes (the writer reads it and advances its offset). */
  get position(): WalPosition {
    return this.#active;
  }

  /** LSN of the next byte to be written. */
  get currentLsn(): number {
    return this.#lsnBase + this.#active.offset;
  }

  /** The final failure (a rotation's, or the zero fill's), if any: nothing more is written. */
  get failure(): { error: unknown } | undefined {
    return this.#failure ?? this.zeroFill.failure;
  }

  /** True while a seal's cut waits for its rotation (see cutAtNextRecord). */
  get cutPending(): boolean {
    return this.#cutPending;
  }

  /** True while the next segment is being prepared (SegmentRotation#preparing): a record's sync may not block then. */
  get preparingNext(): boolean {
    return this.#rotation.preparing();
  }

  stats(): { segmentsCreated: number; segmentsRecycled: number; segmentNumber: number; rotationWaits: number; rotationWaitMs: number } {
    return {
      rotationWaits: this.#rotationWaits,
      rotationWaitMs: this.#rotationWaitMs,
      segmentsCreated: this.#rotation.created,
      segmentsRecycled: this.#rotation.recycled,
      segmentNumber: this.#active.segmentNumber,
    };
  }

  /** A record of `lengthBytes` was written at the active offset. */
  advance(lengthBytes: number): void {
    assert(this.#active.offset + lengthBytes <= this.#active.sizeBytes, 'a record lies inside its segment');
    this.#active.offset += lengthBytes;
  }

  /**
   * A record is durable: the next segment may be prepared, and the zero fill may go ahead,
   * unless the lease has expired (fenceBackgroundWrites): a record's fdatasync may return
   * long after its group's lease check, and another process may have taken the directory
   * over meanwhile and be writing records past ours in this very segment, where a fill
   * writes zeros. What is skipped is done later, after a group's lease check (a record
   * past the filled prefix fills in the foreground; a rotation creates its segment).
   */
  afterRecordSynced(): void {
    if (!this.#backgroundWritesAllowed()) return;
    this.#rotation.maybePrepareNext(this.#active);
    if (!this.#closed) this.zeroFill.maybeFillAhead();
  }

  /** `allowed` answers, after each synced record, whether background writes may start (the lease holds). */
  fenceBackgroundWrites(allowed: () => boolean): void {
    this.#backgroundWritesAllowed = allowed;
  }

  /**
   * A rotation for a record that does not fit the active segment: to the prepared next
   * segment, or a new one of at least `recordBytesMin` (counted as a wait when it was not
   * ready). Throws DiskFullError when it cannot be created; any other failure is final.
   */
  async rotateForRecord(recordBytesMin: number): Promise<void> {
    const waits = !this.#rotation.readyFor();
    const startMs = performance.now();
    await this.#rotate(recordBytesMin);
    if (waits) this.#countRotationWait(startMs);
  }

  /** A pending cut's rotation before the next record (the writer's slow path). */
  rotatePendingCut(): Promise<void> {
    assert(this.#cutPending, 'a cut is pending');
    return this.#rotateSmall();
  }

  /**
   * compact()'s release of the WAL's spare disk space: the prepared next segment removed
   * unused and the recycled pool emptied, the directory fsynced (NextSegment#releaseSpare).
   * Run under the wal.writer lock, so never beside a rotation; a background preparation
   * is awaited first. The next rotation makes its segment new.
   * REQUIRES: the caller holds the wal.writer lock.
   */
  async releaseSpareSegments(): Promise<ReleasedSpace> {
    if (this.#closed) return { files: 0, bytes: 0 };
    if (this.#failure !== undefined) throw this.#failure.error;
    return this.#rotation.releaseSpare().catch(this.#rotationFailed);
  }

  /**
   * A checkpoint's rotation: moves to a new segment now, so that every record written
   * so far lies in segments the checkpoint's runs cover (and a clean reopen reads no
   * WAL record, only a small empty segment: checkpointSegmentSizeBytes). No-op (false)
   * when the active segment holds no record and is no larger than a first segment; an
   * empty larger one (a loaded store's cut, sized by the write rate, with no write after
   * it) is left for a small one too, so a quiet store keeps no large segment (issue 7).
   * REQUIRES: the caller holds the wal.writer lock (no group in flight).
   */
  async rotateForCheckpoint(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#failure !== undefined) throw this.#failure.error;
    if (this.#active.offset === SEGMENT_HEADER_BYTES && this.#active.sizeBytes <= firstSegmentSizeBytes(this.#config.segmentSizeBytes)) return false;
    await this.#rotateSmall(checkpointSegmentSizeBytes(this.#config.segmentSizeBytes));
    return true;
  }

  /**
   * A memtable seal's cut of the log: every record written so far was applied to the
   * memtable being sealed, and the next record goes into a new segment, so once the
   * memtable's run is installed every segment below the returned one is covered and
   * deleted (a reopen after a kill replays only unflushed memtables). Returns the
   * segment the next record goes in: this one if it holds no record yet, else the
   * next (created by rotateAtCut, or by the next writeGroup before it writes).
   * Synchronous: the seal that calls it is one synchronous section (seed race 4).
   * REQUIRES: the caller holds the wal.writer lock, and every record written so far
   * is applied to the memtable being sealed.
   */
  cutAtNextRecord(): number {
    if (this.#active.offset === SEGMENT_HEADER_BYTES) return this.#active.segmentNumber;
    this.#cutPending = true;
    return this.#active.segmentNumber + 1;
  }

  /**
   * Performs a pending cut's rotation now (the commit path calls it right after the
   * seal, so the flush that follows can delete the cut-off segment). Throws
   * DiskFullError when the segment cannot be created: the cut stays pending and the
   * next writeGroup tries again before writing anything.
   * REQUIRES: the caller holds the wal.writer lock.
   */
  async rotateAtCut(): Promise<void> {
    if (this.#closed || !this.#cutPending) return;
    if (this.#failure !== undefined) throw this.#failure.error;
    await this.#rotateSmall();
  }

  /**
   * Rotation for a checkpoint or a seal's cut. The new segment is at most `sizeBytes`
   * (a seal's cut: sized by the write rate, SegmentRotation#cutSizeBytes; a checkpoint:
   * checkpointSegmentSizeBytes) and grows again by doubling: a reopen scans the whole
   * segment it resumes in, and the segments of one memtable take on disk about twice
   * its log bytes. A segment prepared in the background no larger than that is taken
   * (under a steady rate, the cut's own, made off the commit path); a larger one is
   * removed unused: abandoned if it is still zero-filling (its creation removes the
   * partial file), else closed and unlinked here. Its number is the one the new segment
   * takes, so this waits for either, but no longer for the rest of a zero fill and its
   * fsync (issue 12).
   */
  async #rotateSmall(sizeBytes = this.#rotation.cutSizeBytes(this.#active)): Promise<void> {
    const waits = !this.#rotation.readyFor(sizeBytes);
    const startMs = performance.now();
    // A removed recycled file goes back to the pool (nothing was written into it); a new one is
    // unlinked. Its failed preparation (other than ENOSPC) is thrown: final (#failure).
    await this.#rotation.keepPreparedUpTo(sizeBytes).catch(this.#rotationFailed);
    await this.#rotate(0, sizeBytes);
    if (waits) this.#countRotationWait(startMs);
  }

  /** A rotation that started at `startMs` waited for its segment (#rotationWaits). */
  #countRotationWait(startMs: number): void {
    this.#rotationWaits++;
    this.#rotationWaitMs += performance.now() - startMs;
  }

  /** A rotation's failure is final unless the disk is full (#failure); rethrown. */
  readonly #rotationFailed = (error: unknown): never => {
    if (!(error instanceof DiskFullError)) this.#failure ??= { error };
    throw error;
  };

  /** Moves to the next segment (the pre-created one, or a new one big enough for `recordBytesMin`). */
  #rotate(recordBytesMin: number, preferredSizeBytes?: number): Promise<void> {
    return this.#rotateUnchecked(recordBytesMin, preferredSizeBytes).catch(this.#rotationFailed);
  }

  async #rotateUnchecked(recordBytesMin: number, preferredSizeBytes?: number): Promise<void> {
    await this.zeroFill.awaitFill();
    if (this.zeroFill.failure !== undefined) throw this.zeroFill.failure.error;
    // The prepared segment or a new one (SegmentRotation#take: ENOSPC is DiskFullError, any other failure fails the store).
    const created = await this.#rotation.take(this.#active, recordBytesMin, preferredSizeBytes);
    const previous = this.#active;
    assert(created.segmentNumber === previous.segmentNumber + 1, 'segments are created in order');
    this.#cutPending = false;
    this.#lsnBase = this.currentLsn - SEGMENT_HEADER_BYTES;
    this.#active = {
      segmentNumber: created.segmentNumber, handle: created.handle, sizeBytes: created.sizeBytes, offset: SEGMENT_HEADER_BYTES,
      tag: created.tag, recycled: created.recycled,
    };
    assert(SEGMENT_HEADER_BYTES <= created.filledBytes && created.filledBytes <= created.sizeBytes, 'a new segment is filled past its header');
    this.zeroFill.moveTo(this.#active, created.filledBytes);
    await previous.handle.close();
  }

  /** Closes the active segment and any prepared next one (which stays on disk, valid and empty). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.zeroFill.awaitFill();
    await this.#rotation.close();
    await this.#active.handle.close();
    this.#closed = true;
  }
}
