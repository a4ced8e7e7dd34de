/**
 * The lifetime bound of a store's running transactions, with one timer for all of
 * them instead of one per transaction: a body stuck in an await past its lifetime
 * must not pin old versions (and the conflict log) forever, so its pins go when its
 * lifetime ends, whether or not it ever runs again.
 *
 * A timer per transaction (setTimeout + clearTimeout) was about 1-2% of the CPU of
 * 64 clients' short transactions (issue 12): every transaction inserted into and
 * removed from Node's timer list. Here a transaction costs one Set add and delete;
 * the one timer fires at the oldest open transaction's deadline, expires every open
 * transaction past its deadline, and re-arms for the next oldest.
 *
 * Invariants:
 * - `#open` holds the registered, not yet removed or expired transactions in start
 *   order (Set insertion order; start times only grow, as registration happens at start).
 * - While `#open` is not empty the timer is armed, for a moment no later than the
 *   oldest open transaction's deadline (start + lifetimeMs), so each is expired at
 *   most one timer delay after its deadline.
 * - Each transaction is expired at most once, and never after it was removed.
 */
import { performance } from 'node:perf_hooks';
import { assert } from '../util/assert.js';

/** The method a lifetime's end calls on its transaction (releases its pins). */
export const expireTransaction: unique symbol = Symbol('ladybug.expireTransaction');

export interface ExpirableTransaction {
  /** performance.now() when the transaction started. */
  readonly startedAtMs: number;
  [expireTransaction](): void;
}

export class TransactionLifetimes {
  readonly lifetimeMs: number;
  readonly #open = new Set<ExpirableTransaction>();
  #timer: NodeJS.Timeout | undefined;

  constructor(lifetimeMs: number) {
    assert(Number.isFinite(lifetimeMs) && lifetimeMs > 0, 'a transaction lifetime is a positive number of ms');
    this.lifetimeMs = lifetimeMs;
  }

  /** Open transactions (tests, diagnostics). */
  get openCount(): number {
    return this.#open.size;
  }

  /** Registers a transaction that starts now; it is expired at its deadline unless removed first. */
  add(transaction: ExpirableTransaction): void {
    assert(!this.#open.has(transaction), 'a transaction is registered once');
    this.#open.add(transaction);
    if (this.#timer === undefined) this.#arm(transaction.startedAtMs);
  }

  /** The transaction ended: it is not expired (the timer stays armed; it re-arms or stops when it fires). */
  remove(transaction: ExpirableTransaction): void {
    this.#open.delete(transaction);
  }

  #arm(startedAtMs: number): void {
    const delayMs = Math.max(0, startedAtMs + this.lifetimeMs - performance.now());
    // +1: a timer may fire up to a ms early by performance.now(); firing early only re-arms.
    this.#timer = setTimeout(this.#sweep, Math.ceil(delayMs) + 1);
    this.#timer.unref();
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    const nowMs = performance.now();
    for (const transaction of this.#open) {
      if (nowMs - transaction.startedAtMs < this.lifetimeMs) {
        // Start order: every later one is younger still.
        this.#arm(transaction.startedAtMs);
        return;
      }
      this.#open.delete(transaction);
      transaction[expireTransaction]();
    }
  };
}
