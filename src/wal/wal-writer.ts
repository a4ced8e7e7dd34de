/**
 * The WAL writer: appends one group of commits as one record, with one write and
 * one fdatasync, into the active segment (active-segment.ts), which rotates to a
 * preallocated next segment when the current one is full. The record's encoding is
 * wal-record-buffer.ts; when the next segment is prepared, how big it is and how a
 * rotation gets it, segment-rotation.ts.
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
 * Rotations and cuts: the active segment, the LSN base across segments and every move
 * to the next segment (a full segment, an outsized commit, a memtable seal's cut, a
 * checkpoint) are active-segment.ts; this module writes and syncs records into it.
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
import { ActiveSegment } from './active-segment.js';
import type { ReleasedSpace } from './next-segment.js';
import { type FramedCommit, type Hash64, RECORD_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';
import { WalRecordBuffer } from './wal-record-buffer.js';

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
  /** The active segment, the LSN base, and every rotation (active-segment.ts). */
  readonly #segment: ActiveSegment;
  #syncedLsn: number;
  /** The record being encoded: the commits that fit, their bytes. */
  readonly #records: WalRecordBuffer;
  #bytesWritten = 0;
  #datasyncs = 0;
  /** The record being written and synced (#writeRecord), if any. */
  #record: RecordInFlight | undefined;
  /** fdatasync latency (store.metrics()). */
  readonly metrics = new WalMetrics();

  constructor(config: WalWriterConfig, active: WalPosition) {
    this.#segment = new ActiveSegment(config, active);
    this.#records = new WalRecordBuffer(config.hash);
    // Everything before the starting offset was recovered from disk: durable.
    this.#syncedLsn = this.#segment.currentLsn;
  }

  /** The writer's final failure (a rotation's or the zero fill's, ActiveSegment#failure), if any: it writes nothing more. */
  get failure(): { error: unknown } | undefined {
    return this.#segment.failure;
  }

  /**
   * The zero fill ahead and the next segment's preparation a synced record starts run only
   * while `allowed()` (the directory lock's lease holds: ActiveSegment#afterRecordSynced).
   */
  fenceBackgroundWrites(allowed: () => boolean): void {
    this.#segment.fenceBackgroundWrites(allowed);
  }

  get syncedLsn(): number {
    return this.#syncedLsn;
  }

  get segmentNumber(): number {
    return this.#segment.position.segmentNumber;
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
    return { bytesWritten: this.#bytesWritten, datasyncs: this.#datasyncs, ...this.#segment.stats() };
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
    const segment = this.#segment;
    const failure = segment.failure;
    if (failure !== undefined) return Promise.reject(failure.error);
    const active = segment.position;
    const count = segment.cutPending ? 0 : this.#records.fittingPrefix(commits, active);
    if (count === 0 || active.offset + this.#records.fittingBytes > segment.zeroFill.filledBytes) return this.#writeGroupAfterRotation(commits, beforeWrite, mayBlock);
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
    const segment = this.#segment;
    if (segment.cutPending) await segment.rotatePendingCut();
    assert(!segment.cutPending, 'no record is written into a segment a seal cut off');
    let count = this.#records.fittingPrefix(commits, segment.position);
    // A pre-created next segment may be too small for the first commit (segments
    // grow from small): it is used (left empty) and one more, big enough, is made.
    for (let rotations = 0; count === 0; rotations++) {
      assert(rotations < 2, 'a segment made for the commit holds it (commits are bounded by segmentSizeBytes at validation)');
      await segment.rotateForRecord(RECORD_HEADER_BYTES + commits[0]!.sizeBytes);
      count = this.#records.fittingPrefix(commits, segment.position);
    }
    await segment.zeroFill.ensureFilled(segment.position.offset + this.#records.fittingBytes);
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
    const segment = this.#segment;
    assert(!segment.cutPending && count > 0, 'a record goes into a segment no seal cut off');
    const group = count === commits.length ? commits : commits.slice(0, count);
    const active = segment.position;
    const lengthBytes = this.#records.encode(group, active.tag);
    const handle = active.handle;
    // A recycled segment's record carries an all-zero record header after it (WalPosition.recycled).
    const terminatorBytes = active.recycled === true ? Math.min(RECORD_HEADER_BYTES, active.sizeBytes - active.offset - lengthBytes) : 0;
    this.#records.zeroAfter(lengthBytes, terminatorBytes);
    const filledBytes = segment.zeroFill.filledBytes;
    assert(active.offset + lengthBytes + terminatorBytes <= filledBytes, 'the record goes into zero-filled, synced bytes');
    assert(filledBytes <= active.sizeBytes, 'the filled prefix lies inside the segment');
    beforeWrite?.(count);
    // Only a record holding every commit given may block: a group split over segments never does.
    // Nor one written while the next segment is being prepared (SegmentRotation#preparing).
    this.#record = { handle, commitCount: count, lengthBytes, mayBlock: mayBlock && count === commits.length && !segment.preparingNext, syncStartMs: 0 };
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
    assert(record !== undefined && record.handle === this.#segment.position.handle, 'the written record belongs to the active segment');
    this.#segment.advance(record.lengthBytes);
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
    const fillSyncSettled = this.#segment.zeroFill.syncSettled;
    if (fillSyncSettled !== undefined) return fillSyncSettled.then(this.#acknowledge);
    return this.#acknowledge();
  };

  /** The record is durable: move syncedLsn (only here, after the fdatasync and any overlapping fill sync resolved). */
  readonly #acknowledge = (): GroupWriteResult => {
    const record = this.#record;
    assert(record !== undefined, 'a synced record was in flight');
    this.#record = undefined;
    // A failed fill's sync may have dropped this record's pages: never acknowledged.
    const fillFailure = this.#segment.zeroFill.failure;
    if (fillFailure !== undefined) throw fillFailure.error;
    this.#syncedLsn = this.#segment.currentLsn;
    this.#segment.afterRecordSynced();
    return { commitCount: record.commitCount, endLsn: this.#syncedLsn };
  };

  /** A failed write: ENOSPC becomes DiskFullError (nothing acknowledged, the writer stays usable). */
  readonly #writeFailed = (error: unknown): never => {
    const record = this.#record;
    this.#record = undefined;
    if (isFileSystemError(error, 'ENOSPC')) throw new DiskFullError(record?.handle.path ?? this.#segment.position.handle.path, 'the commit was rejected', { cause: error });
    throw error;
  };

  /** A failed fdatasync is passed on as is (never retried: the store fails). */
  readonly #syncFailed = (error: unknown): never => {
    this.#record = undefined;
    throw error;
  };

  /** compact()'s release of the WAL's spare disk space (ActiveSegment#releaseSpareSegments). REQUIRES: the wal.writer lock. */
  releaseSpareSegments(): Promise<ReleasedSpace> {
    return this.#segment.releaseSpareSegments();
  }

  /** A checkpoint's rotation (ActiveSegment#rotateForCheckpoint). REQUIRES: the wal.writer lock, no group in flight. */
  rotateForCheckpoint(): Promise<boolean> {
    return this.#segment.rotateForCheckpoint();
  }

  /** True while a seal's cut waits for its rotation (see cutAtNextRecord). */
  get cutPending(): boolean {
    return this.#segment.cutPending;
  }

  /**
   * A memtable seal's cut of the log (ActiveSegment#cutAtNextRecord): the next record
   * goes into a new segment; returns the segment it goes in. Synchronous (seed race 4).
   * REQUIRES: the wal.writer lock, and every record written so far is applied to the
   * memtable being sealed.
   */
  cutAtNextRecord(): number {
    return this.#segment.cutAtNextRecord();
  }

  /** Performs a pending cut's rotation now (ActiveSegment#rotateAtCut). REQUIRES: the wal.writer lock. */
  rotateAtCut(): Promise<void> {
    return this.#segment.rotateAtCut();
  }

  /** Closes the active segment and any prepared next one (which stays on disk, valid and empty). */
  close(): Promise<void> {
    return this.#segment.close();
  }
}
