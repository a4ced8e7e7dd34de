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
  return new MemtableEntries(index, index.orderedEntries());
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
/** Keys sampled (evenly spaced in arrival order) to cut the key ranges: their quantiles are the ranges' bounds. */
export const ARRIVAL_ORDER_SAMPLE_KEYS = 1024;

/**
 * The same entries with the keys cut into key ranges, ascending, and each range's keys
 * in the order they arrived (each key's versions still newest first, then its
 * NOT_RETAINED marker; `range` says which range the last entry returned is in), or
 * undefined when the arrival order is key order (MemoryIndex#entriesInArrivalOrder).
 * A random memtable's chains and values were allocated in arrival order, so this walk
 * reads memory about in sequence where the key-order walk jumps all over it; the flush
 * thread sorts each range's keys (flush-key-order.ts KeyRangeChunks#keyOrder). The
 * same REQUIRES as memtableEntries.
 *
 * The ranges are cut at quantiles of a sample of the keys (ARRIVAL_ORDER_SAMPLE_KEYS,
 * evenly spaced in arrival order), not at a sort of them all: this runs in the seal,
 * inside the commit that sealed the memtable, holding every writer, and sorting every
 * key here (with the passes that turned the sort into each range's walk and key order)
 * took 40-140 ms of that section per random-key seal of 77k keys (issue 12, 64-writer
 * tail; now the thread sorts each range, beside the main thread). The walk makes one
 * pass over the arrival order per range, taking the keys that fall in it (a comparison
 * with the range's bounds per key and pass, during the packing, which yields the loop).
 * Ranges are as even as the sample makes them; each holds at least one sampled key.
 */
export function memtableEntriesInArrivalOrder(index: MemoryIndex): ArrivalOrderEntries | undefined {
  const arrival = index.entriesInArrivalOrder();
  if (arrival === undefined) return undefined;
  const keys = arrival.keys;
  const ranges = Math.max(1, Math.min(ARRIVAL_ORDER_RANGES_MAX, Math.floor(keys.length / ARRIVAL_ORDER_RANGE_KEYS_MIN)));
  return new MemtableEntries(index, arrival, rangeBounds(keys, ranges));
}

/**
 * The lower bounds of key ranges 1..ranges-1 (ascending, distinct): quantiles of a sample
 * of `keys` (distinct), so each range holds at least one sampled key.
 */
function rangeBounds(keys: readonly string[], ranges: number): string[] {
  if (ranges === 1) return [];
  const sampleSize = Math.min(keys.length, ARRIVAL_ORDER_SAMPLE_KEYS);
  assert(sampleSize >= ranges, 'a sampled key for every range');
  const sample = new Array<string>(sampleSize);
  for (let taken = 0; taken < sampleSize; taken++) sample[taken] = keys[Math.floor((taken * keys.length) / sampleSize)]!;
  sample.sort(); // code unit order, as `<`
  const bounds: string[] = [];
  for (let range = 1; range < ranges; range++) bounds.push(sample[Math.floor((range * sampleSize) / ranges)]!);
  for (let bound = 1; bound < bounds.length; bound++) assert(bounds[bound - 1]! < bounds[bound]!, 'range bounds ascend');
  return bounds;
}

/** The range of `key` among ranges bounded below by `bounds` (ascending): how many bounds are at or below it. */
function rangeOf(key: string, bounds: readonly string[]): number {
  let range = 0;
  while (range < bounds.length && bounds[range]! <= key) range++;
  return range;
}

/** Entries by key range, each range's keys in arrival order (memtableEntriesInArrivalOrder). */
export interface ArrivalOrderEntries extends IterableIterator<RunEntry> {
  /** The key range (0, 1, ... ascending) of the entry next() returned last; a key's entries are all in one. */
  readonly range: number;
}

class MemtableEntries implements ArrivalOrderEntries {
  readonly #index: MemoryIndex;
  readonly #appliedVersion: number;
  readonly #keys: readonly string[];
  /** Each key's chain, or (a key with none made) its one slot or slab, written at #versions[i]. */
  readonly #entries: readonly TailEntry[];
  readonly #versions: readonly number[];
  /** Where an entry is a slab, its value's span (ascending-tail.ts slabSlot). */
  readonly #spans: readonly number[];
  /** By key range (arrival order): the lower bounds of ranges 1.. (memtableEntriesInArrivalOrder); undefined: all keys as they are. */
  readonly #bounds: readonly string[] | undefined;
  #range = 0;
  /** How many keys of the pass were looked at (the one being read is the last taken): a pass per range by key range. */
  #keysBegun = 0;
  /** The chain being read, undefined between keys. */
  #chain: VersionChain | undefined;
  /** Next chain position to yield, newest first; -1: the NOT_RETAINED marker is next, if any. */
  #position = -1;
  readonly #entry: RunEntry = { key: '', version: 0, value: undefined };
  readonly #result: IteratorYieldResult<RunEntry> = { done: false, value: this.#entry };

  constructor(index: MemoryIndex, { keys, entries, versions, spans }: OrderedEntries, bounds?: readonly string[]) {
    this.#index = index;
    this.#appliedVersion = index.appliedVersion;
    assert(keys.length === entries.length, 'one entry per key');
    this.#bounds = bounds;
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

  /** The next key to read (an index of #keys), or -1 once every key was read. */
  #nextKey(): number {
    const keys = this.#keys;
    const bounds = this.#bounds;
    if (bounds === undefined) return this.#keysBegun < keys.length ? this.#keysBegun++ : -1;
    for (;;) {
      if (this.#keysBegun === keys.length) {
        if (this.#range === bounds.length) return -1;
        this.#range++;
        this.#keysBegun = 0;
      }
      const keyIndex = this.#keysBegun++;
      if (rangeOf(keys[keyIndex]!, bounds) === this.#range) return keyIndex;
    }
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
      const keyIndex = this.#nextKey();
      if (keyIndex < 0) return { done: true, value: undefined };
      assert(this.#index.appliedVersion === this.#appliedVersion, 'no apply while a flush reads the memtable');
      const next = this.#entries[keyIndex]!;
      entry.key = this.#keys[keyIndex]!;
      if (!(next instanceof VersionChain)) {
        // A key with one version and no chain made (memory/key-entries.ts, memory/ascending-tail.ts),
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
