/**
 * store.transaction(): the retry loop around Transaction attempts.
 *
 * Each attempt gets a fresh Transaction (fresh read version, empty read and write
 * sets) and runs the whole body again. After a conflict it first waits until the
 * winning commit is visible (a retry before that reads below the winner and is
 * certain to lose again), then a short jittered exponential backoff, up to `retries`. An attempt
 * always ends with finishing the tx (pin released, the tx object unusable), whether it
 * committed, conflicted, threw, or was aborted through `signal`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, describeValue, InvalidOptionError } from '../errors.js';
import { stringKey } from '../codec/keys.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import type { KeyRange } from '../memory/memory-index.js';
import {
  RETRY_BACKOFF_MS_BASE,
  RETRY_BACKOFF_MS_MAX,
  TRANSACTION_RETRIES_DEFAULT,
  TRANSACTION_RETRIES_MAX,
} from '../limits.js';
import {
  abortAttempt, attemptEnded, attemptSignal, commitTransaction, finishTransaction, type Isolation, Transaction, TransactionConflict, type TransactionContext, type TransactionHandle,
} from './transaction.js';
import type { TransactionLifetimes } from './transaction-lifetimes.js';
import { untilAborted, watchSignal } from './signal-waits.js';

export interface TransactionOptions {
  /** 'serializable' (default) or 'snapshot' (write-write conflicts only). */
  isolation?: Isolation;
  /** Re-runs after a conflict before giving up with ConflictError. Default 10. */
  retries?: number;
  /** Aborts the transaction (before its commit) when signalled, also while its body is still running or a retry waits; nothing is written. */
  signal?: AbortSignal;
}

/** The names transaction()'s options take; any other is refused (src/store/read-options.ts refuseUnknownOptions). */
export const TRANSACTION_OPTION_NAMES: readonly string[] = ['isolation', 'retries', 'signal'];

/** The isolation `options` asks for; InvalidOptionError unless a known one. */
function isolationOption(options: TransactionOptions): Isolation {
  // undefined only: null is a wrong type, refused as every other option refuses it, not taken for the default.
  const isolation = options.isolation === undefined ? 'serializable' : options.isolation;
  if (isolation !== 'serializable' && isolation !== 'snapshot') {
    throw new InvalidOptionError('isolation', `must be 'serializable' or 'snapshot', got ${describeValue(isolation)}`);
  }
  return isolation;
}

/** The retries `options` asks for; InvalidOptionError unless an integer within the limit. */
function retriesOption(options: TransactionOptions): number {
  const retries = options.retries === undefined ? TRANSACTION_RETRIES_DEFAULT : options.retries;
  if (!Number.isInteger(retries) || retries < 0 || retries > TRANSACTION_RETRIES_MAX) {
    throw new InvalidOptionError('retries', `must be an integer between 0 and ${TRANSACTION_RETRIES_MAX}, got ${describeValue(retries)}`);
  }
  return retries;
}

/** The abort signal `options` gives, if any; InvalidOptionError unless an AbortSignal. */
function signalOption(options: TransactionOptions): AbortSignal | undefined {
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidOptionError('signal', 'must be an AbortSignal');
  }
  return options.signal;
}

function backoffMs(attempt: number): number {
  const base = Math.min(RETRY_BACKOFF_MS_MAX, RETRY_BACKOFF_MS_BASE * 2 ** (attempt - 1));
  return base * (0.5 + Math.random());
}

function externalRange(range: KeyRange): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [bound, key] of Object.entries(range)) if (key !== undefined) result[bound] = stringKey(key);
  return result;
}

function conflictError(conflict: TransactionConflict, attempts: number): ConflictError {
  const { version, keys, ranges } = conflict.conflict;
  return new ConflictError(keys.map(stringKey), ranges.map(externalRange), version, attempts);
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The signal aborted: ends every running attempt of `lifetimes`' store given it whose body is still running (signal-waits.ts). */
function abortRunning(lifetimes: TransactionLifetimes<Transaction>, signal: AbortSignal): void {
  for (const transaction of lifetimes.running()) if (transaction[attemptSignal] === signal) abortBody(transaction, signal.reason);
}

/** The signal aborted while the body runs: its tx ends now (its next use, a scan step already awaited too, throws TransactionClosedError) and the wait rejects. */
function abortBody(transaction: Transaction, reason: unknown): void {
  const reject = transaction[abortAttempt];
  if (reject === undefined) return; // the body settled: a commit under way is not interrupted
  transaction[finishTransaction]();
  reject(reason);
}

/**
 * The body's outcome, or StoreClosedError when the store's close() reaches the attempt
 * first (Transaction[closeTransaction]), or the signal's reason when `signal` aborts
 * first: a body that never settles must not leave transaction() pending after close or
 * an abort. One promise per asynchronous attempt. With a signal, abortAttempt is cleared
 * when the body settles, so an abort after that rejects nothing.
 */
function bodyOrClose<T>(transaction: Transaction, outcome: PromiseLike<T>, signal: AbortSignal | undefined, lifetimes: TransactionLifetimes<Transaction>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    transaction[abortAttempt] = reject;
    if (signal === undefined) {
      outcome.then(resolve, reject);
    } else {
      outcome.then((value) => { transaction[abortAttempt] = undefined; resolve(value); }, (error: unknown) => { transaction[abortAttempt] = undefined; reject(error); });
      // Aborted already (by the body's synchronous part): no event will come.
      if (signal.aborted) {
        abortBody(transaction, signal.reason);
      } else {
        transaction[attemptSignal] = signal;
        watchSignal(signal, lifetimes, abortRunning);
      }
    }
    // close() (or the lifetime's end) reached the attempt before this wait began, while the
    // body's synchronous part ran: it found no wait to reject, so the wait rejects now.
    const ended = transaction[attemptEnded]();
    if (ended !== undefined) reject(ended);
  });
}

/** What runTransactionCommit also answers: the commit (undefined for a transaction that wrote nothing). */
interface Committed {
  commit: CommitResult | undefined;
}

/**
 * The body's result. The retry loop itself: no wrapper promise, reaction and result
 * object per transaction around it (issue 12).
 */
export function runTransaction<T>(
  context: TransactionContext,
  body: (tx: TransactionHandle) => T | Promise<T>,
  options: TransactionOptions,
  checkOpen: () => void,
): Promise<T> {
  return runAttempts(context, body, options, checkOpen, undefined);
}

/** runTransaction, also answering the commit (undefined for a transaction that wrote nothing): fenced writes return its version. */
export async function runTransactionCommit<T>(
  context: TransactionContext,
  body: (tx: TransactionHandle) => T | Promise<T>,
  options: TransactionOptions,
  checkOpen: () => void,
): Promise<{ result: T; commit: CommitResult | undefined }> {
  const committed: Committed = { commit: undefined };
  const result = await runAttempts(context, body, options, checkOpen, committed);
  return { result, commit: committed.commit };
}

/** The attempts of one transaction; the commit goes to `committed` when given. */
async function runAttempts<T>(
  context: TransactionContext,
  body: (tx: TransactionHandle) => T | Promise<T>,
  options: TransactionOptions,
  checkOpen: () => void,
  committed: Committed | undefined,
): Promise<T> {
  if (typeof body !== 'function') throw new InvalidOptionError('body', 'transaction() takes a function (tx) => ...');
  // Three values, no resolved-options object per transaction (issue 12).
  const isolation = isolationOption(options);
  const retries = retriesOption(options);
  const signal = signalOption(options);
  let winner = 0;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    checkOpen();
    const transaction = new Transaction(context, isolation);
    try {
      const outcome = body(transaction);
      const result = await (isPromiseLike(outcome) ? bodyOrClose(transaction, outcome, signal, context.lifetimes) : outcome);
      signal?.throwIfAborted();
      // A body still running when close() began commits nothing: close() may not
      // have reached the pipeline yet, so the store's state is the authority.
      checkOpen();
      const commit = await transaction[commitTransaction](signal);
      if (committed !== undefined) committed.commit = commit;
      return result;
    } catch (error) {
      if (!(error instanceof TransactionConflict)) throw error;
      if (attempt > retries) throw conflictError(error, attempt);
      winner = error.conflict.version;
    } finally {
      transaction[finishTransaction]();
    }
    // Retrying before the winner is visible would read below it and lose again. Under a
    // signal the wait (the winner's fdatasync, then the backoff) ends at once on abort.
    if (signal === undefined) {
      await context.pipeline.whenSettled(winner);
      await sleep(backoffMs(attempt));
    } else {
      await untilAborted(signal, context.pipeline.whenSettled(winner), backoffMs(attempt));
    }
  }
}
