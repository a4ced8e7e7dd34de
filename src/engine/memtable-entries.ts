/**
 * A sealed memtable's entries in run order, as a flush feeds them to the run writer
 * (in process) or packs them for the flush thread (flush-chunks.ts): key ascending,
 * version descending, a NOT_RETAINED marker where retention trimmed a chain; or the
 * same entries by key in arrival order, for the flush thread to sort
 * (memtableEntriesInArrivalOrder).
 *
 * Invariants: the memtable is not applied to while its entries are read (asserted at
 * each key); one entry object is reused for every entry (see memtableEntries).
 */
import { encodeStored } from '../codec/values.js';
import type { MemoryIndex, OrderedEntries } from '../memory/memory-index.js';
import { spanLength, spanStart, type TailEntry } from '../memory/ascending-tail.js';
import { TOMBSTONE, VersionChain } from '../memory/version-chain.js';
import { NO_VERSIONS } from '../memory/waiting-order.js';
import { sortedKeyOrder } from '../memory/key-sort.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { NOT_RETAINED_BYTE } from './resolve.js';

const NOT_RETAINED_VALUE = Uint8Array.of(NOT_RETAINED_BYTE);

/**
 * A sealed memtable's entries in run order: key ascending, version descending; a
 * chain trimmed by retention ends with a NOT_RETAINED marker at its first version
 * (see resolve.ts), so the run still knows older versions existed.
 *
 * One entry object and one iterator result are reused for every entry (a fresh
 * object per version, a tuple per key and a generator's results were a flush's
 * garbage): each `next()` overwrites what the previous one returned. The run
 * writer copies what it keeps (the key string, the encoded bytes) before asking for
 * the next entry. REQUIRES of a consumer: nothing of an entry but its key string
 * and value bytes is kept past the next `next()`.
 */
export function memtableEntries(index: MemoryIndex): IterableIterator<RunEntry> {
  return new MemtableEntries(index, index.orderedEntries(), undefined, 0, undefined);
}

/**
 * Key ranges of a memtable walked in arrival order: at most this many... Each range's
 * walk passes over the whole memtable's memory, reading only its range's objects: the
 * packing's main-thread CPU per key of a 100,000-key random memtable (busy, load 8-9;
 * the key-order walk 800-1,300 ns) was 100-300 ns with one range (no sort: the thread
 * sorted), 240-470 with two, 860-1,260 with eight. With one range the thread's writer waits for the whole memtable:
 * 64 random-key writers' flushes took a p50 of 241-346 ms against 113-217 and writes
 * stalled in 2 of 3 runs (issue 12, 2026-12-02); with two it starts on the first range
 * while the second is packed.
 */
export const ARRIVAL_ORDER_RANGES_MAX = 2;
/** ...of at least this many keys each (one range for a smaller memtable). */
export const ARRIVAL_ORDER_RANGE_KEYS_MIN = 4096;

/**
 * The same entries with the keys cut into key ranges, ascending, and each range's keys
 * in the order they arrived (each key's versions still newest first, then its
 * NOT_RETAINED marker; `range` says which range the last entry returned is in), or
 * undefined when the arrival order is key order (MemoryIndex#chainsInArrivalOrder).
 * A random memtable's chains and values were allocated in arrival order, so this walk
 * reads memory about in sequence where the key-order walk jumps all over it (the keys
 * are sorted once to cut the ranges: a sequential read of each key string); the flush
 * thread puts each range's keys in order (flush-key-order.ts). The same REQUIRES as
 * memtableEntries.
 */
export function memtableEntriesInArrivalOrder(index: MemoryIndex): ArrivalOrderEntries | undefined {
  const arrival = index.chainsInArrivalOrder();
  if (arrival === undefined) return undefined;
  const keys = arrival.keys;
  const ranges = Math.max(1, Math.min(ARRIVAL_ORDER_RANGES_MAX, Math.floor(keys.length / ARRIVAL_ORDER_RANGE_KEYS_MIN)));
  const entries = { keys, entries: arrival.chains, versions: NO_VERSIONS, spans: NO_VERSIONS };
  const rangeKeys = Math.ceil(keys.length / ranges);
  const order = sortedKeyOrder(keys); // key position -> arrival index
  const positionOf = new Uint32Array(keys.length); // arrival index -> key position
  for (let position = 0; position < order.length; position++) positionOf[order[position]!] = position;
  if (ranges === 1) return new MemtableEntries(index, entries, undefined, rangeKeys, positionOf);
  // Each range's slice of the key order back in arrival order, and each walked key's key
  // position: one pass over the arrival indices, each appended to its range's slice (what a
  // sort of each slice gave, without the sorts). This runs in the seal, inside the commit
  // that sealed the memtable, holding every writer (issue 12's tail): 100,000 random keys,
  // CPU 27.1-28.1 -> 24.2-26.4 ms (fastest of 7, 4 alternated pairs); the key sort is the rest.
  const nextSlot = new Uint32Array(ranges);
  for (let range = 0; range < ranges; range++) nextSlot[range] = range * rangeKeys;
  for (let arrival = 0; arrival < positionOf.length; arrival++) order[nextSlot[Math.floor(positionOf[arrival]! / rangeKeys)]!++] = arrival;
  for (let range = 0; range < ranges; range++) assert(nextSlot[range] === Math.min(order.length, (range + 1) * rangeKeys), 'every key lands in its range once');
  const positions = new Uint32Array(keys.length);
  for (let walked = 0; walked < order.length; walked++) positions[walked] = positionOf[order[walked]!]!;
  return new MemtableEntries(index, entries, order, rangeKeys, positions);
}

/** Entries by key range, each range's keys in arrival order (memtableEntriesInArrivalOrder). */
export interface ArrivalOrderEntries extends IterableIterator<RunEntry> {
  /** The key range (0, 1, ... ascending) of the entry next() returned last; a key's entries are all in one. */
  readonly range: number;
  /** Of each key of `range`, in the order walked, its position in the range's key order (a new array). */
  rangeOrder(range: number): Uint32Array;
}

class MemtableEntries implements ArrivalOrderEntries {
  readonly #index: MemoryIndex;
  readonly #appliedVersion: number;
  readonly #keys: readonly string[];
  /** Each key's chain, or (a key of the ascending tail with none made) its one slot, written at #versions[i]. */
  readonly #entries: readonly TailEntry[];
  readonly #versions: readonly number[];
  /** Where an entry is a slab, its value's span (ascending-tail.ts slabSlot). */
  readonly #spans: readonly number[];
  /** The order the keys are read in (indexes of #keys), or undefined: as they are. */
  readonly #visit: Uint32Array | undefined;
  /** Keys per range of #visit (0: one range). */
  readonly #rangeKeys: number;
  /** Of each key in the order walked, its position in key order (arrival order only). */
  readonly #positions: Uint32Array | undefined;
  #range = 0;
  /** How many keys were begun (the one being read is the last). */
  #keysBegun = 0;
  /** The chain being read, undefined between keys. */
  #chain: VersionChain | undefined;
  /** Next chain position to yield, newest first; -1: the NOT_RETAINED marker is next, if any. */
  #position = -1;
  readonly #entry: RunEntry = { key: '', version: 0, value: undefined };
  readonly #result: IteratorYieldResult<RunEntry> = { done: false, value: this.#entry };

  constructor(index: MemoryIndex, { keys, entries, versions, spans }: OrderedEntries, visit: Uint32Array | undefined, rangeKeys: number, positions: Uint32Array | undefined) {
    this.#index = index;
    this.#appliedVersion = index.appliedVersion;
    assert(keys.length === entries.length && (visit === undefined || visit.length === keys.length), 'one entry per key');
    this.#visit = visit;
    this.#rangeKeys = rangeKeys;
    this.#positions = positions;
    this.#keys = keys;
    this.#entries = entries;
    this.#versions = versions;
    this.#spans = spans;
  }

  [Symbol.iterator](): IterableIterator<RunEntry> {
    return this;
  }

  get range(): number {
    return this.#range;
  }

  rangeOrder(range: number): Uint32Array {
    const positions = this.#positions;
    assert(positions !== undefined && range >= 0 && range * this.#rangeKeys < positions.length, 'a key range of an arrival-order walk');
    const start = range * this.#rangeKeys;
    const order = positions.slice(start, Math.min(positions.length, start + this.#rangeKeys));
    for (let index = 0; index < order.length; index++) order[index] = order[index]! - start;
    return order;
  }

  next(): IteratorResult<RunEntry> {
    const entry = this.#entry;
    for (;;) {
      const chain = this.#chain;
      if (chain !== undefined) {
        const position = this.#position--;
        if (position >= 0) {
          const slot = chain.slotAt(position);
          entry.version = chain.versionAt(position);
          entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
          return this.#result;
        }
        this.#chain = undefined;
        if (chain.trimmedBelow !== 0 && chain.firstVersion < chain.versionAt(0)) {
          entry.version = chain.firstVersion;
          entry.value = NOT_RETAINED_VALUE;
          return this.#result;
        }
      }
      const begun = this.#keysBegun;
      if (begun >= this.#keys.length) return { done: true, value: undefined };
      this.#keysBegun = begun + 1;
      const visit = this.#visit;
      const keyIndex = visit === undefined ? begun : visit[begun]!;
      if (this.#rangeKeys > 0) this.#range = Math.floor(begun / this.#rangeKeys);
      assert(this.#index.appliedVersion === this.#appliedVersion, 'no apply while a flush reads the memtable');
      const next = this.#entries[keyIndex]!;
      entry.key = this.#keys[keyIndex]!;
      if (!(next instanceof VersionChain)) {
        // A key of a write-only ascending memtable: one version, no chain made (memory/ascending-tail.ts),
        // its value a slot or the bytes at its span of a slab (a view, as encodeStored gives).
        entry.version = this.#versions[keyIndex]!;
        if (next instanceof Uint8Array) {
          const span = this.#spans[keyIndex]!;
          entry.value = new Uint8Array(next.buffer, next.byteOffset + spanStart(span), spanLength(span));
        } else entry.value = next === TOMBSTONE ? undefined : encodeStored(next);
        return this.#result;
      }
      const length = next.length;
      if (length === 1 && next.trimmedBelow === 0) {
        // Most keys of a load: one version, nothing trimmed (read from the chain's own fields).
        const slot = next.newest;
        entry.version = next.newestVersion;
        entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
        return this.#result;
      }
      this.#chain = next;
      this.#position = length - 1;
    }
  }
}
