/**
 * MergeThreadSlots: the process-wide bound on live merge threads, shared by every store
 * of the process (a store per tenant: 20 stores merging ran 20 merge threads, each an
 * isolate with its heap and malloc arena, on 2 cores; bench/large/many-stores-probe.ts).
 *
 * A MergeThread (merge-thread.ts) takes a slot before it starts its worker and gives it
 * back when that worker exits (or when close() stops waiting for a thread blocked in a
 * system call: terminate-worker.ts). So at most mergeThreadSlotSettings.max merge
 * threads live at once in the process (the bound is read at each grant; default the
 * machine's availableParallelism(), at least 2), counted as mergeThreadsRunning() counts them.
 *
 * - A merge that finds no free slot waits in one FIFO queue, across stores: the first
 *   waiter gets the next slot given back. Its wait ends with the merge's abort signal
 *   (the compactor's cancel: close(), abandon(), a superseding compact()), rejecting
 *   with the signal's reason, or with the thread's close(), rejecting with
 *   StoreClosedError: a waiter never holds anything, so close() of its store returns
 *   without waiting on another store's merge, and the holders are unaffected.
 * - An idle thread keeps its slot (its next merge needs no new isolate) only while no
 *   one waits: a waiter asks idle holders to end their thread now (SlotHolder#reclaim),
 *   and a thread whose merge settles while others wait ends at once instead of idling
 *   (MergeThread), so a store that merges again queues behind the stores already waiting.
 *
 * Invariants: held slots <= max at every grant; a lease is given back once (release is
 * idempotent); a waiter is either queued or settled, never both.
 */
import { availableParallelism } from 'node:os';
import { StoreClosedError } from '../errors.js';
import { assert } from '../util/assert.js';

/**
 * `max`: live merge threads in the process at most: the machine's availableParallelism(),
 * and at least 2, so one store's two merges at once (the compactor's deep and shallow
 * slots) never wait on each other. Tests change it.
 */
export const mergeThreadSlotSettings: { max: number } = { max: Math.max(2, availableParallelism()) };

/** What a slot's holder offers: ending its thread while it is idle, so a waiter gets the slot. */
export interface SlotHolder {
  /** Ends the holder's thread if it has no merge (its lease is given back at the thread's exit); false when it is busy. */
  reclaim(): boolean;
}

/** One held slot. */
export interface SlotLease {
  /** Gives the slot back (idempotent); the next waiter gets it. */
  release(): void;
}

/** A queued acquire: its `cancel` removes it (the signal fired, or its thread closed). */
export interface SlotWait {
  readonly lease: Promise<SlotLease>;
  /** Ends the wait with `reason` if it is still queued; a lease already granted is given back. */
  cancel(reason: unknown): void;
}

interface Waiter {
  holder: SlotHolder;
  grant: (lease: SlotLease) => void;
  fail: (reason: unknown) => void;
}

class MergeThreadSlots {
  /** The holder of each lease not yet given back. */
  readonly #held = new Map<SlotLease, SlotHolder>();
  /** Leases whose holder was asked to end its idle thread (not asked twice). */
  readonly #reclaimed = new Set<SlotLease>();
  #waiters: Waiter[] = [];

  get held(): number {
    return this.#held.size;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** A slot for `holder`: at once when one is free and no one waits, else after the waiters before it. */
  acquire(holder: SlotHolder, signal: AbortSignal): SlotWait {
    let waiter: Waiter | undefined;
    let granted: SlotLease | undefined;
    let settled = false;
    const lease = new Promise<SlotLease>((resolve, reject) => {
      waiter = {
        holder,
        grant: (given) => {
          settled = true;
          granted = given;
          signal.removeEventListener('abort', onAbort);
          resolve(given);
        },
        fail: (reason) => {
          settled = true;
          signal.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
    });
    const cancel = (reason: unknown): void => {
      if (!settled) {
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        waiter!.fail(reason);
        this.#pump(); // a reclaim asked for this waiter may free a slot nobody else wants: nothing to do then
        return;
      }
      granted?.release();
    };
    const onAbort = (): void => cancel(signal.reason);
    if (signal.aborted) {
      waiter!.fail(signal.reason);
      return { lease, cancel };
    }
    signal.addEventListener('abort', onAbort, { once: true });
    this.#waiters.push(waiter!);
    this.#pump();
    return { lease, cancel };
  }

  #newLease(holder: SlotHolder): SlotLease {
    let released = false;
    const lease: SlotLease = {
      release: () => {
        if (released) return;
        released = true;
        this.#held.delete(lease);
        this.#reclaimed.delete(lease);
        this.#pump();
      },
    };
    this.#held.set(lease, holder);
    return lease;
  }

  /** Grants free slots to the first waiters; asks idle holders to end their threads for the rest. */
  #pump(): void {
    while (this.#waiters.length > 0 && this.#held.size < mergeThreadSlotSettings.max) {
      const waiter = this.#waiters.shift()!;
      waiter.grant(this.#newLease(waiter.holder));
    }
    let wanted = this.#waiters.length - this.#reclaimed.size;
    if (wanted <= 0) return;
    for (const [lease, holder] of [...this.#held]) {
      if (wanted === 0) break;
      if (this.#reclaimed.has(lease) || !this.#held.has(lease)) continue;
      // reclaim() may end the thread synchronously and release this lease (pumping again).
      this.#reclaimed.add(lease);
      if (holder.reclaim()) wanted--;
      else this.#reclaimed.delete(lease);
    }
  }

  /** True while a merge waits for a slot (a settling merge's thread then ends rather than idles). */
  get contended(): boolean {
    return this.#waiters.length > 0;
  }
}

/** The process's merge thread slots. */
export const mergeThreadSlots = new MergeThreadSlots();

/** Merge threads holding a slot and merges waiting for one, in this process (tests). */
export function mergeThreadSlotCounts(): { held: number; waiting: number } {
  return { held: mergeThreadSlots.held, waiting: mergeThreadSlots.waiting };
}

/** The StoreClosedError a merge waiting for a slot rejects with when its thread closes. */
export function slotWaitClosed(): StoreClosedError {
  return new StoreClosedError('merge runs (the merge thread closed while waiting for a thread slot)');
}

assert(mergeThreadSlotSettings.max >= 1, 'at least one merge thread slot');
