/**
 * When a memtable's value slabs may be reused (codec/slab-pool.ts, issue 12): its
 * values are released at its drop (Memtables#retireOldest: its run is durable and
 * installed) only if no reader ever captured it. A reader reaches a memtable through
 * a read view (engine/read-view.ts: gets, scans, snapshots, transactions, history, a
 * watcher's catch-up), and a view keeps it for as long as the reader runs, with no
 * signal when it stops but V8's collection; so a memtable any view captured keeps
 * its slabs out of reuse for good (V8 collects them as before).
 *
 * The other holders of a memtable's values are covered elsewhere: a commit's values
 * are carved before it is applied (carved, not yet released: their slab stays held);
 * a watcher's buffer marks their slab escaped (watch/change-feed.ts), and so does a
 * transaction's scan for the transaction's own writes (a step awaiting the runs may
 * read one after the commit and the drop: transaction/transaction.ts); a flush copies
 * them into its chunks or blocks and is done before the drop; every read answer is a
 * copy (codec/values.ts readStored).
 */
import { commitSlabPool, EncodedValue } from '../codec/value-slabs.js';
import type { SlabPool } from '../codec/slab-pool.js';
import type { StoredValue } from '../codec/values.js';
import { spanStart } from './ascending-tail.js';
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
 * The drop of `memtable` (retired: its run is durable and installed): releases every
 * value it retains unless a reader captured it; a slab whose values are all released
 * goes to the free list, which keeps at most `freeBytesMax` (the memtable share of the
 * budget), at most `heldBytesMax` of it referenced strongly (slab-pool.ts). Returns the
 * number of values released (0 when a reader captured it). `owner` (the store's
 * memtables) keeps those bounds in the pool until its close (SlabPool#forget).
 * REQUIRES: no apply to `memtable` any more (it is sealed).
 */
export function releaseDroppedMemtable(memtable: MemoryIndex, freeBytesMax: number, heldBytesMax: number, pool: SlabPool = commitSlabPool, owner?: object): number {
  pool.bound(freeBytesMax, heldBytesMax, owner);
  if (capturedByReader.has(memtable)) return 0;
  let released = 0;
  // In the order the keys arrived, near allocation order (MemoryIndex#forEachEntryInArrivalOrder).
  memtable.forEachEntryInArrivalOrder((entry, span) => {
    if (entry instanceof Uint8Array) {
      // A tail key's value kept as its slab and span (ascending-tail.ts).
      if (pool.tracks(entry)) {
        pool.release(entry, spanStart(span));
        released++;
      }
    } else if (!(entry instanceof VersionChain)) released += releaseSlot(entry, pool);
    else for (let index = entry.length - 1; index >= 0; index--) released += releaseSlot(entry.slotAt(index), pool);
  });
  return released;
}

function releaseSlot(slot: VersionSlot, pool: SlabPool): number {
  if (!(slot instanceof EncodedValue) || !slot.inSlab || !pool.tracks(slot.source)) return 0;
  pool.release(slot.source, slot.start);
  return 1;
}
