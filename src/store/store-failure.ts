/**
 * StoreFailure: the one answer to "has this store failed?" (fail-stop, README
 * "Errors"), for those who wait on the store rather than on a commit of their own
 * (lease waiters, watch feeds) and for `stats().failed`.
 *
 * A store fails for three causes, each found by its own component:
 * - the WAL: a write or fdatasync failed (CommitPipeline#onFailure, after every commit
 *   it refused was settled);
 * - the storage engine: a flush failed for good, a run file's or the manifest's fsync
 *   above all (Flusher#onFailure; writes are refused by the write stall);
 * - the directory lock: another process took it over (DirectoryLock#onLost; writes are
 *   refused by admitWrite, store-writes.ts).
 * Before this, only the first was heard: after a failed flush or a lost lock, puts were
 * refused but `stats().failed` was false, a lease acquire waiting for a held lease slept
 * out its waitMs and a following watch feed waited for ever.
 *
 * Invariants: `current` is set once, by the first cause heard, and never cleared (a
 * failed store stays failed until reopened); each listener is called exactly once,
 * with `current`, at once if the store already failed. Listeners only settle promises
 * (no lock taken, no lock-order edge) and must not throw.
 */
import { StoreFailedError } from '../errors.js';
import { fileSystemError } from '../fs/file-system.js';
import { LOCK_LOST_CODE } from '../fs/killable-file-system.js';
import type { CommitPipeline } from '../commit/commit-pipeline.js';
import type { StorageEngine } from '../engine/storage-engine.js';
import type { DirectoryLock } from './directory-lock.js';

export interface StoreFailureSources {
  directory: string;
  pipeline: Pick<CommitPipeline, 'onFailure'>;
  engine: Pick<StorageEngine, 'onFailure'>;
  lock: Pick<DirectoryLock, 'onLost'>;
}

export class StoreFailure {
  #failure: StoreFailedError | undefined;
  #listeners: Array<(failure: StoreFailedError) => void> = [];

  constructor(sources: StoreFailureSources) {
    // The WAL's failure is the error its refused commits got: passed on as it is.
    sources.pipeline.onFailure((failure) => this.#fail(failure));
    sources.engine.onFailure((cause) => this.#fail(new StoreFailedError(`flushing a memtable to a run failed (${cause.message})`, { cause })));
    sources.lock.onLost(() => this.#fail(new StoreFailedError(`the directory lock of ${sources.directory} was taken over by another process`, {
      cause: fileSystemError(LOCK_LOST_CODE, 'heartbeat', sources.directory),
    })));
  }

  /** The store's failure (the first cause heard), undefined while it is healthy. */
  get current(): StoreFailedError | undefined {
    return this.#failure;
  }

  /** `listener` is called once with the failure when the store fails, at once if it has. */
  onFailure(listener: (failure: StoreFailedError) => void): void {
    if (this.#failure !== undefined) listener(this.#failure);
    else this.#listeners.push(listener);
  }

  #fail(failure: StoreFailedError): void {
    if (this.#failure !== undefined) return;
    this.#failure = failure;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener(failure);
  }
}
