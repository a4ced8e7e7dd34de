/**
 * The store's transactions (store.transaction, transactionSync) and the one
 * transaction context they and lease writes (store-writes.ts) run in.
 *
 * Invariants:
 * - A transaction is refused with StoreClosedError unless the store is open, checked
 *   first (the handle's open check, src/store/store.ts) and again at each attempt.
 * - One context per store, made at first use: its lifetimes hold the one timer for
 *   running transactions (src/transaction/transaction-lifetimes.ts).
 * - A transaction's commit is admitted past the write stall as a plain write is
 *   (admitWrite, store-writes.ts).
 */
import { optionsObject, refuseUnknownOptions } from './read-options.js';
import { closeTransaction, type Transaction, type TransactionContext, type TransactionHandle } from '../transaction/transaction.js';
import { TransactionLifetimes } from '../transaction/transaction-lifetimes.js';
import { runTransaction, TRANSACTION_OPTION_NAMES, type TransactionOptions } from '../transaction/run-transaction.js';
import { runSerialTransaction, type SerialTransactionHandle } from '../transaction/serial-transaction.js';
import type { LeaseManager } from '../lease/lease-manager.js';
import { admitWrite } from './store-writes.js';
import type { StoreParts } from './store.js';

/** transaction() called without options: every option at its default (shared, never written). */
const NO_TRANSACTION_OPTIONS: TransactionOptions = Object.freeze({});

/** The transaction methods of one store handle (src/store/store.ts delegates transaction and transactionSync here). */
export class StoreTransactions {
  readonly #parts: StoreParts;
  readonly #commitBytesMax: number;
  readonly #assertOpen: (operation: string) => void;
  /** The store's lease manager (store.leases: checks the store is open), for tx.requireLease's fence. */
  readonly #leases: () => LeaseManager;
  /** The store handle's scan-step count (StoreReads#scanTurnDue), which tx.scan counts with too. */
  readonly #scanTurnDue: () => boolean;

  constructor(parts: StoreParts, commitBytesMax: number, assertOpen: (operation: string) => void, leases: () => LeaseManager, scanTurnDue: () => boolean) {
    this.#parts = parts;
    this.#commitBytesMax = commitBytesMax;
    this.#assertOpen = assertOpen;
    this.#leases = leases;
    this.#scanTurnDue = scanTurnDue;
  }

  /**
   * Not an async function, and its context is the store's one transaction context:
   * no promise, context object and two closures per call, and two microtask hops
   * less (issue 12). A refused call still rejects, never throws.
   */
  transactionSync<T>(body: (tx: SerialTransactionHandle) => T): Promise<T> {
    try {
      this.#assertOpen('transaction');
      return runSerialTransaction(this.context(), body, this.#assertTransactionOpen);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Not an async function: it returns the retry loop's own promise (an async function
   * returning it cost a promise and a resolve-thenable job, two microtask hops, per
   * transaction: issue 12). A refused call still rejects, never throws.
   */
  transaction<T>(body: (tx: TransactionHandle) => T | Promise<T>, options?: TransactionOptions): Promise<T> {
    try {
      this.#assertOpen('transaction');
      const given = optionsObject('transaction', options);
      if (given !== undefined) refuseUnknownOptions('transaction', given, TRANSACTION_OPTION_NAMES);
      return runTransaction(this.context(), body, given ?? NO_TRANSACTION_OPTIONS, this.#assertTransactionOpen);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * close() began: every transaction() attempt whose body is still running rejects with
   * StoreClosedError now, without waiting for its body, and its tx throws StoreClosedError
   * from then on (one past its lifetime was settled when it ended). Attempts whose commit
   * is under way are left to it.
   */
  closeRunning(): void {
    for (const transaction of this.#contextMade?.lifetimes.running() ?? []) transaction[closeTransaction]();
  }

  /** close() ended: the lifetimes' timer is cleared (TransactionLifetimes#stop), so nothing of the store's outlives it. */
  closed(): void {
    this.#contextMade?.lifetimes.stop();
  }

  /** The open check each transaction attempt makes, made once per store (not a closure per transaction() call). */
  readonly #assertTransactionOpen = (): void => this.#assertOpen('transaction');

  /** Made once per store (its lifetimes hold the one timer for running transactions), not per transaction() call. */
  #contextMade: TransactionContext | undefined;

  /** The store's one transaction context (also a lease write's: store-writes.ts). */
  context(): TransactionContext {
    if (this.#contextMade !== undefined) return this.#contextMade;
    const { engine, pins, transactionPins, pipeline, options: resolved } = this.#parts;
    this.#contextMade = {
      engine, pins, transactionPins, pipeline,
      // `rejoin` is passed by transactionSync's later rounds only (SerialTransactionContext#admit).
      admit: (rejoin?: boolean) => admitWrite(this.#parts, rejoin),
      maxValueBytes: resolved.maxValueBytes,
      commitBytesMax: this.#commitBytesMax,
      keyEncoding: resolved.keyEncoding,
      lifetimes: new TransactionLifetimes<Transaction>(resolved.transactionLifetimeMs),
      fence: (tx, name, token) => this.#leases().fence(tx, name, token),
      scanTurnDue: this.#scanTurnDue,
    };
    return this.#contextMade;
  }
}
