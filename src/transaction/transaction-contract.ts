/**
 * What a transaction is to the rest of the store: the body's handle (TransactionHandle),
 * what an attempt is given when it begins (TransactionContext), its isolation levels and
 * the lease fence it may carry. The attempt itself is transaction.ts.
 */
import type { Key, KeyEncoding } from '../codec/keys.js';
import type { ScanOptions } from '../store/read-options.js';
import type { CommitPipeline } from '../commit/commit-pipeline.js';
import type { StorageEngine } from '../engine/storage-engine.js';
import type { ReadPins } from '../memory/read-pins.js';
import type { TransactionLifetimes } from './transaction-lifetimes.js';
import type { Transaction } from './transaction.js';

export type Isolation = 'serializable' | 'snapshot';

export interface TransactionContext {
  /** The storage engine: the transaction captures one read view of it when it begins. */
  engine: StorageEngine;
  /** The store's write admission (the write stall); undefined when a write may go at once. */
  admit: () => Promise<void> | undefined;
  /** Every reader's pins (retention spares what they read). */
  pins: ReadPins;
  /** Running transactions' read versions only (the conflict log's horizon). */
  transactionPins: ReadPins;
  pipeline: CommitPipeline;
  maxValueBytes: number;
  commitBytesMax: number;
  keyEncoding: KeyEncoding;
  /** The store's one lifetime timer for its running transactions (transaction-lifetimes.ts); close() settles them through it. */
  lifetimes: TransactionLifetimes<Transaction>;
  /** The lease module's fence (src/lease/lease-manager.ts): reads the lease record through `tx`, returns the check to run under the commit lock. */
  fence: (tx: TransactionHandle, name: string, token: number) => Promise<LeaseFence>;
  /** The store handle's scan-step count: a loop of tx.scan lets a compaction in flight install (src/store/event-loop-turns.ts). */
  scanTurnDue: () => boolean;
}

/**
 * What requireLease leaves on a transaction: the lease record's key (part of the
 * read set in every isolation) and a check run under the commit lock, before the
 * conflict check: an Error refuses the commit.
 */
export interface LeaseFence {
  recordKey: string;
  check: () => Error | undefined;
  /** Called under the commit lock once the commit passed validation (its fences and the conflict check): a renewal moves its lease's deadline then. */
  accepted?: () => void;
}

/** A transaction scans with the store's scan options, except asOf (it reads as of its read version). */
export type TransactionScanOptions = Omit<ScanOptions, 'asOf'>;

/** What a transaction body may use: reads as of readVersion (plus its own writes), buffered writes. */
export interface TransactionHandle {
  readonly readVersion: number;
  readonly isolation: Isolation;
  get(key: Key, options?: Record<string, never>): Promise<unknown>;
  put(key: Key, value: unknown): void;
  delete(key: Key): void;
  scan(options?: TransactionScanOptions): AsyncIterableIterator<[string | Uint8Array, unknown]>;
  /**
   * Fences this transaction's commit on a lease: LeaseLostError now unless `token`
   * holds lease `name`, and the commit fails with LeaseLostError unless it still
   * does when the commit is validated under the commit lock.
   */
  requireLease(name: string, token: number): Promise<void>;
}
