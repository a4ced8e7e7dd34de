/**
 * Acquires waiting for a held lease, per name, in arrival order. A release, a force
 * release or an expiry wakes the first waiter only; a waiter that then loses the
 * race (another acquire got in first) goes back to the front. No polling: a waiter
 * sleeps until woken, its timeout, or its AbortSignal (one already aborted when the wait
 * is asked for rejects at once); close() wakes every waiter, and
 * every later wait at once; the store's failure rejects every waiter, and every later
 * wait at once, with that failure (no commit, so no release, can come any more).
 *
 * Invariants: a waiter is settled exactly once and is in the queue only while
 * unsettled; at most LEASE_WAITERS_MAX wait per name.
 */
import { InvalidOptionError } from '../errors.js';
import { LEASE_WAITERS_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

interface Waiter {
  wake: () => void;
  fail: (error: Error) => void;
}

export type WaitOutcome = 'woken' | 'timeout';

/** What an aborted wait rejects with: the signal's reason (an Error). */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

export class LeaseWaiters {
  readonly #queues = new Map<string, Waiter[]>();
  /** Set by wakeAll (the store is closing): a wait asked for later is woken at once. */
  #closing = false;
  /** Set by failAll (the store failed): every wait asked for later rejects with it at once. */
  #failure: Error | undefined;

  /** Sleeps until woken or `timeoutMs` passes; rejects with the signal's reason when aborted. */
  wait(name: string, timeoutMs: number, signal: AbortSignal | undefined, front: boolean): Promise<WaitOutcome> {
    assert(timeoutMs > 0, 'a wait has time left');
    // Aborted while the acquire's attempt ran: the signal fired before the listener below
    // could be added, so that listener would never run (the acquire slept out its waitMs,
    // or a release woke it to take the lease for a caller that had given up).
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    // An acquire whose attempt was under way when the store failed: it would wait for a
    // release that can never be committed.
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    // An acquire whose attempt found the lease held just before close() woke the waiters:
    // its next attempt rejects with StoreClosedError rather than sleeping out its waitMs.
    if (this.#closing) return Promise.resolve('woken');
    const queue = this.#queues.get(name) ?? [];
    if (queue.length >= LEASE_WAITERS_MAX) throw new InvalidOptionError('waitMs', `more than ${LEASE_WAITERS_MAX} acquires already wait for this lease`);
    this.#queues.set(name, queue);
    return new Promise<WaitOutcome>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: WaitOutcome | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#remove(name, waiter);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const waiter: Waiter = { wake: () => finish('woken'), fail: finish };
      const onAbort = (): void => finish(abortReason(signal!));
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (front) queue.unshift(waiter);
      else queue.push(waiter);
    });
  }

  /**
   * Wakes every waiter of every name, and from now on every wait at once: the store is
   * closing, and each woken acquire's next attempt fails with StoreClosedError instead of
   * sleeping out its waitMs (up to 24.8 days, with a timer that kept the process alive
   * after close()); one whose attempt was under way at close() is woken as it asks to wait.
   */
  wakeAll(): void {
    this.#closing = true;
    for (const queue of [...this.#queues.values()]) for (const waiter of [...queue]) waiter.wake();
  }

  /**
   * The store failed: rejects every waiter of every name with `failure`, and from now
   * on every wait at once (an acquire's attempt that was under way is rejected as it
   * asks to wait). A failed store commits nothing again, so no release, force release
   * or expiry could ever wake them; they would sleep out their waitMs.
   */
  failAll(failure: Error): void {
    this.#failure ??= failure;
    for (const queue of [...this.#queues.values()]) for (const waiter of [...queue]) waiter.fail(this.#failure);
  }

  /** The failure failAll was given, if the store failed. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Wakes the first waiter of `name`, if any. */
  wakeOne(name: string): void {
    this.#queues.get(name)?.[0]?.wake();
  }

  count(name: string): number {
    return this.#queues.get(name)?.length ?? 0;
  }

  #remove(name: string, waiter: Waiter): void {
    const queue = this.#queues.get(name);
    if (queue === undefined) return;
    const index = queue.indexOf(waiter);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(name);
  }
}
