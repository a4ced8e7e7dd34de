/**
 * The commit pipeline's sections under the wal.writer lock other than group commit
 * (src/commit/commit-pipeline.ts): a seal's cut of the log at a record's end, a
 * checkpoint's cut, and compact()'s release of the WAL's spare segments. Each holds
 * the same lock as the group flush, so none runs between a record's write and its
 * acknowledgement, and none beside a rotation.
 *
 * Invariants: `cutAtNextRecord` REQUIRES the lock held (asserted); the other two take
 * it. After a failure (`failed()`, read inside the lock) the writer's state is not
 * trusted: nothing is rotated or released.
 */
import type { OrderedMutex } from '../lock/ordered-mutex.js';
import { DiskFullError } from '../errors.js';
import type { ReleasedSpace } from '../wal/next-segment.js';
import type { WalWriter } from '../wal/wal-writer.js';

export class WalSections {
  readonly #walLock: OrderedMutex;
  readonly #writer: WalWriter;
  readonly #failed: () => boolean;
  readonly #fail: (cause: unknown) => Error;

  /**
   * `failed`: whether the pipeline failed (read inside the lock, after the wait);
   * `fail`: fails it (GroupCommit#failBesideGroup), returning the store's failure.
   */
  constructor(walLock: OrderedMutex, writer: WalWriter, failed: () => boolean, fail: (cause: unknown) => Error) {
    this.#walLock = walLock;
    this.#writer = writer;
    this.#failed = failed;
    this.#fail = fail;
  }

  /** WalWriter#cutAtNextRecord as a function value made once. REQUIRES: wal.writer lock held. */
  readonly cutAtNextRecord = (): number => {
    this.#walLock.assertHeld();
    return this.#writer.cutAtNextRecord();
  };

  /**
   * A checkpoint's cut of the WAL: under the wal.writer lock (no group between its
   * write and its acknowledgement), moves the writer to a new segment and runs
   * `atCut` (the memtable seal) in the same section, so every record written before
   * the cut is applied to what `atCut` seals and every later one lands in the new
   * segment. A full disk skips the rotation (the checkpoint still seals and flushes).
   * Any other failure of the rotation is final in the writer, so it fails the store
   * here and the checkpoint rejects with StoreFailedError.
   */
  async cutForCheckpoint(atCut: () => void): Promise<void> {
    await this.#walLock.runExclusive(async () => {
      if (!this.#failed()) {
        await this.#writer.rotateForCheckpoint().catch((error: unknown) => {
          if (!(error instanceof DiskFullError)) throw this.#fail(error);
        });
      }
      atCut();
    });
  }

  /**
   * compact()'s release of the WAL's spare segments (WalWriter#releaseSpareSegments: the
   * recycled pool and a prepared next segment) under the wal.writer lock, never beside a
   * rotation. Nothing when the pipeline failed (the writer's state is not trusted then).
   */
  async releaseSpareSegments(): Promise<ReleasedSpace> {
    return this.#walLock.runExclusive(async () => (this.#failed() ? { files: 0, bytes: 0 } : this.#writer.releaseSpareSegments()));
  }
}
