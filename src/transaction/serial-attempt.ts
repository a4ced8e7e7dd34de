/**
 * One run of a store.transactionSync() body (split from serial-transaction.ts, which
 * schedules the runs: rounds, prefetch, the locked round; its header describes the
 * whole). SerialAttempt is the handle the body is given: it reads the latest ordered
 * state (own writes, unapplied commits, keys remembered in a locked round, then the
 * store as of the visible version) and buffers writes; runAttempt runs the body once
 * inside the commit section and records its outcome.
 *
 * Invariants:
 * - A read memory cannot answer records the miss (its version pinned until the runner
 *   awaited the read) and makes every later call of the body throw SerialReadMiss: the
 *   run's outcome is 'missed', nothing is queued.
 * - Writes are queued (submit) only by a run that finished without a miss, within the
 *   lifetime, with a synchronous result; the handle throws TransactionClosedError once
 *   its run ended, and lets go of its read view then.
 * - Debug mode: the body runs with the held-lock list of the chain that entered the
 *   section, without the commit lock (runBody). The section holds it, the body's own
 *   code does not: a store call the body makes (a put, a checkpoint, close) waits for
 *   the section and runs after it, as in production, and a callback the body schedules
 *   runs long after; with the commit lock in their list each was refused with
 *   LockOrderViolation (a close() so refused had already begun, and never ended). The
 *   handle's read of unapplied commits runs with the section's list (it asserts the lock).
 */
import { InvalidOptionError, TransactionClosedError, TransactionLimitError } from '../errors.js';
import { internalKey, type Key } from '../codec/keys.js';
import { readOptions } from '../store/read-options.js';
import { readStored } from '../codec/values.js';
import type { CommitResult } from '../commit/commit-pipeline.js';
import { type PreparedOperation, prepareDeleteOperation, preparePutOperation } from '../commit/prepare.js';
import { WriteSet } from './write-set.js';
import type { ReadView } from '../engine/read-view.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import type { SerialTransactionContext, SerialTransactionHandle } from './serial-transaction.js';
import { currentHeldLocks, type HeldLocks, heldLocksStorage } from '../lock/held-locks.js';
import { debugEnabled } from '../util/debug.js';

/** A read memory could not answer: the key and the pending disk read (its version pinned). */
export interface ReadMiss {
  key: string;
  version: number;
  read: Promise<VersionSlot | undefined>;
}

export type Outcome<T> =
  | { kind: 'committed'; result: T; commit: Promise<unknown> | undefined }
  | { kind: 'failed'; error: unknown; readsDurable: Promise<unknown> | undefined }
  | { kind: 'missed'; miss: ReadMiss; startedAtMs: number };

/** A write of a transactionSync() body takes no options: a { lease } or { fence } there would be ignored, so it is refused. */
function refuseWriteOptions(method: 'put' | 'delete'): never {
  throw new InvalidOptionError('options', `tx.${method}() of a transactionSync() body takes no options (lease and fence are options of store.put, store.delete and store.batch)`);
}

/** Thrown by get() on a miss; never escapes (the attempt records the miss itself). */
class SerialReadMiss extends Error {}

export class SerialAttempt<T> implements SerialTransactionHandle {
  readonly isolation = 'serializable' as const;
  readonly #context: SerialTransactionContext;
  readonly body: (tx: SerialTransactionHandle) => T;
  /** Keys read from disk earlier in this commit-lock section (locked mode only). */
  readonly #remembered: ReadonlyMap<string, VersionSlot | undefined> | undefined;
  readonly #writeSet = new WriteSet();
  /**
   * Unapplied commits this attempt read from, by version: a read-only or failed attempt
   * waits for them. Made at the first such read (most attempts of a quiet store read none).
   */
  #dependencies: Map<number, Promise<CommitResult>> | undefined;
  #open = true;
  #view: ReadView | undefined;
  miss: ReadMiss | undefined;
  outcome: Outcome<T> | undefined;
  /** performance.now() when the transaction's first run began (NaN: this is the first, not begun yet). */
  startedAtMs: number;
  /** Debug mode, while the body runs: the commit section's held locks, for the reads that assert the lock (runBody). */
  sectionLocks: HeldLocks | undefined;

  constructor(context: SerialTransactionContext, body: (tx: SerialTransactionHandle) => T, remembered: ReadonlyMap<string, VersionSlot | undefined> | undefined, startedAtMs: number) {
    this.#context = context;
    this.body = body;
    this.#remembered = remembered;
    this.startedAtMs = startedAtMs;
  }

  /** TransactionLimitError when the transaction has run past its lifetime by now, else undefined. */
  lifetimeRefusal(): TransactionLimitError | undefined {
    return lifetimeRefusal(this.startedAtMs, this.#context.lifetimes.lifetimeMs);
  }

  #check(operation: string): void {
    if (!this.#open) throw new TransactionClosedError(operation);
    if (this.miss !== undefined) throw new SerialReadMiss(`read of a key not in memory; the transaction runs again`);
  }

  /** `options`: none are taken; given (e.g. { asOf }), they are refused, never ignored (read-options.ts). */
  get(key: Key, options?: object): unknown {
    this.#check('get');
    if (options !== undefined) readOptions('transactionSync.get', options);
    const internal = internalKey(key);
    const own = this.#writeSet.get(internal);
    if (own !== undefined) return slotValue(own.slot);
    const pipeline = this.#context.pipeline;
    const sectionLocks = this.sectionLocks;
    const unapplied = sectionLocks === undefined ? pipeline.unappliedWrite(internal) : heldLocksStorage.run(sectionLocks, () => pipeline.unappliedWrite(internal));
    if (unapplied !== undefined) {
      (this.#dependencies ??= new Map()).set(unapplied.version, unapplied.acknowledged);
      return slotValue(unapplied.operation.slot);
    }
    if (this.#remembered?.has(internal) === true) return slotValue(this.#remembered.get(internal));
    const version = pipeline.visibleVersion;
    this.#view ??= this.#context.engine.view();
    const slot = this.#view.slotAsOf(internal, { version, referenceVersion: version, pinFloor: this.#context.pins.oldest() });
    if (!(slot instanceof Promise)) return slotValue(slot);
    // Pinned until the runner has awaited the read (see ReadMiss), so retention keeps its version.
    this.#context.pins.pin(version);
    this.miss = { key: internal, version, read: slot };
    throw new SerialReadMiss(`read of a key not in memory; the transaction runs again`);
  }

  put(key: Key, value: unknown, options?: unknown): void {
    this.#check('put');
    if (options !== undefined) refuseWriteOptions('put');
    this.#buffer(preparePutOperation(key, value, this.#context.maxValueBytes));
  }

  delete(key: Key, options?: unknown): void {
    this.#check('delete');
    if (options !== undefined) refuseWriteOptions('delete');
    this.#buffer(prepareDeleteOperation(key));
  }

  #buffer(prepared: PreparedOperation): void {
    this.#writeSet.add(prepared, this.#context.commitBytesMax);
  }

  /** REQUIRES: commit lock held. Queues the buffered writes (none: nothing to commit). */
  submit(): Promise<CommitResult> | undefined {
    if (this.#writeSet.size === 0) return undefined;
    // One array as both forms (prepare.ts): the WAL encoder and the memory index read the same objects.
    const operations = this.#writeSet.operations();
    return this.#context.pipeline.submitOrdered(operations, this.#writeSet.bytes, operations);
  }

  /** Ends the run: later calls throw; the view goes (a handle the body kept must not hold its memtables and runs). */
  close(): void {
    this.#open = false;
    this.#view = undefined;
  }

  /** The run was refused with its disk read in flight (an async body's): nobody awaits the read, so its pin goes once it settles, a failure of it handled. */
  abandonMiss(): void {
    const miss = this.miss;
    if (miss === undefined) return;
    const unpin = (): void => this.#context.pins.unpin(miss.version);
    miss.read.then(unpin, unpin);
  }

  /** Settles once every unapplied commit this attempt read is durable (rejects if one is refused); undefined when it read none. */
  readsDurable(): Promise<unknown> | undefined {
    return this.#dependencies === undefined ? undefined : Promise.all(this.#dependencies.values());
  }
}

/**
 * REQUIRES: commit lock held, for this whole synchronous call. Runs the body once and
 * records the outcome; queues its writes only when it finished without a miss.
 */
export function runAttempt<T>(attempt: SerialAttempt<T>): void {
  if (Number.isNaN(attempt.startedAtMs)) attempt.startedAtMs = performance.now();
  let result: T;
  try {
    result = debugEnabled() ? runBody(attempt) : attempt.body(attempt);
  } catch (error) {
    attempt.close();
    // The error is an answer resting on what the body read: it waits for those reads as a result does.
    attempt.outcome = attempt.miss !== undefined ? { kind: 'missed', miss: attempt.miss, startedAtMs: attempt.startedAtMs } : { kind: 'failed', error, readsDurable: attempt.readsDurable() };
    return;
  }
  attempt.close();
  // Before the miss: an async body is refused on its first run, not run again after its
  // read from disk, and its promise's rejection (the miss signal) is handled here, which
  // nothing did for a missed run: unhandled, it ended the process.
  const refusal = asyncResultRefusal(result);
  if (refusal !== undefined) {
    attempt.abandonMiss();
    attempt.outcome = { kind: 'failed', error: refusal.error, readsDurable: undefined };
    return;
  }
  if (attempt.miss !== undefined) {
    attempt.outcome = { kind: 'missed', miss: attempt.miss, startedAtMs: attempt.startedAtMs };
    return;
  }
  // Past its lifetime the run's writes are not queued (see the header).
  const overLifetime = attempt.lifetimeRefusal();
  if (overLifetime !== undefined) {
    attempt.outcome = { kind: 'failed', error: overLifetime, readsDurable: undefined };
    return;
  }
  try {
    // A read-only attempt that read unapplied commits answers only once they are durable:
    // else it could report a state that a failed fdatasync then never makes real.
    const commit = attempt.submit() ?? attempt.readsDurable();
    attempt.outcome = { kind: 'committed', result, commit };
  } catch (error) {
    attempt.outcome = { kind: 'failed', error, readsDurable: undefined };
  }
}

/**
 * Debug mode: runs the body with the held locks of the chain that entered the commit
 * section, not the section's own (see the header); the handle keeps the section's for
 * its reads of unapplied commits while the body runs.
 */
function runBody<T>(attempt: SerialAttempt<T>): T {
  const sectionLocks = currentHeldLocks();
  attempt.sectionLocks = sectionLocks;
  try {
    return heldLocksStorage.run(sectionLocks.filter((held) => held.lock.name !== 'commit'), attempt.body, attempt);
  } finally {
    attempt.sectionLocks = undefined;
  }
}

export function lifetimeRefusal(startedAtMs: number, lifetimeMs: number): TransactionLimitError | undefined {
  const ageMs = performance.now() - startedAtMs;
  if (!(ageMs > lifetimeMs)) return undefined;
  return new TransactionLimitError('lifetime', `transactionSync() body ran ${Math.round(ageMs)} ms (re-runs included), over its lifetime of ${lifetimeMs} ms`);
}

/**
 * A body's result that is a promise or thenable: its refusal (InvalidOptionError), its
 * rejection handled (its asynchronous part finds the handle closed: not the caller's
 * concern). A result whose `then` throws when read: that error. Else undefined.
 */
function asyncResultRefusal(result: unknown): { error: unknown } | undefined {
  if ((typeof result !== 'object' && typeof result !== 'function') || result === null) return undefined;
  let then: unknown;
  try {
    then = (result as { then?: unknown }).then;
  } catch (error) {
    return { error };
  }
  if (typeof then !== 'function') return undefined;
  Promise.resolve(result).catch(() => undefined);
  return { error: new InvalidOptionError('body', 'transactionSync() takes a synchronous function (tx) => result; use transaction() for an async body') };
}

function slotValue(slot: VersionSlot | undefined): unknown {
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}
