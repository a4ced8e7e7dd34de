/**
 * One attempt of an optimistic transaction.
 *
 * It reads as of `readVersion` (pinned for its whole life, so retention cannot
 * reclaim what it reads), sees its own buffered writes, and records what it read:
 * point keys and scanned ranges. Writes are validated and encoded when made (bad
 * input fails there, as for put) and buffered; nothing reaches the store before
 * commit. At commit the buffered writes go to the commit pipeline as one commit,
 * with a validation that runs under the commit lock against every commit above
 * `readVersion`, durable or still queued:
 * - serializable: refused if any of them wrote a key it read or a key inside a
 *   range it scanned (so phantoms conflict, not just point reads);
 * - snapshot: refused if any of them wrote a key it writes (first committer wins).
 * Leases it required (requireLease) are checked first, in the same locked section:
 * LeaseLostError unless each still holds; their records count as read in both
 * isolations (a lease change after readVersion is a conflict, and the retry fails).
 * A read-only transaction commits without validation: it read one consistent
 * snapshot, which is a serial point in the history. A commit is validated only while
 * the pin is held: the conflict log is pruned up to the oldest pinned read version, so
 * an attempt whose lifetime ended while its commit waited (write stall, commit lock)
 * is refused with TransactionLimitError, never checked against a pruned log.
 *
 * Invariants: after finish() every method throws TransactionClosedError (StoreClosedError
 * once the store's close() reached it while its body ran, TransactionLimitError once its
 * lifetime ended while its body ran) and the pin is released exactly once.
 */
import { InvalidOptionError, StoreClosedError, TransactionClosedError, TransactionLimitError } from '../errors.js';
import { internalKey, type Key } from '../codec/keys.js';
import { readOptions, scanBounds } from '../store/read-options.js';
import { readStored } from '../codec/values.js';
import type { CommitResult, Validation } from '../commit/commit-pipeline.js';
import { type PreparedOperation, prepareDeleteInternal, preparePutInternal } from '../commit/prepare.js';
import { appendSmall, WriteSet } from './write-set.js';
import { KeyMemo } from './key-memo.js';
import { TRANSACTION_FENCES_MAX } from '../limits.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { ReadRequest, ReadView } from '../engine/read-view.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { type Conflict, type ConflictLog, conflictLogSettings } from './conflict-log.js';
import { scanWithOwnWrites, type TransactionScanSource } from './transaction-scan.js';
import { type ExpirableTransaction, expireTransaction, lifetimeOpen } from './transaction-lifetimes.js';
import { untilAborted } from './signal-waits.js';

export type { Isolation, LeaseFence, TransactionContext, TransactionHandle, TransactionScanOptions } from './transaction-contract.js';
import type { Isolation, LeaseFence, TransactionContext, TransactionHandle, TransactionScanOptions } from './transaction-contract.js';

/** tx.put and tx.delete take no options: a { lease } or { fence } there would be ignored, so it is refused (fence with tx.requireLease). */
function refuseWriteOptions(method: 'put' | 'delete'): never {
  throw new InvalidOptionError('options', `tx.${method}() takes no options: fence a transaction with tx.requireLease(); lease binds keys through store.put and store.batch`);
}

/** Internal entry points for store.transaction(); not reachable through TransactionHandle. */
export const commitTransaction: unique symbol = Symbol('ladybug.commitTransaction');
export const finishTransaction: unique symbol = Symbol('ladybug.finishTransaction');
export const closeTransaction: unique symbol = Symbol('ladybug.closeTransaction');
/** Set by store.transaction() while it awaits the attempt's body: rejects that wait (run-transaction.ts). */
export const abortAttempt: unique symbol = Symbol('ladybug.abortAttempt');
/** Why the attempt's body wait must reject at once (close or the lifetime's end came first), or undefined (run-transaction.ts). */
export const attemptEnded: unique symbol = Symbol('ladybug.attemptEnded');
/** The signal an attempt's body runs under, for the signal's one listener (run-transaction.ts). */
export const attemptSignal: unique symbol = Symbol('ladybug.attemptSignal');

/**
 * Thrown inside the commit path when validation finds a conflict; store.transaction()
 * retries or reports it (as ConflictError, which has its stack). Internal and
 * expected, so it captures no stack trace, which it would capture under the commit
 * lock: 14-16 µs per conflict with the stack, 1.2-1.8 µs without (made 12 frames
 * deep, busy machine; issue 12).
 */
export class TransactionConflict extends Error {
  readonly conflict: Conflict;
  constructor(conflict: Conflict) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`conflict with version ${conflict.version}`);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.conflict = conflict;
  }
}

/** Most read keys kept in an array (searched linearly) before the read set becomes a Set. */
export const READ_SET_SMALL_KEYS_MAX = 8;

export class Transaction implements TransactionHandle, ExpirableTransaction {
  readonly readVersion: number;
  readonly isolation: Isolation;
  readonly #context: TransactionContext;
  readonly startedAtMs = performance.now();
  /** TransactionLifetimes' mark (declared here for one object shape). */
  [lifetimeOpen] = false;
  readonly #writeSet = new WriteSet();
  /** The keys lately encoded: a key read and then written is encoded once (key-memo.ts). */
  readonly #keys = new KeyMemo();
  /**
   * The keys read (internal form), each once: an array while at most
   * READ_SET_SMALL_KEYS_MAX (searched linearly), then a Set for good. Made at the
   * first read (issue 12: a Set per transaction was one of its larger allocations).
   */
  #readKeys: string[] | Set<string> | undefined;
  /** Made at the first scan (most transactions only get); the fences at the first requireLease. */
  #readRanges: KeyRange[] | undefined;
  /** requireLease's fences, checked under the commit lock (at most TRANSACTION_FENCES_MAX). */
  #fences: LeaseFence[] | undefined;
  /** 'open' -> 'sealed' (commit started) -> 'finished'; 'open' -> 'storeClosed' (close() reached the body) or 'expired' (its lifetime ended while the body ran): both kept at finish, so a body that resumes learns why. */
  #state: 'open' | 'sealed' | 'finished' | 'storeClosed' | 'expired' = 'open';
  [abortAttempt]: ((reason: unknown) => void) | undefined = undefined;
  [attemptSignal]: AbortSignal | undefined = undefined;
  #pinned = true;
  /**
   * The sources as of readVersion (captured with the pin, in the same synchronous step).
   * Undefined once unpinned: a tx object the application keeps after its transaction
   * ended must not keep the memtables and runs the view holds (every read checks the
   * pin first).
   */
  #view: ReadView | undefined;

  constructor(context: TransactionContext, isolation: Isolation) {
    this.#context = context;
    this.isolation = isolation;
    // Read and pin in one synchronous step: no commit can trim this version in between.
    this.readVersion = context.pipeline.visibleVersion;
    const view = context.engine.view();
    this.#view = view;
    context.pins.pin(this.readVersion);
    context.transactionPins.pin(this.readVersion);
    // Its memtables stay counted after their flush while it holds them (engine/memtable-holds.ts).
    view.hold();
    // A body stuck in an await past its lifetime must not pin old versions (and the
    // conflict log) forever: the pins go when the lifetime ends, used or not.
    context.lifetimes.add(this);
  }

  /**
   * The lifetime ended (TransactionLifetimes): the pins go; the next use throws
   * TransactionLimitError, and store.transaction() stops waiting for a body still running
   * (it rejects with that error now, not when, or if, the body resumes).
   */
  [expireTransaction](): void {
    this.#unpin();
    if (this.#state !== 'open') return;
    this.#state = 'expired';
    this[abortAttempt]?.(this.#lifetimeError());
  }

  /**
   * The store's close() began while the body ran: it can never commit (its commit checks the
   * store is open), so store.transaction() stops waiting for it (StoreClosedError) and every
   * later use throws StoreClosedError. A sealed one (its commit under way) is left to commit.
   */
  [closeTransaction](): void {
    if (this.#state !== 'open') return;
    this.#state = 'storeClosed';
    this[abortAttempt]?.(new StoreClosedError('transaction'));
  }

  /** What close or the lifetime's end rejects a body wait set up only after them (a body that began close() synchronously) with. */
  [attemptEnded](): Error | undefined {
    if (this.#state === 'storeClosed') return new StoreClosedError('transaction');
    if (this.#state === 'expired') return this.#lifetimeError();
    return undefined;
  }

  /**
   * Open, and still pinned: what a read or a buffered write needs. No clock here
   * (issue 12: a clock read per get and put): reads are safe while the pin is held,
   * and the lifetime's end takes the pin (TransactionLifetimes, at most a timer delay
   * late); the commit and the start of a scan read the clock (#checkLifetime).
   */
  #check(operation: string): void {
    if (this.#state !== 'open') throw this.#endedError(operation);
    if (!this.#pinned) throw this.#lifetimeError();
  }

  /** What a use of an ended transaction throws: why it ended while its body ran (close, the lifetime), else TransactionClosedError. */
  #endedError(operation: string): Error {
    if (this.#state === 'storeClosed') return new StoreClosedError(operation);
    if (this.#state === 'expired') return this.#lifetimeError();
    return new TransactionClosedError(operation);
  }

  /** #check, and the attempt has not outlived its lifetime by the clock. */
  #checkLifetime(operation: string): void {
    this.#check(operation);
    if (performance.now() - this.startedAtMs > this.#context.lifetimes.lifetimeMs) throw this.#lifetimeError();
  }

  #lifetimeError(): TransactionLimitError {
    const ageMs = performance.now() - this.startedAtMs;
    return new TransactionLimitError('lifetime', `transaction ran ${Math.round(ageMs)} ms, over its lifetime of ${this.#context.lifetimes.lifetimeMs} ms`);
  }

  #unpin(): void {
    if (!this.#pinned) return;
    this.#pinned = false;
    this.#context.pins.unpin(this.readVersion);
    this.#context.transactionPins.unpin(this.readVersion);
    this.#view!.unhold();
    this.#view = undefined;
  }

  /** The value of `key` as this transaction sees it: its own write, else as of readVersion. */
  /** `options` takes no names (asOf does not apply): any given is refused, not ignored. */
  /**
   * Not an async function: a read that memory or the cached blocks answer settles
   * its promise at once, with no extra microtask for an await of a plain value; a
   * refused call still rejects (never throws synchronously), as an async function would.
   */
  get(key: Key, options?: Record<string, never>): Promise<unknown> {
    try {
      this.#check('get');
      readOptions('transaction.get', options);
      const internal = this.#keys.internal(key);
      const own = this.#writeSet.get(internal);
      if (own !== undefined) return Promise.resolve(slotValue(own.slot));
      this.#recordRead(internal);
      const found = this.#view!.slotAsOf(internal, this.#request());
      // From disk: checked again once read, as a scan step is (close, an abort or the lifetime's end meanwhile).
      if (found instanceof Promise) return found.then((slot) => this.#readEnded(slot), (error: unknown) => this.#readFailed(error));
      return Promise.resolve(slotValue(found));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A get's disk read ended: its value while the transaction may still read; else what any
   * use throws now (StoreClosedError after close, TransactionClosedError after an abort or
   * the end, TransactionLimitError after the lifetime), not a value read through a view
   * whose pins are gone.
   */
  #readEnded(slot: VersionSlot | undefined): unknown {
    this.#check('get');
    return slotValue(slot);
  }

  /** A get's disk read failed: that error while the transaction may still read; else what any use throws now (close() closes the run files under the read: EBADF). */
  #readFailed(error: unknown): never {
    this.#check('get');
    throw error;
  }

  /** Adds `key` to the read set (once). */
  #recordRead(key: string): void {
    const keys = this.#readKeys;
    if (keys === undefined) {
      this.#readKeys = [key];
      return;
    }
    if (!Array.isArray(keys)) {
      keys.add(key);
      return;
    }
    if (keys.includes(key)) return;
    const grown = appendSmall(keys, key);
    this.#readKeys = grown.length > READ_SET_SMALL_KEYS_MAX ? new Set(grown) : grown;
  }

  /** The read request as of readVersion with the pin floor now (the shared one, when it is that: sharedRequest). */
  #request(): ReadRequest {
    const pinFloor = this.#context.pins.oldest();
    const shared = sharedRequest;
    if (shared.version === this.readVersion && shared.pinFloor === pinFloor) return shared;
    sharedRequest = { version: this.readVersion, referenceVersion: this.readVersion, pinFloor };
    return sharedRequest;
  }

  put(key: Key, value: unknown, options?: unknown): void {
    this.#check('put');
    if (options !== undefined) refuseWriteOptions('put');
    this.#buffer(preparePutInternal(this.#keys.internal(key), value, this.#context.maxValueBytes));
  }

  delete(key: Key, options?: unknown): void {
    this.#check('delete');
    if (options !== undefined) refuseWriteOptions('delete');
    this.#buffer(prepareDeleteInternal(this.#keys.internal(key)));
  }

  #buffer(prepared: PreparedOperation): void {
    this.#writeSet.add(prepared, this.#context.commitBytesMax);
  }

  async requireLease(name: string, token: number): Promise<void> {
    this.#checkLifetime('requireLease');
    if ((this.#fences?.length ?? 0) >= TRANSACTION_FENCES_MAX) {
      throw new TransactionLimitError('operations', `transaction requires more than ${TRANSACTION_FENCES_MAX} leases`);
    }
    const fence = await this.#context.fence(this, name, token);
    this.#check('requireLease'); // re-check after the await: the transaction may have ended meanwhile
    // And the limit again: calls made at once all passed the check above before any added its fence.
    if ((this.#fences?.length ?? 0) >= TRANSACTION_FENCES_MAX) {
      throw new TransactionLimitError('operations', `transaction requires more than ${TRANSACTION_FENCES_MAX} leases`);
    }
    (this.#fences ??= []).push({ recordKey: internalKey(fence.recordKey), check: fence.check, accepted: fence.accepted });
  }

  /** Entries in the range as this transaction sees them (its writes merged in); the range is recorded as read. */
  scan(options?: TransactionScanOptions): AsyncIterableIterator<[string | Uint8Array, unknown]> {
    this.#checkLifetime('scan');
    const { range, reverse, limit } = scanBounds('transaction.scan', options);
    (this.#readRanges ??= []).push(range);
    const source: TransactionScanSource = {
      view: () => this.#view!, version: this.readVersion, writeSet: this.#writeSet, pins: this.#context.pins,
      keyEncoding: this.#context.keyEncoding, check: () => this.#check('scan'), turnDue: this.#context.scanTurnDue,
    };
    return scanWithOwnWrites(source, range, reverse, limit);
  }

  /**
   * Commits the buffered writes (none: a read-only transaction, nothing to do).
   * Rejects with TransactionConflict when validation under the commit lock fails, and
   * with `signal`'s reason when it aborts while the commit waits in the write stall
   * (nothing submitted yet; once submitted, a commit is not interrupted).
   * Not an async function: it returns the pipeline's own promise (an async function
   * returning it cost a promise and a resolve-thenable job, two microtask hops, per
   * transaction: issue 12); a refused call still rejects, never throws.
   */
  [commitTransaction](signal?: AbortSignal): Promise<CommitResult | undefined> {
    try {
      this.#checkLifetime('commit');
    } catch (error) {
      return Promise.reject(error);
    }
    // Sealed from here: a put made while the commit is in flight would be lost, so it throws.
    this.#state = 'sealed';
    if (this.#writeSet.size === 0) return NO_COMMIT;
    const readSet = this.isolation === 'serializable'
      ? { keys: this.#readKeys ?? NO_KEYS, ranges: this.#readRanges ?? NO_RANGES }
      : { keys: this.#writtenKeys(), ranges: NO_RANGES };
    const fences = this.#fences ?? NO_FENCES;
    const validate = (log: ConflictLog) => {
      // The lifetime ended while the commit waited (admission, the commit lock): the pin
      // is gone, so the log may have pruned commits above readVersion; not checkable.
      if (!this.#pinned) return this.#lifetimeError();
      // The log dropped commits above readVersion at its bytes bound (conflict-log.ts): not checkable.
      if (!log.covers(this.readVersion)) {
        return new TransactionLimitError('conflictLog', `the commits since this transaction's read version ${this.readVersion} went over the conflict log's bound (${conflictLogSettings.bytesMax} bytes) while it ran; run it again`);
      }
      // Under the commit lock: a lease lost since requireLease refuses the commit outright.
      for (const fence of fences) {
        const refusal = fence.check();
        if (refusal !== undefined) return refusal;
      }
      const conflict = log.findConflict(this.readVersion, readSet);
      if (conflict !== undefined) return new TransactionConflict(conflict);
      for (const fence of fences) fence.accepted?.(); // ordered now: a renewal's deadline holds for every later commit
      return undefined;
    };
    const admission = this.#context.admit();
    if (admission === undefined) return this.#submit(validate);
    // Nothing is submitted while it waits in the write stall: an abort of `signal` there rejects at once, as before the commit.
    return (signal === undefined ? admission : untilAborted(signal, admission)).then(() => this.#submit(validate));
  }

  /**
   * What a snapshot-isolation commit is checked on: the keys it writes and its fences'
   * records, each once. A few keys in one array (searched linearly, as a small read
   * set), more in a Set: not the Set and four intermediate arrays built per commit before (issue 12).
   */
  #writtenKeys(): readonly string[] | ReadonlySet<string> {
    const keys = this.#writeSet.keys();
    for (const fence of this.#fences ?? NO_FENCES) if (!keys.includes(fence.recordKey)) keys.push(fence.recordKey);
    return keys.length > READ_SET_SMALL_KEYS_MAX ? new Set(keys) : keys;
  }

  /** The sealed write set as one commit (one array as both forms, prepare.ts), validated under the commit lock. */
  #submit(validate: Validation): Promise<CommitResult> {
    const operations = this.#writeSet.operations();
    return this.#context.pipeline.submit(operations, this.#writeSet.bytes, operations, validate);
  }

  /** Ends the attempt: releases the pin; every later call throws TransactionClosedError (StoreClosedError after close). */
  [finishTransaction](): void {
    if (this.#state !== 'storeClosed' && this.#state !== 'expired') this.#state = 'finished';
    this[abortAttempt] = undefined;
    this.#context.lifetimes.remove(this);
    this.#unpin();
  }
}

/**
 * The last read request a transaction made, shared by every transaction that reads as of
 * the same version with the same pin floor (most of 64 clients' transactions start at one
 * visible version): no request object per transaction (issue 12). A request is plain data
 * that no reader writes, so one made by another transaction, or another store, is the same
 * request; a read in flight keeps the object it was given.
 */
let sharedRequest: ReadRequest = { version: -1, referenceVersion: -1, pinFloor: -1 };

/** The scanned ranges and lease fences of a transaction that has none (most): shared, never written. */
const NO_RANGES: readonly KeyRange[] = Object.freeze([]);
const NO_FENCES: readonly LeaseFence[] = Object.freeze([]);
/** The read keys of a transaction that read none (a blind write): shared, never written. */
const NO_KEYS: readonly string[] = Object.freeze([]);

/** A read-only transaction's commit: nothing to wait for (one settled promise, shared). */
const NO_COMMIT: Promise<CommitResult | undefined> = Promise.resolve(undefined);

function slotValue(slot: VersionSlot | undefined): unknown {
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}
