/**
 * FifoMutex: the bare FIFO mutex under OrderedMutex (ordered-mutex.ts), with no
 * notion of lock order, debug mode or statistics.
 *
 * Invariants:
 * - At most one holder at a time; `locked` stays true from an acquisition through
 *   every hand-over to a waiter, until a release finds nobody waiting, so the lock
 *   never looks free while someone is queued.
 * - Waiters are served in FIFO order: release hands the lock straight to the oldest.
 * - acquire() resumes its caller in a later microtask, free lock or not.
 */
import { assert } from '../util/assert.js';

/** Releases a lock; a second call does nothing. */
export type Releaser = () => void;

/**
 * The bare FIFO mutex under OrderedMutex. `locked` stays true from an acquisition
 * through every hand-over to a waiter, until a release finds nobody waiting.
 */
export class FifoMutex {
  #locked = false;
  /** Resolvers of waiting acquisitions, oldest first, from #head on. */
  #waiters: Array<() => void> = [];
  #head = 0;

  isLocked(): boolean {
    return this.#locked;
  }

  /** Takes the lock if it is free (true); false, changing nothing, if it is held. */
  tryAcquire(): boolean {
    if (this.#locked) return false;
    this.#locked = true;
    return true;
  }

  /**
   * Takes the lock, or queues until it is handed over. Synchronously marks the lock
   * taken when free; the caller always resumes in a later microtask.
   */
  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
    assert(this.#locked, 'a waiter is woken holding the lock');
  }

  /** REQUIRES: held. Hands the lock to the oldest waiter, or frees it. */
  release(): void {
    assert(this.#locked, 'release of a held mutex');
    if (this.#head === this.#waiters.length) {
      this.#locked = false;
      return;
    }
    const next = this.#waiters[this.#head]!;
    this.#waiters[this.#head] = noop;
    this.#head += 1;
    if (this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    }
    next();
  }

  /** A once-only releaser for a lease. */
  releaser(): Releaser {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }
}

function noop(): void {}

