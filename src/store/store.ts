/**
 * The store handle: the public methods, each validating its input, then handing
 * writes to the commit pipeline and answering reads from a read view of the
 * storage engine (memtables and runs, src/engine/).
 *
 * Every method resolves only when its effect is durable and visible: a write's
 * promise resolves after the fdatasync that covers it and after it is applied;
 * a read sees every write acknowledged before it started.
 *
 * Lifecycle: 'open' -> 'closing' -> 'closed'. close() takes the store.lifecycle
 * lock, then the pipeline drains under the commit lock (rank order 10 -> 30).
 * Reads keep working while the store is failed (they only see acknowledged data);
 * writes are refused with StoreFailedError until the store is reopened.
 *
 * In their own modules: the write path, put, delete and batch with the write stall's
 * admission and lease writes (store-writes.ts), the read methods, get, history and
 * scan (store-reads.ts), transaction and transactionSync with the store's one
 * transaction context (store-transactions.ts), the snapshot handle (StoreSnapshot,
 * store-snapshot.ts), the scrub passes, called and background (store-scrub.ts), and
 * the work the lifecycle lock guards: checkpoint, compaction, backup, close's and
 * abandon's steps (store-maintenance.ts). This module keeps the handle's state, its
 * open check and the lifecycle lock.
 */
import { InvalidOptionError, StoreClosedError } from '../errors.js';
import type { KillableFileSystem } from '../fs/killable-file-system.js';
import type { Key } from '../codec/keys.js';
import type { ScanOptions } from './read-options.js';
import type { CommitPipeline, CommitResult } from '../commit/commit-pipeline.js';
import type { BatchOperation } from '../commit/prepare.js';
import { OrderedMutex } from '../lock/ordered-mutex.js';
import type { CheckpointResult, StorageEngine } from '../engine/storage-engine.js';
import { Snapshot } from '../transaction/snapshot.js';
import type { TransactionHandle } from '../transaction/transaction.js';
import type { TransactionOptions } from '../transaction/run-transaction.js';
import type { WriteOptions } from '../lease/write-options.js';
import type { SerialTransactionHandle } from '../transaction/serial-transaction.js';
import type { ReadPins } from '../memory/read-pins.js';
import type { HistoryEntry } from '../memory/history.js';
import type { WalWriter } from '../wal/wal-writer.js';
import type { DirectoryLock } from './directory-lock.js';
import type { StoreFailure } from './store-failure.js';
import { commitBytesLimit, refuseOptions, type ResolvedOptions } from './options.js';
import type { RecoveryReport, StoreStats } from './stats.js';
import { buildStats } from './stats.js';
import { collectMetrics, metricsFormat, type MetricsOptions, prometheusText, type StoreMetrics } from '../metrics/store-metrics.js';
import { LeaseManager } from '../lease/lease-manager.js';
import { checkScrubOptions, type ScrubOptions, type ScrubReport } from '../stripe/scrub.js';
import type { BackgroundScrub } from '../stripe/background-scrub.js';
import { scrubPass, startBackgroundScrub } from './store-scrub.js';
import { StoreSnapshot } from './store-snapshot.js';
import { StoreWrites } from './store-writes.js';
import { StoreTransactions } from './store-transactions.js';
import { StoreReads } from './store-reads.js';
import { type Change, WatchHub, type WatchOptions } from '../watch/change-feed.js';
import { checkBackupArguments, type BackupOptions, type BackupResult } from '../backup/take-backup.js';
import { abandonStoreParts, backupStore, checkpointStore, closeStoreParts, compactRequest, compactStore, type CompactOptions, type StoreCompactionResult } from './store-maintenance.js';

export interface GetOptions {
  /** Read as of this version (default: the newest visible version). */
  asOf?: number;
}

export type { HistoryEntry } from '../memory/history.js';
export { StoreSnapshot } from './store-snapshot.js';

export interface StoreParts {
  directory: string;
  options: ResolvedOptions;
  lock: DirectoryLock;
  writer: WalWriter;
  engine: StorageEngine;
  pins: ReadPins;
  /** Read versions of running transactions only: the conflict log is pruned below the oldest. */
  transactionPins: ReadPins;
  pipeline: CommitPipeline;
  /** Whether the store failed, whatever the cause (WAL, flush, directory lock), and who hears of it. */
  failure: StoreFailure;
  recovery: RecoveryReport;
  /** The store's file system, switched off when the handle is abandoned. */
  fileSystem: KillableFileSystem;
}

type State = 'open' | 'closing' | 'closed';

/**
 * Internal (tests and the crash harness): `store[abandonStore]()` makes the handle
 * behave like a process that died: no I/O, the in-process lock token is forgotten
 * (the lock file stays, as a dead process leaves it), every later call fails.
 */
export const abandonStore: unique symbol = Symbol('ladybug.abandonStore');

export class Store {
  readonly #parts: StoreParts;
  readonly #lifecycleLock = new OrderedMutex('store.lifecycle');
  #state: State = 'open';
  /** Present when the scrubIntervalMs option is set; stopped first thing in close(). */
  readonly #backgroundScrub: BackgroundScrub | undefined;
  /** Aborts the store.scrub() calls under way or waiting: close() aborts them as it stops a background pass. */
  readonly #scrubCalls = new AbortController();
  /** put, delete and batch: admission and the commit pipeline, or a lease write (store-writes.ts). */
  readonly #writes: StoreWrites;
  /** get, history and scan: answered from the engine's read view (store-reads.ts). */
  readonly #reads: StoreReads;
  /** transaction, transactionSync and the one transaction context (store-transactions.ts). */
  readonly #transactions: StoreTransactions;

  /** @internal Use openStore(). */
  constructor(parts: StoreParts) {
    this.#parts = parts;
    const commitBytesMax = commitBytesLimit(parts.options.segmentSizeBytes);
    this.#reads = new StoreReads(parts, (operation) => this.#assertOpen(operation));
    // Transaction scans count their steps with the handle's scans (event-loop-turns.ts).
    this.#transactions = new StoreTransactions(parts, commitBytesMax, (operation) => this.#assertOpen(operation), () => this.leases, this.#reads.scanTurnDue);
    this.#writes = new StoreWrites(parts, commitBytesMax, (operation) => this.#assertOpen(operation), {
      leases: () => this.leases,
      transactionContext: () => this.#transactions.context(),
    });
    this.#backgroundScrub = startBackgroundScrub(parts, (options) => this.#scrub(options, true));
    // A failed store rewrites nothing, a scrub's repairs included: its background passes stop (close() stops it again, a no-op).
    if (this.#backgroundScrub !== undefined) {
      const backgroundScrub = this.#backgroundScrub;
      parts.failure.onFailure(() => void backgroundScrub.stop());
    }
  }

  /** The directory this store lives in. */
  get directory(): string {
    return this.#parts.directory;
  }

  /** The newest version whose writes are durable and visible. */
  get version(): number {
    return this.#parts.pipeline.visibleVersion;
  }

  get closed(): boolean {
    return this.#state !== 'open';
  }

  #assertOpen(operation: string): void {
    if (this.#state !== 'open') throw new StoreClosedError(operation);
  }

  /**
   * For work called while the store was open and granted the lifecycle lock later: a
   * close() called after it queues behind it on that lock and waits for it (as it waits
   * for in-flight commits), so only a close that already ran refuses it.
   */
  #assertNotClosed(operation: string): void {
    if (this.#state === 'closed') throw new StoreClosedError(operation);
  }

  /**
   * `options`: lease-bound or fenced write (src/lease/write-options.ts).
   * put, delete and batch are not async functions: each returns the commit's own
   * promise (store-writes.ts). A refused call still rejects, never throws.
   */
  put(key: Key, value: unknown, options?: WriteOptions): Promise<CommitResult> {
    return this.#writes.put(key, value, options);
  }

  /** `options`: a fence only; a deleted key has nothing to bind, so `lease` is refused (InvalidOptionError) and not in the type. */
  delete(key: Key, options?: Omit<WriteOptions, 'lease'>): Promise<CommitResult> {
    return this.#writes.delete(key, options);
  }

  /** Applies every operation atomically, as one commit with one version. */
  batch(operations: readonly BatchOperation[], options?: WriteOptions): Promise<CommitResult> {
    return this.#writes.batch(operations, options);
  }

  /**
   * The value of `key` as of the newest version (or `asOf`); undefined when absent or
   * deleted. Not an async function (store-reads.ts). A refusal still rejects, never throws.
   */
  get(key: Key, options?: GetOptions): Promise<unknown> {
    return this.#reads.get(key, options);
  }

  /** Versions of `key`, newest first, as far as retention keeps them. */
  history(key: Key, options?: { limit?: number }): Promise<HistoryEntry[]> {
    return this.#reads.history(key, options);
  }

  /**
   * Entries in key order (or reverse) within the bounds, as of one version (the
   * newest when scan() is called, or `asOf`), however long the iteration takes: the
   * version is pinned from this call on, so retention cannot reclaim what the scan
   * still has to read. Break out of the loop (or call return()) to release it early.
   */
  scan(options?: ScanOptions): AsyncIterableIterator<[string | Uint8Array, unknown]> {
    return this.#reads.scan(options);
  }

  /**
   * Runs the synchronous `body` as a serial transaction: inside the commit critical
   * section, after every commit ordered before it, reading the latest ordered state
   * (so it never conflicts and is never retried for one). Resolves with the body's
   * result once its commit is durable and visible. The body may run again when it
   * read a key memory could not answer (src/transaction/serial-transaction.ts).
   * Not an async function (store-transactions.ts). A refused call still rejects, never throws.
   */
  transactionSync<T>(body: (tx: SerialTransactionHandle) => T, options?: undefined): Promise<T> {
    // It takes no options: transaction()'s (retries, isolation, signal) would be ignored here, so they are refused.
    if (options !== undefined) {
      return Promise.reject(new InvalidOptionError('options', 'transactionSync() takes no options (it never conflicts, so it never retries; use transaction() for isolation, retries or a signal)'));
    }
    return this.#transactions.transactionSync(body);
  }

  /**
   * Runs `body` as an optimistic transaction and commits its writes atomically.
   * On a conflict the whole body re-runs (jittered backoff) up to `retries` times,
   * then ConflictError names what conflicted. A body that throws aborts: nothing is
   * written and the error propagates. Resolves with the body's result once the
   * commit is durable and visible.
   * Not an async function (store-transactions.ts). A refused call still rejects, never throws.
   */
  transaction<T>(body: (tx: TransactionHandle) => T | Promise<T>, options?: TransactionOptions): Promise<T> {
    return this.#transactions.transaction(body, options);
  }

  /** A pinned read-only view as of the current version; release() it (or `await using`). No options: an argument is refused. */
  async snapshot(argument?: undefined): Promise<StoreSnapshot> {
    this.#assertOpen('snapshot');
    refuseOptions('snapshot', argument, 'a snapshot is of the current version; read older ones with asOf on get, scan or history');
    const { engine, pins, options } = this.#parts;
    // The view and the version are taken in one synchronous step with the pin.
    const snapshot = new Snapshot(
      { view: engine.view(), pins, keyEncoding: options.keyEncoding, maxAgeMs: options.snapshotMaxAgeMs, checkOpen: () => this.#assertOpen('snapshot'), scanTurnDue: this.#reads.scanTurnDue },
      this.version,
    );
    return new StoreSnapshot(snapshot);
  }

  /**
   * Flushes everything acknowledged so far into a run, records it in the manifest,
   * and deletes the WAL segments the runs cover. A reopen after it replays nothing
   * written before it. Commits may continue meanwhile (they go to the next memtable).
   * No options: an argument is refused.
   */
  async checkpoint(argument?: undefined): Promise<CheckpointResult> {
    this.#assertOpen('checkpoint');
    refuseOptions('checkpoint', argument, 'a checkpoint always flushes everything acknowledged so far');
    return this.#lifecycleLock.runExclusive(async () => {
      this.#assertNotClosed('checkpoint');
      return await checkpointStore(this.#parts);
    });
  }

  [abandonStore](): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#watchHub?.storeClosing();
    void this.#backgroundScrub?.stop();
    abandonStoreParts(this.#parts);
  }

  /** No options (an argument is refused); works on a closed store. */
  stats(argument?: undefined): StoreStats {
    refuseOptions('stats', argument, 'it returns every figure; metrics({ format }) has the histograms and Prometheus text');
    return buildStats(this.#parts, this.#state !== 'open');
  }

  /**
   * Waits for in-flight commits to become durable and be acknowledged, closes the
   * WAL and releases the directory lock. Idempotent; later calls of any other
   * method fail with StoreClosedError. A transaction() whose body is still running
   * rejects with StoreClosedError at once (its tx refuses every later use so), one
   * whose commit is under way is waited for like any in-flight commit. A running compaction (background, or a
   * compact() call, which then rejects with StoreClosedError) is cancelled, not
   * waited for: it installs nothing and its debt stays for the next open.
   */
  async close(): Promise<void> {
    // Refuse new calls from now on, not from when the lock is granted: a put in the
    // same tick as close() is refused rather than racing the drain.
    if (this.#state === 'open') this.#state = 'closing';
    // A transaction body still running can never commit now: its transaction() rejects
    // with StoreClosedError at once, even if the body never settles (store-transactions.ts).
    this.#transactions.closeRunning();
    // Acquires waiting for a held lease (waitMs) end now with StoreClosedError, not when their wait runs out.
    this.#leases?.storeClosing();
    // Watch feeds waiting for a commit end now with StoreClosedError, not at the hub's next closed check.
    this.#watchHub?.storeClosing();
    // Before the lock (a compact() call holds it): cancel compaction, background or
    // called, as RocksDB's CancelAllBackgroundWork; it installs nothing and a
    // compact() call rejects with StoreClosedError (Compactor#cancel).
    this.#parts.engine.compactor.cancel();
    // Before the lock: a background pass holds it while it runs; aborted, it lets go. So does a called one.
    this.#scrubCalls.abort();
    await this.#backgroundScrub?.stop();
    await this.#lifecycleLock.runExclusive(async () => {
      if (this.#state === 'closed') return;
      await closeStoreParts(this.#parts);
      this.#state = 'closed';
      this.#transactions.closed();
    });
  }

  // Leases and the change feed (issue 10): src/lease/, src/watch/.
  #leases: LeaseManager | undefined;
  #watchHub: WatchHub | undefined;

  /**
   * Leases with fencing tokens (src/lease/lease-manager.ts). Created on first use;
   * its first operation applies the restart rule (leases of earlier opens expire).
   */
  get leases(): LeaseManager {
    this.#assertOpen('leases');
    const { options } = this.#parts;
    if (this.#leases === undefined) {
      const leases = new LeaseManager(this, { ttlMsMax: options.leaseTtlMsMax, authorize: options.authorize });
      // A failed store ends its waiting acquires with its failure (called at once if it already failed).
      this.#parts.failure.onFailure((failure) => leases.storeFailed(failure));
      this.#leases = leases;
    }
    return this.#leases;
  }

  /** Durable changes in version order: catch up from `sinceVersion`, then follow commits (src/watch/). */
  watch(options?: WatchOptions): AsyncGenerator<Change, void, undefined> {
    this.#assertOpen('watch');
    const { engine, pins, pipeline, failure, options: resolved } = this.#parts;
    this.#watchHub ??= new WatchHub({
      pipeline, failure, pins, view: () => engine.view(), keyEncoding: resolved.keyEncoding, checkOpen: () => this.#assertOpen('watch'),
    });
    return this.#watchHub.watch(options);
  }

  /**
   * Compacts the runs now (src/compaction/): the adjacent runs whose keys meet
   * [gte, lt), or all runs, merge into one, dropping what retention and the pins
   * allow. Data still in memtables is not touched (checkpoint() first to include it).
   * `retainFrom`: raise the store-wide retention floor toward this version first
   * (src/compaction/retention-floor.ts): as-of reads below the floor are refused for
   * every key from then on, and compaction drops what only they could read. The floor
   * stops at the oldest pinned reader and at the last checkpoint's version; the result
   * says where it is (`retentionFloor`); a version past the store's newest is refused
   * (InvalidOptionError). Then the WAL's spare segments (the recycled
   * pool, a next segment prepared ahead) are removed: the next ones are made new; the
   * result counts them (`walSegmentsReleased`, `walBytesReleased`).
   */
  async compact(options?: CompactOptions): Promise<StoreCompactionResult> {
    this.#assertOpen('compact');
    const request = compactRequest(options);
    // A floor past the newest version would be capped there and drop every older version of
    // every key: a mistyped number's cost. Refused, as etcd refuses a future compaction revision.
    const { retainFrom } = request.range;
    if (retainFrom !== undefined && retainFrom > this.version) {
      throw new InvalidOptionError('retainFrom', `${retainFrom} is past the store's newest version ${this.version}`);
    }
    return this.#lifecycleLock.runExclusive(async () => {
      this.#assertOpen('compact');
      return await compactStore(this.#parts, request);
    });
  }

  /**
   * Reads and checks every block of every live run, rebuilds what parity can and
   * rewrites it, then the manifest's two copies (a damaged one is rewritten) and the
   * sealed WAL segments' records (damage reported, never dropped), and reports what
   * was repaired or is unrecoverable, and where (src/stripe/scrub.ts). Paced by `bytesPerSecond`; `signal` stops it early.
   */
  async scrub(options?: ScrubOptions): Promise<ScrubReport> {
    this.#assertOpen('scrub');
    const checked = checkScrubOptions(options);
    // close() aborts it (resolving with aborted: true), as it stops a background pass, instead of waiting for a paced pass.
    const signal = checked.signal === undefined ? this.#scrubCalls.signal : AbortSignal.any([checked.signal, this.#scrubCalls.signal]);
    return this.#scrub({ ...checked, signal }, false);
  }

  async #scrub(options: ScrubOptions, background: boolean): Promise<ScrubReport> {
    return this.#lifecycleLock.runExclusive(async () => {
      this.#assertOpen('scrub');
      // A scrub rewrites what it repairs: refused on a failed store, as compact() is (store-failure.ts).
      const failure = this.#parts.failure.current;
      if (failure !== undefined) throw failure;
      return await scrubPass(this.#parts.engine, this.#parts.directory, options, background);
    });
  }
  /**
   * Histograms of the commit path (commit, fdatasync, group size, lock waits), of
   * flushes and compactions, and of sampled point reads by source, and counters
   * since open, as data or as Prometheus text (src/metrics/).
   * No I/O; works on a closed store (the last values).
   */
  metrics(options?: { format?: 'data' }): StoreMetrics;
  metrics(options: { format: 'prometheus' }): string;
  metrics(options?: MetricsOptions): StoreMetrics | string;
  metrics(options?: MetricsOptions): StoreMetrics | string {
    const format = metricsFormat(options);
    const { pipeline, writer, engine } = this.#parts;
    const data = collectMetrics({ commit: pipeline.metrics, wal: writer.metrics, storage: engine.metrics, walBytesWritten: writer.stats().bytesWritten, version: this.version });
    return format === 'prometheus' ? prometheusText(data) : data;
  }

  /**
   * Online backup into `targetDirectory` (missing or empty): checkpoints, then
   * links or copies the runs of one manifest state and writes BACKUP.json last
   * (src/backup/take-backup.ts). Commits continue meanwhile; checkpoint(),
   * compact() and close() wait. Resolves with the version the backup holds.
   */
  async backup(targetDirectory: string, options?: BackupOptions): Promise<BackupResult> {
    this.#assertOpen('backup');
    const checked = checkBackupArguments(targetDirectory, options);
    return this.#lifecycleLock.runExclusive(async () => {
      this.#assertNotClosed('backup');
      return await backupStore(this.#parts, targetDirectory, checked);
    });
  }
}
