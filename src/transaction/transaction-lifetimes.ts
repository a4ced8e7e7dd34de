/**
 * The lifetime bound of a store's running transactions, with one timer for all of
 * them instead of one per transaction: a body stuck in an await past its lifetime
 * must not pin old versions (and the conflict log) forever, so its pins go when its
 * lifetime ends, whether or not it ever runs again.
 *
 * A timer per transaction (setTimeout + clearTimeout) was about 1-2% of the CPU of
 * 64 clients' short transactions (issue 12): every transaction inserted into and
 * removed from Node's timer list. Here the one timer fires at the oldest open
 * transaction's deadline, expires every open transaction past its deadline, and
 * re-arms for the next oldest. The open transactions are a queue in start order, not
 * a Set (whose add and delete hashed the object and rehashed the table as it grew and
 * shrank, ~1% of the same CPU): add pushes, remove only marks the transaction ended,
 * and ended transactions leave the queue from its head (at each add and sweep; they
 * end in about start order) or, behind a long open one, in a compaction once they
 * outnumber the open ones.
 *
 * Invariants:
 * - `#queue[#head..]` holds every registered, not yet removed or expired transaction,
 *   in start order (registration happens at start, so start times only grow), each
 *   once, plus ended ones (marked: `[lifetimeOpen]` false) not yet dropped; slots
 *   before #head are undefined. After each add: at most 2 * openCount + COMPACT_SLACK
 *   entries, and #head at most max(HEAD_ROOM, entries). After each remove and sweep
 *   the head entry is open, or the queue is empty: ended transactions are held only
 *   behind an open one (none once every transaction ended).
 * - `#openCount` is the number of entries marked open.
 * - While one is open the timer is armed, for a moment no later than the oldest open
 *   transaction's deadline (start + lifetimeMs), so each is expired at most one timer
 *   delay after its deadline.
 * - Each transaction is expired at most once, and never after it was removed.
 * - After stop() (the store closed) no timer is armed.
 */
import { performance } from 'node:perf_hooks';
import { assert } from '../util/assert.js';

/** The method a lifetime's end calls on its transaction (releases its pins). */
export const expireTransaction: unique symbol = Symbol('ladybug.expireTransaction');
/** Set by TransactionLifetimes: true from add until remove or expiry. */
export const lifetimeOpen: unique symbol = Symbol('ladybug.lifetimeOpen');

export interface ExpirableTransaction {
  /** performance.now() when the transaction started. */
  readonly startedAtMs: number;
  /** Written by TransactionLifetimes only (a transaction declares it false, for one object shape). */
  [lifetimeOpen]?: boolean;
  [expireTransaction](): void;
}

/** Ended entries a queue may hold beyond as many as its open ones before a compaction. */
const COMPACT_SLACK = 64;
/** Dropped slots the array may keep before its head (then copied down, when they outnumber the entries). */
const HEAD_ROOM = 1024;

export class TransactionLifetimes<T extends ExpirableTransaction = ExpirableTransaction> {
  readonly lifetimeMs: number;
  /** The registered transactions in start order, from #head on (ended ones marked, see the header). */
  #queue: (T | undefined)[] = [];
  #head = 0;
  #openCount = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Set by stop() (the store closed): no timer is armed from then on. */
  #stopped = false;

  constructor(lifetimeMs: number) {
    assert(Number.isFinite(lifetimeMs) && lifetimeMs > 0, 'a transaction lifetime is a positive number of ms');
    this.lifetimeMs = lifetimeMs;
  }

  /** Open transactions (tests, diagnostics). */
  get openCount(): number {
    return this.#openCount;
  }

  /** Entries in the queue, ended ones not yet dropped included (tests: the bound in the header). */
  get queuedCount(): number {
    return this.#queue.length - this.#head;
  }

  /** Registers a transaction that starts now; it is expired at its deadline unless removed first. */
  add(transaction: T): void {
    assert(transaction[lifetimeOpen] !== true, 'a transaction is registered once');
    this.#dropEnded();
    transaction[lifetimeOpen] = true;
    this.#queue.push(transaction);
    this.#openCount++;
    const queued = this.#queue.length - this.#head;
    if (queued > 2 * this.#openCount + COMPACT_SLACK || this.#head > Math.max(HEAD_ROOM, queued)) this.#compact();
    if (this.#timer === undefined) this.#arm(transaction.startedAtMs);
  }

  /**
   * The transaction ended: it is not expired (the timer stays armed; it re-arms or stops
   * when it fires). Ended ones at the head leave now, not at the next add or sweep: an
   * entry keeps its transaction's read view (its memtables, and its runs acquired until
   * the view is collected), and after the last transaction of a burst nothing else comes
   * to drop them until the timer fires, up to lifetimeMs later.
   */
  remove(transaction: T): void {
    if (transaction[lifetimeOpen] !== true) return;
    transaction[lifetimeOpen] = false;
    this.#openCount--;
    if (this.#queue[this.#head] === transaction) this.#dropEnded();
  }

  /**
   * The open transactions (added, neither removed nor expired), in start order: close()
   * settles them (src/store/store-transactions.ts closeRunning). An expired one needs
   * nothing: its expiry settled a body still running (Transaction[expireTransaction]).
   */
  running(): T[] {
    const running: T[] = [];
    for (let index = this.#head; index < this.#queue.length; index++) {
      const transaction = this.#queue[index]!;
      if (transaction[lifetimeOpen] === true) running.push(transaction);
    }
    return running;
  }

  /** Drops the ended transactions at the head of the queue (an emptied queue starts over at index 0). */
  #dropEnded(): void {
    const queue = this.#queue;
    let head = this.#head;
    while (head < queue.length && queue[head]![lifetimeOpen] !== true) queue[head++] = undefined;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
    this.#head = head;
  }

  /** Keeps the open transactions only, in their order, from index 0 (ended ones behind a long open one, the dropped slots). */
  #compact(): void {
    const open: T[] = [];
    for (let index = this.#head; index < this.#queue.length; index++) {
      const transaction = this.#queue[index]!;
      if (transaction[lifetimeOpen] === true) open.push(transaction);
    }
    assert(open.length === this.#openCount, 'the queue holds every open transaction once');
    this.#queue = open;
    this.#head = 0;
  }

  /**
   * The store closed: the timer is cleared and never armed again. Left armed it kept the
   * closed store reachable until it fired (up to lifetimeMs): in debug mode its async
   * context holds the lock records of the section that armed it (a lease operation's),
   * whose stacks reach the store.
   */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(startedAtMs: number): void {
    if (this.#stopped) return;
    const delayMs = Math.max(0, startedAtMs + this.lifetimeMs - performance.now());
    // +1: a timer may fire up to a ms early by performance.now(); firing early only re-arms.
    this.#timer = setTimeout(this.#sweep, Math.ceil(delayMs) + 1);
    this.#timer.unref();
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    const nowMs = performance.now();
    for (;;) {
      this.#dropEnded();
      const transaction = this.#queue[this.#head];
      if (transaction === undefined) return;
      if (nowMs - transaction.startedAtMs < this.lifetimeMs) {
        // Start order: every later one is younger still.
        this.#arm(transaction.startedAtMs);
        return;
      }
      transaction[lifetimeOpen] = false;
      this.#openCount--;
      transaction[expireTransaction]();
    }
  };
}
