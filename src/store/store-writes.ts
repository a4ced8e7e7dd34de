/**
 * The store's write path (store.put, delete, batch): each call validated, admitted
 * past the write stall, and handed to the commit pipeline; a call with lease options
 * runs as one store transaction instead (src/lease/lease-manager.ts write).
 *
 * Invariants:
 * - A write is refused with StoreClosedError unless the store is open, checked first
 *   (the handle's open check, src/store/store.ts).
 * - Nothing is queued on bad input: the operations are prepared (validated, encoded)
 *   before they are submitted or admitted.
 * - A write is submitted only once admitted: at once when no flush is behind, no
 *   flush failed and the directory lock is held; after the stall otherwise; refused
 *   with StoreFailedError when the lock was taken over.
 * - An empty batch commits nothing and resolves at once with the visible version,
 *   except on a failed store: it rejects with the store's failure, as a put does.
 * - put, delete and batch are not async functions: each returns the commit's own
 *   promise (an async function wrapping it cost a promise and a resolve-thenable job,
 *   two microtask hops, per write: issue 12). A refused call still rejects, never throws.
 */
import { StoreFailedError } from '../errors.js';
import type { Key } from '../codec/keys.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import {
  type BatchOperation,
  operationSizeBytes,
  type PreparedCommit,
  type PreparedOperation,
  prepareBatch,
  prepareDelete,
  prepareDeleteOperation,
  preparePut,
  preparePutOperation,
} from '../commit/prepare.js';
import type { TransactionContext } from '../transaction/transaction.js';
import { runTransactionCommit } from '../transaction/run-transaction.js';
import { writeOptions, type WriteOptions } from '../lease/write-options.js';
import type { LeaseManager } from '../lease/lease-manager.js';
import { assert } from '../util/assert.js';
import type { StoreParts } from './store.js';

/**
 * The write stall: waits while flushes fall behind (sealed memtables over their
 * share of the budget), so memory never grows without bound, and behind the writers
 * already stalled (engine.stalled holds while any are queued: a new writer does not
 * overtake them, write-stall.ts); refuses writes once flushing failed. Costs nothing
 * on the common path (undefined: write at once). `rejoin`: the caller was admitted
 * before for this write and comes back (a transactionSync's next round): it keeps its
 * place at the front of the queue (WriteStall#admit).
 */
export function admitWrite(parts: StoreParts, rejoin = false): Promise<void> | undefined {
  const { engine, lock } = parts;
  if (!engine.stalled && engine.failure === undefined && !lock.lost) return undefined;
  if (lock.lost) {
    // Another process took the directory over (this one stalled past the heartbeat
    // bound): writing on would make two writers. Fail-stop.
    return Promise.reject(new StoreFailedError(`the directory lock of ${parts.directory} was taken over by another process`));
  }
  return engine.admit(rejoin);
}

/** What a lease write needs of the store handle: its leases and its one transaction context. */
export interface LeaseWriteHost {
  /** The store's lease manager (store.leases: checks the store is open). */
  leases(): LeaseManager;
  transactionContext(): TransactionContext;
}

/** The write methods of one store handle (src/store/store.ts delegates put, delete and batch here). */
export class StoreWrites {
  readonly #parts: StoreParts;
  readonly #commitBytesMax: number;
  readonly #assertOpen: (operation: string) => void;
  readonly #host: LeaseWriteHost;

  constructor(parts: StoreParts, commitBytesMax: number, assertOpen: (operation: string) => void, host: LeaseWriteHost) {
    this.#parts = parts;
    this.#commitBytesMax = commitBytesMax;
    this.#assertOpen = assertOpen;
    this.#host = host;
  }

  put(key: Key, value: unknown, options?: WriteOptions): Promise<CommitResult> {
    try {
      this.#assertOpen('put');
      if (options !== undefined) return this.#leaseWrite('put', [{ type: 'put', key, value }], options);
      return this.#submitOne(preparePutOperation(key, value, this.#parts.options.maxValueBytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  delete(key: Key, options?: WriteOptions): Promise<CommitResult> {
    try {
      this.#assertOpen('delete');
      if (options !== undefined) return this.#leaseWrite('delete', [{ type: 'del', key }], options);
      return this.#submitOne(prepareDeleteOperation(key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  batch(operations: readonly BatchOperation[], options?: WriteOptions): Promise<CommitResult> {
    try {
      this.#assertOpen('batch');
      const prepared = prepareBatch(operations, this.#parts.options.maxValueBytes, this.#commitBytesMax);
      if (options !== undefined) return this.#leaseWrite('batch', operations, options);
      if (prepared.walOperations.length === 0) return this.#emptyBatch();
      return this.#submitAdmitted(prepared);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * batch([]): commits nothing and resolves with the visible version, at once (it does
   * not wait behind a write stall). On a failed store it rejects with the failure a put
   * gets (the WAL's own error, which the pipeline knows before StoreFailure hears it, or
   * StoreFailure's for a failed flush or a lost lock: the write stall's and admitWrite's
   * message), as it rejects with StoreClosedError on a closed store: its caller asked to
   * write and must hear that the write path is gone.
   */
  #emptyBatch(): Promise<CommitResult> {
    const failed = this.#failed();
    if (failed !== undefined) return Promise.reject(failed);
    return Promise.resolve({ version: this.#parts.pipeline.visibleVersion });
  }

  /** The store's failure, undefined while it is healthy. */
  #failed(): StoreFailedError | undefined {
    return this.#parts.pipeline.failure ?? this.#parts.failure.current;
  }

  /**
   * A put or delete: its one-element array is both the WAL and the index operations
   * (prepare.ts), with no PreparedCommit around it (an object less per write, issue 12).
   */
  #submitOne(operation: PreparedOperation): Promise<CommitResult> {
    const operations = [operation];
    const sizeBytes = operationSizeBytes(operation);
    const admission = admitWrite(this.#parts);
    if (admission === undefined) return this.#parts.pipeline.submit(operations, sizeBytes, operations);
    return this.#submitAfter(admission, { walOperations: operations, indexOperations: operations, operationsSizeBytes: sizeBytes });
  }

  /** Submits a prepared commit once admitted (at once unless writes are stalled or the lock is in doubt). */
  #submitAdmitted(prepared: PreparedCommit): Promise<CommitResult> {
    const admission = admitWrite(this.#parts);
    if (admission === undefined) return this.#submit(prepared);
    return this.#submitAfter(admission, prepared);
  }

  /**
   * #submitAdmitted's stalled path, a method of its own: a closure over `prepared` in
   * #submitAdmitted made V8 allocate its context on every put, stalled or not (issue 12).
   */
  #submitAfter(admission: Promise<void>, prepared: PreparedCommit): Promise<CommitResult> {
    return admission.then(() => this.#submit(prepared));
  }

  #submit(prepared: PreparedCommit): Promise<CommitResult> {
    return this.#parts.pipeline.submit(prepared.walOperations, prepared.operationsSizeBytes, prepared.indexOperations);
  }

  /**
   * A write with lease options, as one store transaction (src/lease/lease-manager.ts
   * write): the lease checks run under the commit lock with the commit. Options with
   * neither lease nor fence take the plain path.
   */
  async #leaseWrite(operation: 'put' | 'delete' | 'batch', operations: readonly BatchOperation[], options: WriteOptions): Promise<CommitResult> {
    const resolved = writeOptions(operation, options);
    if (resolved === undefined) {
      if (operation === 'batch') return this.batch(operations);
      const [only] = operations;
      assert(only !== undefined, 'a put or delete is one operation');
      return only.type === 'put' ? this.put(only.key, only.value) : this.delete(only.key);
    }
    // An empty batch with a lease commits nothing (its lease check is a read, which a failed store still answers): refused as #emptyBatch.
    const failed = operations.length === 0 ? this.#failed() : undefined;
    if (failed !== undefined) throw failed;
    if (operation !== 'batch') {
      const [only] = operations;
      if (only?.type === 'put') preparePut(only.key, only.value, this.#parts.options.maxValueBytes); // the key and value's own typed errors first
      else if (only !== undefined) prepareDelete(only.key);
    }
    const committed = await this.#host.leases().write(resolved, operations, async (body) =>
      (await runTransactionCommit(this.#host.transactionContext(), body, {}, () => this.#assertOpen(operation))).commit);
    return committed ?? { version: this.#parts.pipeline.visibleVersion };
  }
}
