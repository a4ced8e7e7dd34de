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
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AssertionFailedError, LockOrderViolation } from '../errors.js';
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { findLockTableEntry, type LockName, type LockTableEntry } from './lock-table.js';

/** One lock held by an async call chain (debug mode only). */
interface HeldLock {
  readonly lock: OrderedMutex;
  /** Captured at acquisition; formatted only when a violation is reported. */
  readonly acquisitionSite: Error;
}

type HeldLocks = readonly HeldLock[];

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

/** Stack lines kept in a violation message, after dropping this module's own frames. */
const SITE_STACK_LINES_MAX = 6;
const NOT_RAN: SyncRunResult<never> = Object.freeze({ ran: false });
const NO_HELD_LOCKS: HeldLocks = Object.freeze([]);
const heldLocksStorage = new AsyncLocalStorage<HeldLocks>();

function currentHeldLocks(): HeldLocks {
  return heldLocksStorage.getStore() ?? NO_HELD_LOCKS;
}

/**
 * Starts background work (a flush, a compaction) as its own call chain, holding no
 * lock, even when it is kicked off from inside a critical section: it must not
 * inherit the caller's held locks, since it outlives them and takes its own.
 */
export function runDetached<T>(start: () => Promise<T>): Promise<T> {
  return heldLocksStorage.exit(start);
}

/** Debug mode: the names of the locks the current async call chain holds (leases excluded). */
export function currentHeldLockNames(): readonly string[] {
  if (!debugEnabled()) return [];
  return currentHeldLocks().map((held) => held.lock.name);
}

/** A short excerpt of where a lock was taken, without this module's and Node's frames. */
function formatSite(site: Error): string {
  const frames = (site.stack ?? '').split('\n').slice(1);
  const outside = frames.filter(
    (frame) => !frame.includes('ordered-mutex') && !frame.includes('(node:') && !frame.includes('async-mutex'),
  );
  const kept = outside.slice(0, SITE_STACK_LINES_MAX).map((frame) => frame.trim());
  return kept.length > 0 ? kept.map((frame) => `    ${frame}`).join('\n') : '    (no stack available)';
}

function describeLock(lock: OrderedMutex): string {
  return `'${lock.name}' (rank ${lock.rank})`;
}

function extendsHeldLocks(current: HeldLocks, holder: HeldLocks): boolean {
  if (current.length < holder.length) return false;
  return holder.every((held, index) => current[index] === held);
}

function isThenable(value: unknown): boolean {
  const candidate = value as { then?: unknown } | null;
  return (typeof value === 'object' || typeof value === 'function') && typeof candidate?.then === 'function';
}

/** Releases a lock; a second call does nothing. */
type Releaser = () => void;

/**
 * The bare FIFO mutex under OrderedMutex. `locked` stays true from an acquisition
 * through every hand-over to a waiter, until a release finds nobody waiting.
 */
class FifoMutex {
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
    this.#checkCanAcquire(holderLocks);
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
    this.#checkCanAcquire(held);
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
    this.#checkCanAcquire(held);
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

  /** Debug mode: throws LockOrderViolation if the chain holding `held` may not take this lock. */
  #checkCanAcquire(held: HeldLocks): void {
    const again = held.find((entry) => entry.lock === this);
    if (again !== undefined) {
      throw new LockOrderViolation(
        'reentrant',
        `lock order violation: taking ${describeLock(this)} which this async call chain already holds ` +
          `(it would deadlock); it was taken at:\n${formatSite(again.acquisitionSite)}`,
      );
    }
    const highest = held[held.length - 1];
    if (highest === undefined || highest.lock.rank < this.rank) return;
    throw new LockOrderViolation(
      'order',
      `lock order violation: taking ${describeLock(this)} while holding ${describeLock(highest.lock)}; ` +
        `acquire in ascending rank (LOCK_ORDER.md). ${describeLock(highest.lock)} was taken at:\n` +
        formatSite(highest.acquisitionSite),
    );
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

/** Debug mode: a lease that knows its holder and refuses a second or foreign release. */
class CheckedLease implements LockLease {
  readonly #lock: OrderedMutex;
  readonly #release: Releaser;
  readonly #site: Error;
  readonly holderLocks: HeldLocks;
  #released = false;

  constructor(lock: OrderedMutex, release: Releaser, holderLocks: HeldLocks, site: Error) {
    this.#lock = lock;
    this.#release = release;
    this.holderLocks = holderLocks;
    this.#site = site;
  }

  release(): void {
    if (this.#released) throw this.#violation('released twice');
    if (!extendsHeldLocks(currentHeldLocks(), this.holderLocks)) {
      throw this.#violation('released from an async call chain that is not the holder');
    }
    this.#released = true;
    this.#release();
  }

  #violation(what: string): LockOrderViolation {
    return new LockOrderViolation(
      'release-by-non-holder',
      `lease on ${describeLock(this.#lock)} ${what}; it was acquired at:\n${formatSite(this.#site)}`,
    );
  }
}
