/**
 * The WAL's zero fill ahead of the writer (issue 12): the state of the active
 * segment's zero-filled, synced prefix and of the one background fill step in flight.
 *
 * A segment is created with only its first WAL_ZERO_FILL_AHEAD_BYTES zero-filled
 * (segment-files.ts). Invariant: a record is written only below `filledBytes`, the end
 * of the active segment's zero-filled and synced prefix, so its own bytes need no
 * allocation. After each synced record the writer calls maybeFillAhead, which starts
 * one background fill of WAL_ZERO_FILL_STEP_BYTES when fewer than
 * WAL_ZERO_FILL_AHEAD_BYTES are left: zeros written and datasynced through a second
 * handle of the segment (a writeback error is then reported to the record's own
 * fdatasync too: Linux reports it to every open file), never overlapping a record. A
 * record that does not fit below `filledBytes` waits for that fill, or fills in the
 * foreground first (ensureFilled: after a reopen, where nothing past the resume offset
 * is known to be filled, or for a large record).
 *
 * Failure rule: a failed fill is final (other than ENOSPC from its zero writes, which is
 * DiskFullError for the record that needs the bytes): no record is acknowledged after it
 * (the store fails, as on a failed fdatasync). A failed fill datasync, ENOSPC included,
 * is always final: it may have dropped the pending pages of a record written beside it
 * (fsyncgate is per file), so a record whose fdatasync resolves while a fill datasync is
 * in flight is acknowledged only once that one succeeded (`syncSettled`).
 *
 * REQUIRES: the WAL writer calls every method under the 'wal.writer' lock, except that
 * the background fill itself runs on its own between calls.
 */
import { DiskFullError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError } from '../fs/file-system.js';
import { WAL_ZERO_FILL_AHEAD_BYTES, WAL_ZERO_FILL_STEP_BYTES } from '../limits.js';
import { zeroFillRange } from './segment-files.js';
import { assert } from '../util/assert.js';

/** The part of the writer's active segment the fill reads (WalPosition). */
export interface FilledSegment {
  readonly handle: FileHandle;
  readonly sizeBytes: number;
  /** Where the next record goes. */
  readonly offset: number;
}

export class ZeroFillAhead {
  readonly #fileSystem: FileSystem;
  /** The segment whose prefix #filledBytes describes (the writer's active one). */
  #segment: FilledSegment;
  /** End of #segment's zero-filled, synced prefix: records are written only below it. */
  #filledBytes: number;
  /** The background zero fill in flight (maybeFillAhead), if any: at most one. */
  #fill: Promise<void> | undefined;
  /**
   * A fill's failure: final, every later writeGroup and acknowledgment throws it. Any
   * failed fill datasync (ENOSPC too) is one: the failed sync may have dropped the pending
   * pages of a record written beside it (fsyncgate, per file). Only ENOSPC from a fill's
   * zero writes is not (DiskFullError for the record that needs the bytes).
   */
  #failure: { error: unknown } | undefined;
  /**
   * Settles (never rejects) when the fill datasync in flight settles, with #failure
   * set first if it failed; undefined when none is in flight.
   */
  #syncSettled: Promise<void> | undefined;

  constructor(fileSystem: FileSystem, segment: FilledSegment, filledBytes: number) {
    this.#fileSystem = fileSystem;
    this.#segment = segment;
    this.#filledBytes = filledBytes;
    this.#assertCovers(segment, filledBytes);
  }

  #assertCovers(segment: FilledSegment, filledBytes: number): void {
    assert(segment.offset <= filledBytes && filledBytes <= segment.sizeBytes, 'the filled prefix covers the records and lies inside the segment');
  }

  /** End of the active segment's zero-filled, synced prefix. */
  get filledBytes(): number {
    return this.#filledBytes;
  }

  /** The final failure, if any (see the failure rule in the header). */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * Settles when the fill datasync in flight settles (#failure set first if it failed);
   * undefined when none is. A record whose fdatasync resolves while this is set waits for
   * it before being acknowledged.
   */
  get syncSettled(): Promise<void> | undefined {
    return this.#syncSettled;
  }

  /**
   * The writer moved to `segment`, whose first `filledBytes` are zero-filled and synced.
   * REQUIRES: no fill in flight (awaitFill first).
   */
  moveTo(segment: FilledSegment, filledBytes: number): void {
    assert(this.#fill === undefined, 'no fill in flight across a rotation');
    this.#assertCovers(segment, filledBytes);
    this.#segment = segment;
    this.#filledBytes = filledBytes;
  }

  /**
   * Starts one background zero fill of the next WAL_ZERO_FILL_STEP_BYTES when fewer than
   * WAL_ZERO_FILL_AHEAD_BYTES filled bytes are left ahead of the write position.
   */
  maybeFillAhead(): void {
    const segment = this.#segment;
    if (this.#fill !== undefined || this.#filledBytes >= segment.sizeBytes) return;
    if (this.#filledBytes - segment.offset >= WAL_ZERO_FILL_AHEAD_BYTES) return;
    const fill: Promise<void> = this.#fillRange(segment, Math.min(segment.sizeBytes, this.#filledBytes + WAL_ZERO_FILL_STEP_BYTES))
      .catch((error: unknown) => {
        // A full disk is retried by the record that needs the bytes (ensureFilled, DiskFullError).
        if (!isFileSystemError(error, 'ENOSPC')) this.#failure ??= { error };
      })
      .finally(() => {
        if (this.#fill === fill) this.#fill = undefined;
      });
    this.#fill = fill;
  }

  /**
   * Makes bytes up to `recordEnd` of the active segment zero-filled and synced before a
   * record goes there: waits for the background fill, then fills in the foreground
   * what is still missing, at least one WAL_ZERO_FILL_STEP_BYTES past the write position
   * (the background fills resume after the record: a reopened store's first commit
   * fills one step, not the whole fill-ahead).
   * Throws DiskFullError on ENOSPC (the writer stays usable); any other failure is final.
   */
  async ensureFilled(recordEnd: number): Promise<void> {
    const segment = this.#segment;
    assert(recordEnd <= segment.sizeBytes, 'the record fits its segment');
    if (recordEnd <= this.#filledBytes) return;
    await this.awaitFill();
    assert(segment === this.#segment, 'no rotation while the wal.writer lock is held');
    if (this.#failure !== undefined) throw this.#failure.error;
    if (recordEnd <= this.#filledBytes) return;
    try {
      await this.#fillRange(segment, Math.min(segment.sizeBytes, Math.max(recordEnd, segment.offset + WAL_ZERO_FILL_STEP_BYTES)));
    } catch (error) {
      // ENOSPC from a zero write is retryable; a failed datasync (#failure set) never is.
      if (this.#failure === undefined && isFileSystemError(error, 'ENOSPC')) throw new DiskFullError(segment.handle.path, 'the commit was rejected', { cause: error });
      this.#failure ??= { error };
      throw error;
    }
    assert(recordEnd <= this.#filledBytes, 'the foreground fill covers the record');
  }

  /** Waits for the background fill in flight, if any (its failure is kept in `failure`). */
  async awaitFill(): Promise<void> {
    while (this.#fill !== undefined) await this.#fill;
  }

  /**
   * Zero-fills bytes [#filledBytes, end) of `segment` and datasyncs them through a
   * handle of its own (no record lies there: records stay below #filledBytes), then
   * moves #filledBytes if `segment` is still the active one.
   */
  async #fillRange(segment: FilledSegment, end: number): Promise<void> {
    const start = this.#filledBytes;
    assert(segment.offset <= start && start < end && end <= segment.sizeBytes, 'a fill extends the filled prefix inside its segment');
    const handle = await this.#fileSystem.open(segment.handle.path, 'readWrite');
    try {
      // One write per WAL_ZERO_FILL_STEP_BYTES (one for a background step), no turn of the
      // event loop between them: a lone writer whose fdatasyncs run inline hands the loop
      // a turn only now and then, and a step that needed more turns was overtaken by 4 KiB
      // records, which then waited for it in the foreground (issue 12).
      await zeroFillRange(handle, start, end);
      await this.#syncFill(handle);
    } finally {
      await handle.close();
    }
    assert(this.#filledBytes === start, 'one fill at a time');
    if (segment === this.#segment) this.#filledBytes = end;
  }

  /**
   * Datasyncs a fill's handle. A failure is recorded in #failure before anything
   * waiting on #syncSettled runs, so no record beside it is acknowledged.
   */
  async #syncFill(handle: FileHandle): Promise<void> {
    assert(this.#syncSettled === undefined, 'one fill datasync at a time');
    let synced: Promise<void>;
    try {
      synced = handle.datasync();
    } catch (error) {
      synced = Promise.reject(error);
    }
    const settled = synced.then(
      () => undefined,
      (error: unknown) => {
        this.#failure ??= { error };
      },
    );
    this.#syncSettled = settled;
    try {
      await synced;
    } finally {
      await settled;
      if (this.#syncSettled === settled) this.#syncSettled = undefined;
    }
  }
}
