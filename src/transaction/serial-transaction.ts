/**
 * store.transactionSync(): pipelined serial transactions.
 *
 * The body is synchronous. It runs inside the commit critical section (the commit
 * lock, in one synchronous step), after every commit ordered so far and before
 * every later one, reading the latest ordered state: its own writes, then the
 * newest write of the key among commits that are ordered but not yet visible (queued
 * or in the group being written: CommitPipeline#unappliedWrite), then the store as of
 * the visible version. Its writes are queued in the same step (submitOrdered), so no
 * commit can come between its reads and its version: it cannot conflict and is never
 * retried for a conflict. Its promise resolves once its own group is durable and
 * visible, which implies every earlier group is; a failure of an earlier commit
 * fails it too (fail-stop, see commit-pipeline.ts). A read-only body commits nothing:
 * its promise waits for every unapplied commit it read (and rejects with that
 * commit's error if one is refused), so a caller never acts on a state that a failed
 * fdatasync then never makes real. A body that throws is answered the same way: its
 * error rests on what it read, so it reaches the caller only once those commits are
 * durable, and a refusal of one of them replaces it. Other readers (get, scan,
 * snapshots, optimistic transactions) see it only once visible, as any commit.
 *
 * Reads that need the disk. A read that memory (memtables, point cache) cannot answer
 * would have to await, which a synchronous body cannot do inside the section. The
 * attempt then records the missed key and gives up (whatever the body did after the
 * miss, even if it caught the error, is discarded); the read is awaited outside the
 * lock to warm the caches and the body runs again. After
 * SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX such rounds it runs holding the commit lock
 * across its disk reads: each missed key is read once (as of the visible version,
 * pinned) and remembered for the rest of the section. That is exact: while the lock
 * is held no version is assigned, and the key had no unapplied write when it was
 * missed, so its latest ordered value cannot change before the section ends.
 *
 * The first round runs in the call itself when nothing stalls and the commit lock is
 * free (runSerialTransaction), and its answer is a plain promise reaction on the
 * commit: no async frame per transaction. A stall, a busy lock (the attempt then waits
 * its turn in the lock's FIFO order) or a miss continues in the async rounds.
 *
 * Each round is admitted past the write stall, as its commit may be the one that
 * round makes. A round after a miss rejoins the stall's queue at the front, behind
 * only other transactions rejoining (WriteStall#admit's rejoin): every writer queued
 * then called after this transaction, which was let through already or found no
 * stall. It used to queue at the back again at each round, behind the writers that
 * came during its disk read (test/serial-stall-rejoin.test.ts).
 *
 * Lifetime (transactionLifetimeMs, as for transaction()): measured from the moment the
 * body first runs to the end of the run whose writes would be queued, re-runs after
 * misses and the disk reads between them included; the wait before the first run
 * (write stall, a busy commit lock) is not. A run that ends past it queues nothing and
 * the transaction rejects with TransactionLimitError ('lifetime'); no run starts past
 * it. Two clock reads per transaction (its first run's start and end): the body runs
 * inside the commit section, so it cannot be cut short, only refused after.
 *
 * Invariants: a body's writes reach the pipeline only from an attempt that finished
 * without a miss, within the lifetime; the handle throws TransactionClosedError once its
 * attempt ended.
 * The body may run more than once (after misses): it must not have side effects
 * outside the transaction, as for store.transaction().
 */
import { InvalidOptionError, TransactionLimitError } from '../errors.js';
import type { Key } from '../codec/keys.js';
import { SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX, TRANSACTION_OPERATIONS_MAX } from '../limits.js';
import type { VersionSlot } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';
import type { TransactionContext } from './transaction.js';
import { lifetimeRefusal, type Outcome, type ReadMiss, runAttempt, SerialAttempt } from './serial-attempt.js';

/** What a synchronous body may use: reads of the latest ordered state, buffered writes. */
export interface SerialTransactionHandle {
  readonly isolation: 'serializable';
  /** The value of `key` in the latest ordered state (this transaction's own writes included). */
  get(key: Key): unknown;
  put(key: Key, value: unknown): void;
  delete(key: Key): void;
}

export type SerialTransactionContext = Pick<TransactionContext, 'engine' | 'pins' | 'pipeline' | 'maxValueBytes' | 'commitBytesMax'> & {
  /** The store's transaction lifetimes: only their lifetimeMs is read here (see the header). */
  lifetimes: Pick<TransactionContext['lifetimes'], 'lifetimeMs'>;
  /**
   * The write admission (TransactionContext#admit); `rejoin` for a round after the
   * first: the transaction keeps its place at the front of the write stall's queue
   * (WriteStall#admit) instead of queuing again behind writers that came after it.
   */
  admit: (rejoin?: boolean) => Promise<void> | undefined;
};

/** Awaits a missed read and releases its pin; the slot read. Failed once close() began (which closes the run files under it: EBADF): StoreClosedError. */
async function settleMiss(context: SerialTransactionContext, miss: ReadMiss, checkOpen: () => void): Promise<VersionSlot | undefined> {
  try {
    return await miss.read;
  } catch (error) {
    checkOpen();
    throw error;
  } finally {
    context.pins.unpin(miss.version);
  }
}

/**
 * The caller's promise for a finished attempt: the result once its commit (or, read-only,
 * every unapplied commit it read) is durable; an error once what it read is durable.
 * Plain promise reactions, no async frame: this is every transaction's last hop.
 */
function answer<T>(outcome: Outcome<T> | undefined): Promise<T> {
  assert(outcome !== undefined && outcome.kind !== 'missed', 'a finished serial attempt committed or failed');
  if (outcome.kind === 'failed') {
    const { error, readsDurable } = outcome;
    // A refusal of a commit the body read replaces the body's error (it rested on that commit).
    if (readsDurable === undefined) return Promise.reject(error);
    return readsDurable.then(() => {
      throw error;
    });
  }
  const { result, commit } = outcome;
  return commit === undefined ? Promise.resolve(result) : commit.then(() => result);
}

/**
 * The first round, begun synchronously: the attempt, with its outcome when it ran (the
 * commit lock was free and nothing stalled) or without (the lock was busy); or the
 * write stall's admission to await before it runs.
 */
type FirstRound<T> = SerialAttempt<T> | Promise<void>;

function beginFirstRound<T>(context: SerialTransactionContext, body: (tx: SerialTransactionHandle) => T, checkOpen: () => void): FirstRound<T> {
  checkOpen();
  const admission = context.admit();
  if (admission !== undefined) return admission;
  const attempt = new SerialAttempt(context, body, undefined, Number.NaN);
  if (context.pipeline.runOrderedSync(runAttempt, attempt)) assert(attempt.outcome !== undefined, 'an attempt that ran has an outcome');
  return attempt;
}

/**
 * The common case takes no async frame: the first attempt runs now, under the commit
 * lock if it is free, and the caller gets its answer promise directly. A write stall,
 * a busy lock or a read miss continues in runRounds.
 */
export function runSerialTransaction<T>(
  context: SerialTransactionContext,
  body: (tx: SerialTransactionHandle) => T,
  checkOpen: () => void,
): Promise<T> {
  let first: FirstRound<T>;
  try {
    if (typeof body !== 'function') throw new InvalidOptionError('body', 'transactionSync() takes a function (tx) => result');
    first = beginFirstRound(context, body, checkOpen);
  } catch (error) {
    return Promise.reject(error);
  }
  if (!(first instanceof Promise) && first.outcome !== undefined && first.outcome.kind !== 'missed') return answer(first.outcome);
  return runRounds(context, body, checkOpen, first);
}

/**
 * One round that did not run synchronously: after the admission (round 1: the one
 * `first` holds) and in the commit lock's FIFO order when it is busy. The outcome.
 */
async function runRound<T>(
  context: SerialTransactionContext,
  body: (tx: SerialTransactionHandle) => T,
  checkOpen: () => void,
  first: FirstRound<T> | undefined,
  startedAtMs: number,
): Promise<Outcome<T> | undefined> {
  let attempt = first instanceof Promise ? undefined : first;
  if (first === undefined) checkOpen();
  // A later round rejoins the stall's queue at the front (see the header).
  const admission = first === undefined ? context.admit(true) : first instanceof Promise ? first : undefined;
  if (admission !== undefined) {
    await admission;
    checkOpen(); // close() may have begun during the stall: nothing runs or commits after it
  }
  if (attempt === undefined) {
    attempt = new SerialAttempt(context, body, undefined, startedAtMs);
    if (context.pipeline.runOrderedSync(runAttempt, attempt)) return attempt.outcome;
  }
  const queued = attempt;
  await context.pipeline.runOrderedAsync(() => runAttempt(queued));
  return queued.outcome;
}

/** The rounds after a first one that could not finish synchronously (see the header on misses). */
async function runRounds<T>(
  context: SerialTransactionContext,
  body: (tx: SerialTransactionHandle) => T,
  checkOpen: () => void,
  first: FirstRound<T>,
): Promise<T> {
  let startedAtMs = Number.NaN;
  for (let round = 1; round <= SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX; round++) {
    const ran = round === 1 && !(first instanceof Promise) ? first.outcome : undefined;
    const outcome = ran ?? (await runRound(context, body, checkOpen, round === 1 ? first : undefined, startedAtMs));
    if (outcome?.kind !== 'missed') return answer(outcome);
    startedAtMs = outcome.startedAtMs;
    // Outside the lock: the read warms the caches for the next round.
    await settleMiss(context, outcome.miss, checkOpen);
    // No run starts past the lifetime (see the header).
    const overLifetime = lifetimeRefusal(startedAtMs, context.lifetimes.lifetimeMs);
    if (overLifetime !== undefined) throw overLifetime;
  }
  return runLocked(context, body, checkOpen, startedAtMs);
}

/** The last resort: one commit-lock section across the body's disk reads (see the header). */
async function runLocked<T>(context: SerialTransactionContext, body: (tx: SerialTransactionHandle) => T, checkOpen: () => void, startedAtMs: number): Promise<T> {
  checkOpen();
  const admission = context.admit(true); // it keeps its place in the stall's queue, as a later round (see the header)
  if (admission !== undefined) {
    await admission;
    checkOpen();
  }
  const remembered = new Map<string, VersionSlot | undefined>();
  let outcome: Outcome<T> | undefined;
  await context.pipeline.runOrderedAsync(async () => {
    for (;;) {
      const attempt = new SerialAttempt(context, body, remembered, startedAtMs);
      runAttempt(attempt);
      outcome = attempt.outcome;
      if (outcome?.kind !== 'missed') return;
      const { miss } = outcome;
      assert(!remembered.has(miss.key), 'a remembered key is not missed again');
      if (remembered.size >= TRANSACTION_OPERATIONS_MAX) {
        outcome = { kind: 'failed', error: new TransactionLimitError('operations', `transaction reads more than ${TRANSACTION_OPERATIONS_MAX} keys from disk`), readsDurable: undefined };
        return;
      }
      remembered.set(miss.key, await settleMiss(context, miss, checkOpen));
      const overLifetime = lifetimeRefusal(startedAtMs, context.lifetimes.lifetimeMs);
      if (overLifetime !== undefined) {
        outcome = { kind: 'failed', error: overLifetime, readsDurable: undefined };
        return;
      }
    }
  });
  return answer(outcome);
}
