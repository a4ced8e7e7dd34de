/**
 * When a memtable's value slabs may be reused (codec/slab-pool.ts, issue 12): its
 * values are released at its drop (Memtables#retireOldest: its run is durable and
 * installed) only if no reader ever captured it. A reader reaches a memtable through
 * a read view (engine/read-view.ts: gets, scans, snapshots, transactions, history, a
 * watcher's catch-up), and a view keeps it for as long as the reader runs, with no
 * signal when it stops but V8's collection; so a memtable any view captured keeps
 * its slabs out of reuse for good (V8 collects them as before).
 *
 * The release walks a dropped memtable's keys in slices (DroppedMemtableRelease): the
 * first in the drop's synchronous step, the rest one per event-loop turn, and the
 * flush that dropped it ends when the walk does (engine/flusher.ts). Once dropped, a
 * memtable no reader captured is reached by nothing, so the walk sees it unchanged.
 *
 * The other holders of a memtable's values are covered elsewhere: a commit's values
 * are carved before it is applied (carved, not yet released: their slab stays held);
 * a watcher's buffer copies them out of their slab (watch/subscriber.ts); a
 * transaction's scan marks their slab escaped for the transaction's own writes (a step awaiting the runs may
 * read one after the commit and the drop: transaction/transaction.ts); a flush copies
 * them into its chunks or blocks and is done before the drop; every read answer is a
 * copy (codec/values.ts readStored).
 */
import { performance } from 'node:perf_hooks';
import { commitSlabPool, EncodedValue } from '../codec/value-slabs.js';
import type { SlabPool } from '../codec/slab-pool.js';
import type { StoredValue } from '../codec/values.js';
import { spanStart, type TailEntry } from './ascending-tail.js';
import type { MemoryIndex } from './memory-index.js';
import { VersionChain, type VersionSlot } from './version-chain.js';

/** Memtables a read view captured (weak: a dropped memtable is collected as before). */
const capturedByReader = new WeakSet<MemoryIndex>();

/** A read view captured `memtables`: their values are never released. */
export function markCapturedByReader(memtables: readonly MemoryIndex[]): void {
  for (const memtable of memtables) capturedByReader.add(memtable);
}

/** True when a read view captured `memtable` (for tests and the drop). */
export function capturedByAReader(memtable: MemoryIndex): boolean {
  return capturedByReader.has(memtable);
}

/** A stored value may be kept past its memtable's drop: its slab is never reused. */
export function escapeSlabValue(stored: StoredValue | symbol, pool: SlabPool = commitSlabPool): void {
  if (stored instanceof EncodedValue && stored.inSlab) pool.escape(stored.source);
}

/**
 * How a drop's release is sliced (read at each slice; tests make the slices small): a
 * slice walks `stepKeys` keys at a time (a few microseconds) until `sliceMs` passed, and
 * the next slice waits an event-loop turn (setImmediate). In one synchronous step the
 * release of a 77,000-key memtable held the main thread 1.3-30 ms at each flush (64
 * writers, a loaded machine), every commit in flight waiting for it.
 */
export const releaseSlicing = { stepKeys: 256, sliceMs: 1 };

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The release of a dropped memtable's values, under way (startMemtableRelease): `step`
 * walks up to `count` more keys in the order they arrived (near allocation order:
 * MemoryIndex#arrivalOrderWalk) and releases their slab values.
 */
export class DroppedMemtableRelease {
  /** Values released so far. */
  released = 0;
  #done = false;
  readonly #walk: ReturnType<MemoryIndex['arrivalOrderWalk']>;
  readonly #visit: (entry: TailEntry, span: number) => void;

  constructor(memtable: MemoryIndex, pool: SlabPool) {
    this.#walk = memtable.arrivalOrderWalk();
    // One record lookup per run of values from one slab (SlabPool#releaser).
    const release = pool.releaser();
    this.#visit = (entry, span) => {
      if (entry instanceof Uint8Array) {
        // A tail key's value kept as its slab and span (ascending-tail.ts).
        if (release(entry, spanStart(span))) this.released++;
      } else if (!(entry instanceof VersionChain)) this.released += releaseSlot(entry, release);
      else for (let index = entry.length - 1; index >= 0; index--) this.released += releaseSlot(entry.slotAt(index), release);
    };
  }

  get done(): boolean {
    return this.#done;
  }

  /** Releases the values of up to `count` more keys; true once every key was walked. */
  step(count: number): boolean {
    if (!this.#done) this.#done = this.#walk(this.#visit, count);
    return this.#done;
  }

  /** One slice: steps of releaseSlicing.stepKeys until done or its sliceMs passed; true once done. */
  slice(): boolean {
    const { stepKeys, sliceMs } = releaseSlicing;
    const startedMs = performance.now();
    while (!this.step(stepKeys)) if (performance.now() - startedMs >= sliceMs) return false;
    return true;
  }

  /** The rest, a slice per event-loop turn; answers the values released in all. */
  async finish(): Promise<number> {
    while (!this.slice()) await yieldToEventLoop();
    return this.released;
  }
}

/**
 * The drop of `memtable` (retired: its run is durable and installed): starts the
 * release of every value it retains unless a reader captured it (then undefined); a
 * slab whose values are all released goes to the free list, which keeps at most
 * `freeBytesMax` (the memtable share of the budget), at most `heldBytesMax` of it
 * referenced strongly (slab-pool.ts). `owner` (the store's memtables) keeps those
 * bounds in the pool until its close (SlabPool#forget). The caller walks the rest
 * (step, slice, finish): releasing later is safe, the memtable's values are only
 * reused sooner or later, and a walk never finished errs toward keeping (slab-pool.ts).
 * REQUIRES: no apply to `memtable` any more (it is sealed), no reader reaches it
 * afterwards but one that captured it already (it left the memtables' list).
 */
export function startMemtableRelease(memtable: MemoryIndex, freeBytesMax: number, heldBytesMax: number, pool: SlabPool = commitSlabPool, owner?: object): DroppedMemtableRelease | undefined {
  pool.bound(freeBytesMax, heldBytesMax, owner);
  if (capturedByReader.has(memtable)) return undefined;
  return new DroppedMemtableRelease(memtable, pool);
}

/**
 * startMemtableRelease walked to its end in one synchronous step: answers the number
 * of values released (0 when a reader captured `memtable`).
 */
export function releaseDroppedMemtable(memtable: MemoryIndex, freeBytesMax: number, heldBytesMax: number, pool: SlabPool = commitSlabPool, owner?: object): number {
  const release = startMemtableRelease(memtable, freeBytesMax, heldBytesMax, pool, owner);
  if (release === undefined) return 0;
  release.step(Infinity);
  return release.released;
}

function releaseSlot(slot: VersionSlot, release: (source: Uint8Array, start: number) => boolean): number {
  return slot instanceof EncodedValue && slot.inSlab && release(slot.source, slot.start) ? 1 : 0;
}
