/**
 * OrderedMutex: a FIFO mutex that knows its place in the global lock order
 * (src/lock/lock-table.ts, LOCK_ORDER.md) and, in debug mode, enforces it.
 *
 * Invariants:
 * - At most one holder at a time; waiters are served in FIFO order (release hands
 *   the lock straight to the first waiter, so the lock never looks free while
 *   someone is queued and runExclusiveSync cannot barge ahead of them).
 * - An acquisition always resumes its caller in a later microtask, free lock or
 *   not (as async-mutex did): code after runExclusive() runs before fn does.
 * - Every form releases the lock when its function throws or rejects.
 * - Debug mode (LADYBUG_DEBUG=1, every test run): each async call chain carries an
 *   immutable list of the locks it holds (AsyncLocalStorage), in ascending rank.
 *   Taking a lock the chain already holds throws LockOrderViolation 'reentrant'
 *   (instead of deadlocking); taking a lock whose rank is at or below the highest
 *   held one throws 'order', naming both locks and where the held one was taken.
 *   The check runs before waiting, so a violation is reported whether or not the
 *   lock happens to be contended. Two instances of one table entry (two store
 *   handles) have equal rank, so nesting them is an 'order' violation too.
 * - Debug mode off: no AsyncLocalStorage.run, no stack capture; an uncontended
 *   runExclusive allocates only its own promise (no semaphore, no waiter record;
 *   measured in one run: 0.5-0.75 µs per awaited uncontended runExclusive, against
 *   2.6-5.7 µs with async-mutex), and
 *   runExclusiveSync on a free lock creates no promise.
 *
 * assertHeld() throws AssertionFailedError (not LockOrderViolation): a function that
 * requires a lock and runs without it is a broken internal invariant, not a lock
 * taken out of order.
 *
 * Leases and AsyncLocalStorage (what we found; see test/lock-order.test.ts):
 * `const lease = await lock.acquire()` CANNOT mark the lock as held in the caller's
 * continuation. After the caller's `await`, Node restores the context captured when
 * the caller awaited; a store set inside acquire() (enterWith after its own await,
 * or inside a thenable's then()) is invisible to the caller. enterWith in acquire()'s
 * synchronous prefix does reach the caller, but it also leaks into every sibling
 * chain started later from the same synchronous code (Promise.all([a(), b()]): b
 * would "hold" a's lock) and cannot be undone at release. So:
 * - runExclusive / runExclusiveSync are the primary forms; use them wherever a
 *   callback fits. Only they make the lock visible to nested order checks and to
 *   assertHeld.
 * - acquire() still checks the order against the locks the caller holds when it
 *   calls acquire(), but locks taken later in the caller's chain cannot see the
 *   lease: a violation against a lease-held lock is not reported.
 * - The holder of a lease is identified by the held-lock list in effect at
 *   acquire(): release() must come from a chain whose held locks extend that list,
 *   else LockOrderViolation 'release-by-non-holder'; so does a second release.
 *   Two chains that hold no locks are indistinguishable (not reported).
 * - assertHeld() accepts an outstanding lease when the caller's held locks extend
 *   the lease holder's (lenient: it cannot attribute a lease to one chain).
 *
 * Any async work started inside a critical section and left running after it
 * inherits the held list: a critical section must await everything it starts.
 *
 * In their own modules: the bare FIFO mutex (fifo-mutex.ts) and the held-lock lists
 * with the order checks and the checked lease (held-locks.ts).
 */
import { AssertionFailedError } from '../errors.js';
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { FifoMutex, type Releaser } from './fifo-mutex.js';
import { CheckedLease, checkCanAcquire, currentHeldLocks, describeLock, extendsHeldLocks, type HeldLock, heldLocksStorage } from './held-locks.js';
import { findLockTableEntry, type LockName, type LockTableEntry } from './lock-table.js';

export type SyncRunResult<T> = { ran: true; value: T } | { ran: false };

export interface LockLease {
  /** Releases the lock. Debug mode: a second release, or one from a non-holder, throws. */
  release(): void;
}

export interface LockStats {
  /** Successful acquisitions, all forms. */
  acquisitions: number;
  /** Acquisitions that found the lock held and had to wait. */
  contended: number;
  /** Total time contended acquisitions waited. */
  waitMsTotal: number;
}

const NOT_RAN: SyncRunResult<never> = Object.freeze({ ran: false });

function isThenable(value: unknown): boolean {
  const candidate = value as { then?: unknown } | null;
  return (typeof value === 'object' || typeof value === 'function') && typeof candidate?.then === 'function';
}

/** One settled promise to chain a later microtask from (no allocation per use beyond the reaction). */
const RESOLVED: Promise<void> = Promise.resolve();

export class OrderedMutex {
  readonly #entry: LockTableEntry;
  readonly #mutex = new FifoMutex();
  /** True while a runExclusiveSync section runs (it holds the lock without async-mutex). */
  #heldSynchronously = false;
  /** Debug mode: the lease currently holding this lock, if any. */
  #outstandingLease: CheckedLease | undefined = undefined;
  #acquisitions = 0;
  #contended = 0;
  #waitMsTotal = 0;

  /** Throws AssertionFailedError if `name` is not in the lock table or is reserved. */
  constructor(name: LockName) {
    const entry = findLockTableEntry(name);
    assert(entry !== undefined, `lock '${String(name)}' is not in the lock table (src/lock/lock-table.ts)`);
    assert(!entry.reserved, `lock '${entry.name}' is reserved: mark it implemented in the lock table first`);
    this.#entry = entry;
  }

  get name(): LockName {
    return this.#entry.name;
  }

  get rank(): number {
    return this.#entry.rank;
  }

  isLocked(): boolean {
    return this.#heldSynchronously || this.#mutex.isLocked();
  }

  stats(): LockStats {
    return { acquisitions: this.#acquisitions, contended: this.#contended, waitMsTotal: this.#waitMsTotal };
  }

  /** Acquires (FIFO), runs fn holding the lock, releases even if fn throws. */
  runExclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    if (debugEnabled()) return this.#runExclusiveChecked(fn);
    if (this.#mutex.isLocked()) return this.#runExclusiveContended(fn);
    this.#acquisitions += 1;
    return this.#runExclusiveFree(fn);
  }

  /**
   * Debug mode off, lock free: take it now, run fn after one microtask (as a waiter
   * would), release once fn's result settles, either way. A promise chain with
   * handlers made once per mutex, not an async function: no generator, context or
   * await promises per acquisition (the commit path takes this lock once per group).
   */
  #runExclusiveFree<T>(fn: () => T | Promise<T>): Promise<T> {
    const acquired = this.#mutex.tryAcquire();
    assert(acquired, 'runExclusive found the lock free');
    return (RESOLVED.then(fn) as Promise<T>).then(this.#releaseReturning, this.#releaseRethrowing) as Promise<T>;
  }

  /** Releases the mutex and passes fn's value on (#runExclusiveFree). */
  readonly #releaseReturning = (value: unknown): unknown => {
    this.#mutex.release();
    return value;
  };

  /** Releases the mutex and passes fn's error on (#runExclusiveFree). */
  readonly #releaseRethrowing = (error: unknown): never => {
    this.#mutex.release();
    throw error;
  };

  /**
   * The hot-path form: if the lock is free, runs the synchronous fn at once while
   * holding it (nothing can interleave synchronous code) and releases; if the lock
   * is held, returns { ran: false } without calling fn, and the caller falls back
   * to runExclusive. fn must not return a promise (asserted in debug mode).
   */
  runExclusiveSync<T>(fn: () => T): SyncRunResult<T> {
    if (debugEnabled()) return this.#runExclusiveSyncChecked(fn);
    if (this.isLocked()) return NOT_RAN;
    this.#acquisitions += 1;
    this.#heldSynchronously = true;
    try {
      return { ran: true, value: fn() };
    } finally {
      this.#heldSynchronously = false;
    }
  }

  /**
   * runExclusiveSync for the commit path's per-commit call: runs `fn(argument)` if the
   * lock is free and returns true, else returns false without calling it. Same
   * checks as runExclusiveSync; debug mode off, it allocates nothing (no closure
   * from the caller, no result object).
   */
  tryRunExclusiveSync<A>(fn: (argument: A) => void, argument: A): boolean {
    if (debugEnabled()) return this.#runExclusiveSyncChecked(() => fn(argument)).ran;
    if (this.isLocked()) return false;
    this.#acquisitions += 1;
    this.#heldSynchronously = true;
    try {
      fn(argument);
      return true;
    } finally {
      this.#heldSynchronously = false;
    }
  }

  /**
   * Acquires and returns a lease to release explicitly. Second-class: the lease is
   * invisible to later order checks and to assertHeld in the caller's chain (see
   * the header). Prefer runExclusive.
   */
  async acquire(): Promise<LockLease> {
    if (!debugEnabled()) return new FastLease(await this.#acquireMutex());
    const holderLocks = currentHeldLocks();
    checkCanAcquire(this, holderLocks);
    const site = new Error('lease acquired here');
    const releaseMutex = await this.#acquireMutex();
    const release = (): void => {
      this.#outstandingLease = undefined;
      releaseMutex();
    };
    const lease = new CheckedLease(this, release, holderLocks, site);
    this.#outstandingLease = lease;
    return lease;
  }

  /** Debug mode: throws AssertionFailedError unless this async call chain holds the lock. No-op otherwise. */
  assertHeld(): void {
    if (!debugEnabled()) return;
    const current = currentHeldLocks();
    if (current.some((held) => held.lock === this)) return;
    const lease = this.#outstandingLease;
    if (lease !== undefined && extendsHeldLocks(current, lease.holderLocks)) return;
    throw new AssertionFailedError(`lock ${describeLock(this)} is not held by this async call chain`);
  }

  async #runExclusiveChecked<T>(fn: () => T | Promise<T>): Promise<T> {
    const held = currentHeldLocks();
    checkCanAcquire(this, held);
    const entry: HeldLock = { lock: this, acquisitionSite: new Error('lock taken here') };
    const release = await this.#acquireMutex();
    try {
      return await heldLocksStorage.run([...held, entry], fn);
    } finally {
      release();
    }
  }

  async #runExclusiveContended<T>(fn: () => T | Promise<T>): Promise<T> {
    const release = await this.#acquireMutex();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #runExclusiveSyncChecked<T>(fn: () => T): SyncRunResult<T> {
    const held = currentHeldLocks();
    checkCanAcquire(this, held);
    if (this.isLocked()) return NOT_RAN;
    const entry: HeldLock = { lock: this, acquisitionSite: new Error('lock taken here') };
    this.#acquisitions += 1;
    this.#heldSynchronously = true;
    try {
      const value = heldLocksStorage.run([...held, entry], fn);
      assert(!isThenable(value), `runExclusiveSync(${describeLock(this)}): fn returned a promise; use runExclusive`);
      return { ran: true, value };
    } finally {
      this.#heldSynchronously = false;
    }
  }

  /** Counts the acquisition; measures the wait only when the mutex is already locked. */
  async #acquireMutex(): Promise<Releaser> {
    this.#acquisitions += 1;
    if (!this.#mutex.isLocked()) {
      await this.#mutex.acquire();
      return this.#mutex.releaser();
    }
    this.#contended += 1;
    const startMs = performance.now();
    await this.#mutex.acquire();
    this.#waitMsTotal += performance.now() - startMs;
    return this.#mutex.releaser();
  }
}

/** Debug mode off: the releaser is already idempotent. */
class FastLease implements LockLease {
  readonly #release: Releaser;
  constructor(release: Releaser) {
    this.#release = release;
  }
  release(): void {
    this.#release();
  }
}

