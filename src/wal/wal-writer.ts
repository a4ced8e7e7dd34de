/**
 * The WAL writer: appends one group of commits as one record, with one write and
 * one fdatasync, and rotates to a preallocated next segment when the current one
 * is full. The record's encoding is wal-record-buffer.ts; when the next segment is
 * prepared, how big it is and how a rotation gets it, segment-rotation.ts.
 *
 * Positions are log sequence numbers (LSNs): bytes appended since the store's
 * first segment, counted across segments. `syncedLsn` only moves after a
 * datasync resolves; the commit pipeline asserts, before acknowledging a commit,
 * that `syncedLsn` covers the end of its record (seed race 1 designed out).
 *
 * Zero fill (issue 12): records are written only into the active segment's
 * zero-filled, synced prefix, which ZeroFillAhead (zero-fill-ahead.ts) extends in the
 * background after each synced record, or in the foreground for a record past it. A
 * failed fill is final, and a record whose fdatasync overlapped a fill datasync is
 * acknowledged only once that one succeeded (#afterSync; the rule is in that module).
 *
 * Recycling (WAL format 2): the next segment is made from a recycled file of the wanted
 * size when the pool has one (next-segment.ts, segment-files.ts takeRecycledSegment): no
 * zero fill, its whole length counts as filled; compact() empties the pool
 * (releaseSpareSegments). Every record carries the active segment's use
 * tag (WalPosition.tag), and in a recycled segment is written with an all-zero record
 * header after it, so the log's end never reads as the middle of an earlier use's record.
 *
 * Cuts: when a memtable is sealed, the log is cut (cutAtNextRecord): no record is
 * written into the active segment after that; the next goes into a new segment,
 * sized by the write rate since the previous cut (segment-rotation.ts: a quiet store's
 * is small, a loaded one's holds about a memtable's log and is prepared ahead). So the
 * WAL position a flush covers is a segment boundary, the flush
 * deletes every segment of its memtable, and a reopen after a kill replays only
 * the segments of unflushed memtables (not a whole large segment).
 *
 * REQUIRES: the caller holds the 'wal.writer' lock for every call except the
 * getters (one group in flight at a time; see LOCK_ORDER.md).
 */
import { performance } from 'node:perf_hooks';
import { DiskFullError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { WalMetrics } from '../metrics/recorders.js';
import type { ReleasedSpace } from './next-segment.js';
import { checkpointSegmentSizeBytes, firstSegmentSizeBytes } from './segment-files.js';
import { SegmentRotation } from './segment-rotation.js';
import { type FramedCommit, type Hash64, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';
import { WalRecordBuffer } from './wal-record-buffer.js';
import { ZeroFillAhead } from './zero-fill-ahead.js';

export type { WalPosition } from './wal-position.js';

export interface WalWriterConfig {
  fileSystem: FileSystem;
  walDir: string;
  hash: Hash64;
  segmentSizeBytes: number;
}

export interface GroupWriteResult {
  /** How many commits (a prefix of the input) went into this record. */
  commitCount: number;
  /** LSN just past the record; durable once this resolves. */
  endLsn: number;
}

/** The state of one record between its write and its fdatasync (WalWriter#writeRecord). */
interface RecordInFlight {
  readonly handle: FileHandle;
  readonly commitCount: number;
  readonly lengthBytes: number;
  /** datasync's hint: the caller waits on nothing but this record (FileHandle#datasync). */
  readonly mayBlock: boolean;
  syncStartMs: number;
}

export class WalWriter {
  readonly #config: WalWriterConfig;
  #active: WalPosition;
  #lsnBase: number;
  #syncedLsn: number;
  /** The next segment: when it is prepared, its size, taking it at a rotation. */
  readonly #rotation: SegmentRotation;
  /** The active segment's zero-filled, synced prefix and the fill ahead of it. */
  readonly #zeroFill: ZeroFillAhead;
  /** The record being encoded: the commits that fit, their bytes. */
  readonly #records: WalRecordBuffer;
  #bytesWritten = 0;
  #datasyncs = 0;
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
  /** The record being written and synced (#writeRecord), if any. */
  #record: RecordInFlight | undefined;
  /** fdatasync latency (store.metrics()). */
  readonly metrics = new WalMetrics();

  constructor(config: WalWriterConfig, active: WalPosition) {
    this.#config = config;
    this.#active = active;
    this.#rotation = new SegmentRotation(config);
    this.#records = new WalRecordBuffer(config.hash);
    this.#zeroFill = new ZeroFillAhead(config.fileSystem, active, active.filledBytes ?? active.offset);
    this.#lsnBase = 0;
    // Everything before the starting offset was recovered from disk: durable.
    this.#syncedLsn = this.#currentLsn();
  }

  /** LSN of the next byte to be written. */
  #currentLsn(): number {
    return this.#lsnBase + this.#active.offset;
  }

  /** The writer's final failure (a rotation's, #failure, or the zero fill's), if any: it writes nothing more. */
  get failure(): { error: unknown } | undefined {
    return this.#failure ?? this.#zeroFill.failure;
  }

  get syncedLsn(): number {
    return this.#syncedLsn;
  }

  get segmentNumber(): number {
    return this.#active.segmentNumber;
  }

  /** Bytes appended since open (read on every apply: no object built). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Bytes of the record encoding buffer held now (at most WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX between records). */
  get encodeBufferBytes(): number {
    return this.#records.sizeBytes;
  }

  stats(): { bytesWritten: number; datasyncs: number; segmentsCreated: number; segmentsRecycled: number; segmentNumber: number; rotationWaits: number; rotationWaitMs: number } {
    return {
      bytesWritten: this.#bytesWritten,
      datasyncs: this.#datasyncs,
      rotationWaits: this.#rotationWaits,
      rotationWaitMs: this.#rotationWaitMs,
      segmentsCreated: this.#rotation.created,
      segmentsRecycled: this.#rotation.recycled,
      segmentNumber: this.#active.segmentNumber,
    };
  }

  /**
   * Writes a prefix of `commits` (at least one) as one record: one write, one
   * datasync. Throws DiskFullError when the disk is full (nothing acknowledged,
   * the writer stays usable); any other error means the store must fail.
   * `beforeWrite(commitCount)` is called just before the record's bytes are handed
   * to write(): from then on a failure leaves those commits' outcome unknown (part
   * or all of the record may be in the page cache); before it, they are not written.
   * `mayBlock`: nothing else waits (every writer waits for a commit of this group): the fdatasync may
   * run on the calling thread (FileHandle#datasync's hint), saving the thread hop.
   */
  writeGroup(commits: readonly FramedCommit[], beforeWrite?: (commitCount: number) => void, mayBlock = false): Promise<GroupWriteResult> {
    assert(commits.length > 0, 'a group holds at least one commit');
    assert(this.#record === undefined, 'one record in flight at a time (wal.writer lock)');
    const failure = this.#failure ?? this.#zeroFill.failure;
    if (failure !== undefined) return Promise.reject(failure.error);
    const count = this.#cutPending ? 0 : this.#records.fittingPrefix(commits, this.#active);
    if (count === 0 || this.#active.offset + this.#records.fittingBytes > this.#zeroFill.filledBytes) return this.#writeGroupAfterRotation(commits, beforeWrite, mayBlock);
    return this.#writeRecord(commits, count, beforeWrite, mayBlock);
  }

  /**
   * writeGroup's slow path: a seal's cut or a full segment rotates first (awaits segment
   * creation); a record past the filled prefix waits for its zero fill (ZeroFillAhead#ensureFilled).
   */
  async #writeGroupAfterRotation(
    commits: readonly FramedCommit[],
    beforeWrite: ((commitCount: number) => void) | undefined,
    mayBlock: boolean,
  ): Promise<GroupWriteResult> {
    if (this.#cutPending) await this.#rotateSmall();
    assert(!this.#cutPending, 'no record is written into a segment a seal cut off');
    let count = this.#records.fittingPrefix(commits, this.#active);
    // A pre-created next segment may be too small for the first commit (segments
    // grow from small): it is used (left empty) and one more, big enough, is made.
    for (let rotations = 0; count === 0; rotations++) {
      assert(rotations < 2, 'a segment made for the commit holds it (commits are bounded by segmentSizeBytes at validation)');
      const waits = !this.#rotation.readyFor();
      const startMs = performance.now();
      await this.#rotate(RECORD_HEADER_BYTES + commits[0]!.sizeBytes);
      if (waits) this.#countRotationWait(startMs);
      count = this.#records.fittingPrefix(commits, this.#active);
    }
    await this.#zeroFill.ensureFilled(this.#active.offset + this.#records.fittingBytes);
    return this.#writeRecord(commits, count, beforeWrite, mayBlock);
  }

  /**
   * Encodes the first `count` commits as one record and writes it into the active
   * segment, then fdatasyncs. A promise chain whose steps are made once per writer
   * (the record's state is #record: one record in flight, under the wal.writer lock),
   * not an async function: the commit path calls this once per group.
   * REQUIRES: the record fits the active segment and no cut is pending.
   */
  #writeRecord(
    commits: readonly FramedCommit[],
    count: number,
    beforeWrite: ((commitCount: number) => void) | undefined,
    mayBlock: boolean,
  ): Promise<GroupWriteResult> {
    assert(!this.#cutPending && count > 0, 'a record goes into a segment no seal cut off');
    const group = count === commits.length ? commits : commits.slice(0, count);
    const active = this.#active;
    const lengthBytes = this.#records.encode(group, active.tag);
    const handle = active.handle;
    // A recycled segment's record carries an all-zero record header after it (WalPosition.recycled).
    const terminatorBytes = active.recycled === true ? Math.min(RECORD_HEADER_BYTES, active.sizeBytes - active.offset - lengthBytes) : 0;
    this.#records.zeroAfter(lengthBytes, terminatorBytes);
    assert(active.offset + lengthBytes + terminatorBytes <= this.#zeroFill.filledBytes, 'the record goes into zero-filled, synced bytes');
    assert(this.#zeroFill.filledBytes <= active.sizeBytes, 'the filled prefix lies inside the segment');
    beforeWrite?.(count);
    // Only a record holding every commit given may block: a group split over segments never does.
    // Nor one written while the next segment is being prepared (SegmentRotation#preparing).
    this.#record = { handle, commitCount: count, lengthBytes, mayBlock: mayBlock && count === commits.length && !this.#rotation.preparing(), syncStartMs: 0 };
    let written: Promise<void>;
    try {
      written = handle.write(this.#records.bytes(lengthBytes + terminatorBytes), active.offset);
    } catch (error) {
      written = Promise.reject(error);
    }
    return written.then(this.#afterWrite, this.#writeFailed);
  }

  /** The record is in the page cache: count it, then fdatasync (#writeRecord's second step). */
  readonly #afterWrite = (): Promise<GroupWriteResult> => {
    const record = this.#record;
    assert(record !== undefined && record.handle === this.#active.handle, 'the written record belongs to the active segment');
    this.#active.offset += record.lengthBytes;
    this.#bytesWritten += record.lengthBytes;
    // The record's bytes are written: a buffer grown for an outsized record is dropped.
    this.#records.releaseOutsized();
    record.syncStartMs = performance.now();
    let synced: Promise<void>;
    try {
      synced = record.handle.datasync(record.mayBlock);
    } catch (error) {
      synced = Promise.reject(error);
    }
    return synced.then(this.#afterSync, this.#syncFailed);
  };

  /**
   * The record's fdatasync resolved. A fill datasync of the same file still in flight
   * may yet fail and drop the record's pages (the fault file system's fsyncgate is per
   * file, and Linux's report of it to this handle is not relied on): the acknowledgment
   * waits for it to settle (rare: the record's sync overlapped a fill step's).
   */
  readonly #afterSync = (): GroupWriteResult | Promise<GroupWriteResult> => {
    const record = this.#record;
    assert(record !== undefined, 'a synced record was in flight');
    this.metrics.fdatasync.recordSince(record.syncStartMs);
    this.#datasyncs++;
    if (this.#zeroFill.syncSettled !== undefined) return this.#zeroFill.syncSettled.then(this.#acknowledge);
    return this.#acknowledge();
  };

  /** The record is durable: move syncedLsn (only here, after the fdatasync and any overlapping fill sync resolved). */
  readonly #acknowledge = (): GroupWriteResult => {
    const record = this.#record;
    assert(record !== undefined, 'a synced record was in flight');
    this.#record = undefined;
    // A failed fill's sync may have dropped this record's pages: never acknowledged.
    if (this.#zeroFill.failure !== undefined) throw this.#zeroFill.failure.error;
    this.#syncedLsn = this.#currentLsn();
    this.#rotation.maybePrepareNext(this.#active);
    if (!this.#closed) this.#zeroFill.maybeFillAhead();
    return { commitCount: record.commitCount, endLsn: this.#syncedLsn };
  };

  /** A failed write: ENOSPC becomes DiskFullError (nothing acknowledged, the writer stays usable). */
  readonly #writeFailed = (error: unknown): never => {
    const record = this.#record;
    this.#record = undefined;
    if (isFileSystemError(error, 'ENOSPC')) throw new DiskFullError(record?.handle.path ?? this.#active.handle.path, { cause: error });
    throw error;
  };

  /** A failed fdatasync is passed on as is (never retried: the store fails). */
  readonly #syncFailed = (error: unknown): never => {
    this.#record = undefined;
    throw error;
  };

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

  /** True while a seal's cut waits for its rotation (see cutAtNextRecord). */
  get cutPending(): boolean {
    return this.#cutPending;
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
    await this.#zeroFill.awaitFill();
    if (this.#zeroFill.failure !== undefined) throw this.#zeroFill.failure.error;
    // The prepared segment or a new one (SegmentRotation#take: ENOSPC is DiskFullError, any other failure fails the store).
    const created = await this.#rotation.take(this.#active, recordBytesMin, preferredSizeBytes);
    const previous = this.#active;
    assert(created.segmentNumber === previous.segmentNumber + 1, 'segments are created in order');
    this.#cutPending = false;
    this.#lsnBase = this.#currentLsn() - SEGMENT_HEADER_BYTES;
    this.#active = {
      segmentNumber: created.segmentNumber, handle: created.handle, sizeBytes: created.sizeBytes, offset: SEGMENT_HEADER_BYTES,
      tag: created.tag, recycled: created.recycled,
    };
    assert(SEGMENT_HEADER_BYTES <= created.filledBytes && created.filledBytes <= created.sizeBytes, 'a new segment is filled past its header');
    this.#zeroFill.moveTo(this.#active, created.filledBytes);
    await previous.handle.close();
  }

  /** Closes the active segment and any prepared next one (which stays on disk, valid and empty). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#zeroFill.awaitFill();
    await this.#rotation.close();
    await this.#active.handle.close();
    this.#closed = true;
  }
}
