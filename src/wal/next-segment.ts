/**
 * The WAL writer's next segment (wal-writer.ts): where it comes from (a recycled file
 * of the pool, else a new file: segment-files.ts), the one prepared in the background
 * while the active segment fills, and the writer's spare disk space.
 *
 * Serialization: every method runs under the 'wal.writer' lock, as the writer's own
 * calls do; only the background preparation (prepare) runs on its own, and every
 * method that touches the pool or the prepared segment first awaits it (takePrepared,
 * discard, close). So the pool is taken from by one creation at a time, and
 * releaseSpare, which empties it, never runs beside a rotation or a preparation: a pool
 * file is either taken (renamed into the segment) before it lists the pool, or unlinked.
 *
 * Spare space (compact(): a user asking for space back): releaseSpare removes the
 * prepared segment unused and unlinks every pool file, then fsyncs the directory once.
 * A crash before that fsync can bring unlinked names back. That is harmless: a pool
 * file is never replayed (not a segment name) and is checked before any reuse (size,
 * alias of a live segment), and a prepared segment is a valid empty segment past the
 * active one, as close() leaves it; the space is then only released later (the pool's
 * bounds, the next compact()).
 */
import type { FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import {
  createSegment,
  type CreatedSegment,
  emptyRecycledPool,
  returnToPool,
  type SegmentCreationAbort,
  SegmentCreationAbandoned,
  segmentFileName,
  takeRecycledSegment,
} from './segment-files.js';
import type { Hash64 } from './wal-format.js';

export interface NextSegmentConfig {
  fileSystem: FileSystem;
  walDir: string;
  hash: Hash64;
  /** The largest segment the writer makes (larger pool files are dropped). */
  segmentSizeBytes: number;
}

/** What releaseSpare removed: pool files and a prepared segment, and their bytes. */
export interface ReleasedSpace {
  files: number;
  bytes: number;
}

export class NextSegment {
  readonly #config: NextSegmentConfig;
  /** The next segment prepared in the background (prepare), if any. */
  #prepared: Promise<CreatedSegment> | undefined;
  /** Abandons #prepared's creation while it zero-fills (discard: a cut only deletes it). */
  #abort: SegmentCreationAbort | undefined;
  /** #prepared has settled (resolved or failed): taking it waits for nothing. */
  #preparedSettled = false;
  /** #prepared has resolved: taking it waits for nothing and creates nothing (a failed one is retried or fails). */
  #preparedCreated = false;
  #created = 0;
  #recycled = 0;

  constructor(config: NextSegmentConfig) {
    this.#config = config;
  }

  /** Segments made (prepared or not), and of those, the ones made from a recycled file. */
  get created(): number {
    return this.#created;
  }

  get recycled(): number {
    return this.#recycled;
  }

  get isPrepared(): boolean {
    return this.#prepared !== undefined;
  }

  /** A segment is prepared and its creation has settled (takePrepared's promise waits for nothing). */
  get isReady(): boolean {
    return this.#prepared !== undefined && this.#preparedSettled;
  }

  /** A segment is prepared and made: a rotation takes it with no creation of its own. */
  get isCreated(): boolean {
    return this.#prepared !== undefined && this.#preparedCreated;
  }

  /** Starts making segment `segmentNumber` of `sizeBytes` in the background. REQUIRES: none is prepared. */
  prepare(segmentNumber: number, sizeBytes: number): void {
    const abort: SegmentCreationAbort = { abandoned: false };
    this.#abort = abort;
    this.#preparedSettled = false;
    this.#preparedCreated = false;
    const prepared = this.create(segmentNumber, sizeBytes, abort);
    this.#prepared = prepared;
    const settled = (): void => {
      if (this.#prepared === prepared) this.#preparedSettled = true;
    };
    prepared.then(() => {
      settled();
      if (this.#prepared === prepared) this.#preparedCreated = true;
    }, settled);
  }

  /** The prepared segment's creation (to await), now the caller's; undefined when none was prepared. */
  takePrepared(): Promise<CreatedSegment> | undefined {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    this.#abort = undefined;
    this.#preparedSettled = false;
    this.#preparedCreated = false;
    return prepared;
  }

  /** Makes segment `segmentNumber` of `sizeBytes`: from a recycled file of that size when the pool has one (no zero fill), else a new file. */
  async create(segmentNumber: number, sizeBytes: number, abort?: SegmentCreationAbort): Promise<CreatedSegment> {
    const { fileSystem, walDir, segmentSizeBytes, hash } = this.#config;
    this.#created++;
    const recycled = await takeRecycledSegment(fileSystem, walDir, segmentNumber, sizeBytes, hash, segmentSizeBytes);
    if (recycled !== undefined) this.#recycled++;
    return recycled ?? createSegment(fileSystem, walDir, segmentNumber, sizeBytes, hash, abort);
  }

  /**
   * Removes the prepared segment unused: abandoned if it is still zero-filling (its
   * creation removes the partial file), else closed, and a recycled one put back into
   * the pool when `toPool` (nothing was written into it), otherwise unlinked (not
   * synced: the caller's next directory fsync covers it; until then it is a valid,
   * empty segment). Returns the bytes it had on disk (0 when none or abandoned).
   * Throws the preparation's own failure unless it was ENOSPC (retryable: nothing was
   * acknowledged on it) or the abandonment: a failed fsync, directory fsync or write of
   * the segment is never dropped because the segment is not wanted any more, as a
   * rotation that took it would not drop it (the writer fails: wal-writer.ts #failure).
   */
  async discard(toPool: boolean): Promise<number> {
    const abort = this.#abort;
    const prepared = this.takePrepared();
    if (prepared === undefined) return 0;
    if (abort !== undefined) abort.abandoned = true;
    const created = await prepared.catch((error: unknown) => {
      if (error instanceof SegmentCreationAbandoned || isFileSystemError(error, 'ENOSPC')) return undefined;
      throw error;
    });
    if (created === undefined) return 0;
    const { fileSystem, walDir } = this.#config;
    await created.handle.close();
    if (toPool && created.recycled) await returnToPool(fileSystem, walDir, created.segmentNumber, created.sizeBytes);
    else await fileSystem.unlink(joinPath(walDir, segmentFileName(created.segmentNumber)));
    return created.recycled ? created.sizeBytes : created.filledBytes;
  }

  /**
   * Releases the spare disk space held for the next segments: the prepared segment
   * removed unused, every pool file unlinked, the directory fsynced once (module header).
   */
  async releaseSpare(): Promise<ReleasedSpace> {
    const preparedBytes = await this.discard(false);
    const pool = await emptyRecycledPool(this.#config.fileSystem, this.#config.walDir, preparedBytes > 0);
    return { files: pool.files + (preparedBytes > 0 ? 1 : 0), bytes: pool.bytes + preparedBytes };
  }

  /**
   * Closes a prepared segment's handle (it stays on disk, valid and empty). A failed
   * preparation is not reported here: the store is closing, every acknowledged record is
   * in earlier segments, and the failed creation removed its partial file (or, a pool
   * file renamed before a failed directory fsync, left a valid empty segment).
   */
  async close(): Promise<void> {
    const prepared = this.takePrepared();
    if (prepared === undefined) return;
    const created = await prepared.catch(() => undefined);
    await created?.handle.close();
  }
}
