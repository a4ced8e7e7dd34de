/**
 * The leases this open holds: each acquisition's nonce, token and monotonic deadline,
 * its expiry timer, and the lease counters (store.stats().leases).
 *
 * Invariants:
 * - The map holds exactly the leases this open acquired and has not seen end; a
 *   record is live iff it is held here with the same nonce and its deadline
 *   (performance.now(), monotonic) is in the future.
 * - Every held lease has one expiry timer, unref'd (a lease never keeps the process
 *   alive), until the store closes (stopTimers: none after); ending a lease clears its
 *   timer and wakes its first waiter.
 * - Deadlines are checked against the clock at each use, not trusted from the timer:
 *   a timer that has not fired yet does not keep an expired lease live.
 */
import { LeaseLostError } from '../errors.js';
import type { LeaseRecord } from './lease-record.js';
import type { LeaseWaiters } from './lease-waiters.js';

export interface LeaseStats {
  held: number;
  acquisitions: number;
  /** Acquires that gave up (busy with no wait left, timed out or aborted). */
  failedAcquires: number;
  /** Acquires that had to wait at least once. */
  waitingAcquires: number;
  waitTimeMsTotal: number;
  waitTimeMsMax: number;
  expiries: number;
  forceReleases: number;
}

export interface HeldLease {
  owner: string;
  nonce: string;
  token: number;
  deadlineMs: number;
  timer: NodeJS.Timeout | undefined;
}

export class LeaseHolders {
  readonly #held = new Map<string, HeldLease>();
  readonly #waiters: LeaseWaiters;
  /** Called when a held lease's deadline passes (the manager's expiry, run detached). */
  readonly #onDeadline: (name: string, nonce: string) => Promise<void>;
  /** Set by stopTimers (the store is closing): no expiry timer is set any more. */
  #timersStopped = false;
  readonly #stats: LeaseStats = {
    held: 0, acquisitions: 0, failedAcquires: 0, waitingAcquires: 0, waitTimeMsTotal: 0, waitTimeMsMax: 0, expiries: 0, forceReleases: 0,
  };

  constructor(waiters: LeaseWaiters, onDeadline: (name: string, nonce: string) => Promise<void>) {
    this.#waiters = waiters;
    this.#onDeadline = onDeadline;
  }

  /** The counters, for the manager to count acquisitions, waits and expiries it sees. */
  get counters(): LeaseStats {
    return this.#stats;
  }

  get(name: string): HeldLease | undefined {
    return this.#held.get(name);
  }

  /** Records a new acquisition of `name` (replacing any earlier one) and starts its expiry timer. */
  add(name: string, held: HeldLease): void {
    const earlier = this.#held.get(name);
    if (earlier !== undefined) clearTimeout(earlier.timer);
    this.#held.set(name, held);
    this.schedule(name, held);
  }

  /** The held entry when `record` is this open's acquisition and its deadline is ahead. */
  live(name: string, record: LeaseRecord | undefined): HeldLease | undefined {
    const held = this.#held.get(name);
    if (record === undefined || held === undefined || held.nonce !== record.nonce) return undefined;
    return performance.now() < held.deadlineMs ? held : undefined;
  }

  /** True while `held` is still the acquisition of `name` and its deadline is ahead (the fence's check at commit). */
  stillHeld(name: string, held: HeldLease): boolean {
    return this.#held.get(name) === held && performance.now() < held.deadlineMs;
  }

  /** The holder's check: `token` (and owner) still hold the lease and it has not expired. */
  check(name: string, token: number, owner: string | undefined): HeldLease {
    const held = this.#held.get(name);
    if (held === undefined || held.token !== token) throw new LeaseLostError(name, token, 'another acquisition holds it, or none does');
    if (owner !== undefined && held.owner !== owner) throw new LeaseLostError(name, token, `owner is ${JSON.stringify(held.owner)}`);
    if (performance.now() >= held.deadlineMs) throw new LeaseLostError(name, token, 'expired (acquire it again)');
    return held;
  }

  /** Forgets a lease this open held (if any) and wakes the next waiter. */
  ended(name: string, how: 'expired' | 'released' | 'forced'): void {
    const held = this.#held.get(name);
    if (held !== undefined) clearTimeout(held.timer);
    this.#held.delete(name);
    if (how === 'expired') this.#stats.expiries++;
    if (how === 'forced') this.#stats.forceReleases++;
    this.#waiters.wakeOne(name);
  }

  /**
   * (Re)starts the expiry timer of `held` for its current deadline, or `delayMs` from
   * now (a retry of an expiry whose commit failed).
   */
  schedule(name: string, held: HeldLease, delayMs?: number): void {
    clearTimeout(held.timer);
    held.timer = undefined;
    if (this.#timersStopped) return;
    held.timer = setTimeout(() => void this.#onDeadline(name, held.nonce).catch(() => undefined),
      delayMs ?? Math.max(0, Math.ceil(held.deadlineMs - performance.now())));
    held.timer.unref();
  }

  /**
   * The store is closing: clears every expiry timer, and sets none from now on (an
   * acquire or renewal committing meanwhile). No expiry can commit any more (the next
   * open's restart rule ends these leases), and each timer held the manager and through
   * it the closed store, its memtables and caches, until the lease's deadline (up to
   * leaseTtlMsMax, 24 h by default).
   */
  stopTimers(): void {
    this.#timersStopped = true;
    for (const held of this.#held.values()) {
      clearTimeout(held.timer);
      held.timer = undefined;
    }
  }

  recordWait(waitedMs: number): void {
    this.#stats.waitTimeMsTotal += waitedMs;
    this.#stats.waitTimeMsMax = Math.max(this.#stats.waitTimeMsMax, waitedMs);
  }

  stats(): LeaseStats {
    return { ...this.#stats, held: this.#held.size };
  }
}
