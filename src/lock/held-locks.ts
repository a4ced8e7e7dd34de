/**
 * The locks an async call chain holds, and the lock-order checks made against them
 * (debug mode, LADYBUG_DEBUG=1, every test run; see ordered-mutex.ts's header for
 * what leases can and cannot be checked).
 *
 * Invariants:
 * - Each chain's held list is immutable and in ascending rank: a lock is added only
 *   by AsyncLocalStorage.run around its critical section (OrderedMutex), never by
 *   enterWith, so it never leaks into a sibling chain and is gone when the section ends.
 * - checkCanAcquire throws LockOrderViolation 'reentrant' for a lock the chain holds
 *   and 'order' for a rank at or below the highest held one, naming both locks and
 *   where the held one was taken; it runs before waiting.
 * - A CheckedLease is released once, from a chain whose held locks extend its
 *   holder's, else LockOrderViolation 'release-by-non-holder'.
 * - Debug mode off: nothing here runs but runDetached (AsyncLocalStorage.exit).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LockOrderViolation } from '../errors.js';
import { debugEnabled } from '../util/debug.js';
import type { Releaser } from './fifo-mutex.js';
import type { LockLease, OrderedMutex } from './ordered-mutex.js';

/** One lock held by an async call chain (debug mode only). */
export interface HeldLock {
  readonly lock: OrderedMutex;
  /** Captured at acquisition; formatted only when a violation is reported. */
  readonly acquisitionSite: Error;
}

export type HeldLocks = readonly HeldLock[];

/** Stack lines kept in a violation message, after dropping the lock modules' own frames. */
const SITE_STACK_LINES_MAX = 6;
const NO_HELD_LOCKS: HeldLocks = Object.freeze([]);
export const heldLocksStorage = new AsyncLocalStorage<HeldLocks>();

export function currentHeldLocks(): HeldLocks {
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

/**
 * A short excerpt of where a lock was taken, without the lock modules' and Node's
 * frames (OrderedMutex captures every site, so ordered-mutex is the only one in it).
 */
function formatSite(site: Error): string {
  const frames = (site.stack ?? '').split('\n').slice(1);
  const outside = frames.filter(
    (frame) => !frame.includes('ordered-mutex') && !frame.includes('(node:') && !frame.includes('async-mutex'),
  );
  const kept = outside.slice(0, SITE_STACK_LINES_MAX).map((frame) => frame.trim());
  return kept.length > 0 ? kept.map((frame) => `    ${frame}`).join('\n') : '    (no stack available)';
}

export function describeLock(lock: { readonly name: string; readonly rank: number }): string {
  return `'${lock.name}' (rank ${lock.rank})`;
}

export function extendsHeldLocks(current: HeldLocks, holder: HeldLocks): boolean {
  if (current.length < holder.length) return false;
  return holder.every((held, index) => current[index] === held);
}

/** Debug mode: throws LockOrderViolation if the chain holding `held` may not take `lock`. */
export function checkCanAcquire(lock: OrderedMutex, held: HeldLocks): void {
  const again = held.find((entry) => entry.lock === lock);
  if (again !== undefined) {
    throw new LockOrderViolation(
      'reentrant',
      `lock order violation: taking ${describeLock(lock)} which this async call chain already holds ` +
        `(it would deadlock); it was taken at:\n${formatSite(again.acquisitionSite)}`,
    );
  }
  const highest = held[held.length - 1];
  if (highest === undefined || highest.lock.rank < lock.rank) return;
  throw new LockOrderViolation(
    'order',
    `lock order violation: taking ${describeLock(lock)} while holding ${describeLock(highest.lock)}; ` +
      `acquire in ascending rank (LOCK_ORDER.md). ${describeLock(highest.lock)} was taken at:\n` +
      formatSite(highest.acquisitionSite),
  );
}

/** Debug mode: a lease that knows its holder and refuses a second or foreign release. */
export class CheckedLease implements LockLease {
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
