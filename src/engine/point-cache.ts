/**
 * The point cache: a key's entries from the runs (newest first, values copied out of
 * their blocks, the newest one decoded), for hot point reads that memory does not
 * answer. Without it a hot key read from a run costs a filter probe, an index
 * search and a block search per run (about 5 µs); with it, one Map lookup.
 *
 * Hot keys are spread thinly over many blocks, so caching a 4 KiB block for one
 * 100-byte value wastes the cache; this caches just the key's entries. Misses for
 * absent keys are cached too (an empty list).
 *
 * Invariants:
 * - Everything cached is exact for the run set `runs` (array identity): it was read
 *   from it, or from the set before a flush installed a run holding none of its key
 *   (carryOverFlush drops the flushed memtable's keys and keeps the rest, so a hot key
 *   stays cached across flushes of other keys), or before a compaction replaced runs
 *   with their merge (carryOverCompaction keeps keys cached with one entry or none,
 *   which a merge cannot change, and drops the rest). Any other new run set empties
 *   the cache, so a cached list is never missing a newer run's versions.
 *   Only a read of the store's current run set (`currentRuns`) rebinds it: a snapshot
 *   or transaction reading an older set caches nothing (before, each of its misses
 *   emptied the cache, so one reader open across a flush undid the carry-over).
 * - One Map holds the entries in insertion order, with a CLOCK-style second chance
 *   instead of strict LRU: `get` only marks an entry referenced (no Map mutation on
 *   the hot path); eviction walks from the oldest, re-inserting referenced entries
 *   once (clearing the mark) and evicting the first unreferenced one. `get` and `set`
 *   are each one synchronous section (seed race 3: no duplicates, no lost entries).
 * - A point is `complete` (its entries are the key's entries in every run) or not:
 *   an admitted miss that stopped at the first run deciding its read keeps only the
 *   entries down to that run, of which the newest is exact (runs are newest first and
 *   do not overlap in versions). An incomplete point answers only a read that its
 *   newest entry decides; a flush's carry-over keeps it (no run of the key was added),
 *   a compaction's keeps it only with a single entry (the merge keeps the newest).
 * - `bytes` never exceeds `maxBytes` after a `set` returns.
 */
import { encodeStored, type StoredValue } from '../codec/values.js';
import { oneByteStringSizeBytes, storedSizeBytes } from '../codec/value-memory-size.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { isNotRetainedMarker, slotOfEntry } from './resolve.js';

/**
 * Estimated heap bytes of one cached key besides its key and value bytes (Map entry,
 * arrays, objects), and of each entry besides its value bytes; measured (bench
 * issue 7 run of 2026-11-30): about 455 B per key and 240 B per entry beyond the
 * value bytes, which appear twice for the newest entry (copied bytes and decoded).
 */
export const POINT_CACHE_BYTES_PER_KEY = 455;
/**
 * A key with one entry keeps only its decoded slot: the Map entry and the point
 * object (estimated from the same measurement, not measured on its own), plus the
 * key string and the value's heap bytes (storedSizeBytes).
 */
export const POINT_CACHE_BYTES_PER_SINGLE_KEY = 160;
export const POINT_CACHE_BYTES_PER_ENTRY = 240;
/** Eviction frees down to this share of the bound at once (amortizes the walk over the Map). */
export const POINT_CACHE_EVICT_TO_SHARE = 7 / 8;
/**
 * The doorkeeper: a bitmap of keys seen missing recently (one bit per key hash); a
 * key is cached on its second miss, so uniform reads over a store much larger than
 * the cache do not churn it. Cleared once a quarter of its bits are set.
 */
export const POINT_CACHE_DOORKEEPER_BITS = 2 ** 22;

export interface CachedPoint {
  /** Set by a hit; cleared when eviction gives the entry its second chance. */
  referenced: boolean;
  /**
   * The key's entries over all runs, newest first (value bytes copied); undefined when
   * the key has exactly one entry (the common case), which `newest` holds alone.
   */
  readonly entries: readonly RunEntry[] | undefined;
  /** The newest entry's version and slot, decoded once (undefined when the key is in no run). */
  readonly newestVersion: number | undefined;
  readonly newest: StoredValue | typeof TOMBSTONE | undefined;
  /**
   * True: `entries` are the key's entries in every run. False: only those of the runs
   * down to the first that decided the read that cached it, so only `newest` is exact
   * (ReadView reads the runs for any read it does not decide).
   */
  readonly complete: boolean;
  readonly sizeBytes: number;
}

export class PointCache {
  #maxBytes: number;
  #map = new Map<string, CachedPoint>();
  #runs: readonly unknown[] | undefined;
  #bytes = 0;
  readonly #seen = new Uint8Array(POINT_CACHE_DOORKEEPER_BITS / 8);
  #seenCount = 0;
  #hits = 0;
  #misses = 0;

  /**
   * The store's current run set (RunSet#runs), when known: only a read of it may rebind the
   * cache. A reader of an older set (a snapshot or transaction whose view predates an install)
   * gets its answer but caches nothing, instead of emptying the current set's entries.
   */
  readonly #currentRuns: (() => readonly unknown[]) | undefined;

  constructor(maxBytes: number, currentRuns?: () => readonly unknown[]) {
    this.#maxBytes = maxBytes;
    this.#currentRuns = currentRuns;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  set maxBytes(value: number) {
    this.#maxBytes = value;
    this.#evict();
  }

  stats(): { bytes: number; keys: number; hits: number; misses: number } {
    return { bytes: this.#bytes, keys: this.#map.size, hits: this.#hits, misses: this.#misses };
  }

  /** The cached entries of `key` read from the run set `runs`, touching it; undefined on a miss. */
  get(key: string, runs: readonly unknown[]): CachedPoint | undefined {
    if (runs !== this.#runs) {
      this.#misses++;
      return undefined;
    }
    const found = this.#map.get(key);
    if (found === undefined) {
      this.#misses++;
      return undefined;
    }
    found.referenced = true;
    this.#hits++;
    return found;
  }

  /**
   * Before a miss reads the runs: true when what it reads would be cached (the read is
   * of the current run set and the doorkeeper admits the key: its second miss). A read
   * told false may stop at the first run that decides its answer, and does not call
   * set(); one told true reads every run and calls set(..., true). Counts the key's
   * sighting in the doorkeeper, as set() does.
   */
  admitsMiss(key: string, runs: readonly unknown[]): boolean {
    if (runs !== this.#runs && this.#currentRuns !== undefined && runs !== this.#currentRuns()) return false;
    return this.#admit(key);
  }

  /**
   * Caches `entries` (newest first) of `key` as read from `runs` (every run's entries,
   * or with `complete` false those of the runs down to the first that decided the read);
   * returns what was cached. `admitted`: admitsMiss already said yes for this miss.
   */
  set(key: string, runs: readonly unknown[], entries: readonly RunEntry[], admitted = false, complete = true): CachedPoint {
    const first = entries[0];
    const newest = first === undefined || isNotRetainedMarker(first.value) ? undefined : slotOfEntry(first);
    let point: CachedPoint;
    if (entries.length === 1 && newest !== undefined) {
      // One entry: the decoded slot is all that is kept (its bytes re-encode exactly).
      const sizeBytes = POINT_CACHE_BYTES_PER_SINGLE_KEY + oneByteStringSizeBytes(key.length) + (newest === TOMBSTONE ? 0 : storedSizeBytes(newest));
      point = { referenced: false, entries: undefined, newestVersion: first!.version, newest, complete, sizeBytes };
    } else {
      const copies = copiedEntries(key, entries);
      let sizeBytes = POINT_CACHE_BYTES_PER_KEY + key.length;
      for (const entry of copies) sizeBytes += POINT_CACHE_BYTES_PER_ENTRY + (entry.value?.length ?? 0);
      sizeBytes += first?.value?.length ?? 0;
      point = { referenced: false, entries: copies, newestVersion: first?.version, newest, complete, sizeBytes };
    }
    if (runs !== this.#runs && this.#currentRuns !== undefined && runs !== this.#currentRuns()) return point; // an older run set's read
    if (!admitted && !this.#admit(key)) return point;
    if (runs !== this.#runs) this.clear(runs);
    const previous = this.#map.get(key);
    if (previous !== undefined) {
      this.#map.delete(key);
      this.#bytes -= previous.sizeBytes;
    }
    if (point.sizeBytes > this.#maxBytes) return point;
    this.#map.set(key, point);
    this.#bytes += point.sizeBytes;
    this.#evict();
    return point;
  }

  /**
   * A flush installed one run on top of the run set `previous`, making `next`; the new
   * run holds versions of exactly the keys for which `flushedKey` is true. Every other
   * key's cached entries are still exact for `next` (no version of it was added), so
   * they are kept and the cache is bound to `next`; the flushed keys' entries (absent-key
   * entries included) are dropped. A cache bound to another run set is left alone (the
   * next `set` empties it). One synchronous section, called in the install's own step.
   */
  carryOverFlush(previous: readonly unknown[], next: readonly unknown[], flushedKey: (key: string) => boolean): void {
    this.#carryOver(previous, next, (key) => flushedKey(key));
  }

  /**
   * A compaction replaced some runs of `previous` with their merge, making `next`. A
   * merge adds no version and keeps a key's newest version among its inputs (only a
   * tombstone with nothing older may vanish, which reads the same: absent), so a key
   * cached with exactly one entry, or with none (absent), reads the same from `next`:
   * those are kept. A key with several entries may have lost older ones to retention:
   * dropped. A cache bound to another run set is left alone. One synchronous section,
   * called in the install's own step.
   */
  carryOverCompaction(previous: readonly unknown[], next: readonly unknown[]): void {
    this.#carryOver(previous, next, (_key, point) => point.entries !== undefined && point.entries.length > 0);
  }

  /** If bound to `previous`: drops the keys `stale` names and binds the rest to `next` (both carry-overs). */
  #carryOver(previous: readonly unknown[], next: readonly unknown[], stale: (key: string, point: CachedPoint) => boolean): void {
    if (this.#runs !== previous) return;
    for (const [key, point] of this.#map) {
      if (!stale(key, point)) continue;
      this.#map.delete(key);
      this.#bytes -= point.sizeBytes;
    }
    this.#runs = next;
  }

  /** Empties the cache and binds it to the run set `runs`. */
  clear(runs: readonly unknown[] | undefined): void {
    this.#map = new Map();
    this.#bytes = 0;
    this.#runs = runs;
  }

  /** True when the key was seen missing since the doorkeeper was last cleared (its second miss). */
  #admit(key: string): boolean {
    let hash = 0x811c9dc5;
    for (let index = 0; index < key.length; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
    const bit = (hash >>> 0) % POINT_CACHE_DOORKEEPER_BITS;
    const byte = bit >>> 3;
    const mask = 1 << (bit & 7);
    if ((this.#seen[byte]! & mask) !== 0) return true;
    this.#seen[byte]! |= mask;
    if (++this.#seenCount > POINT_CACHE_DOORKEEPER_BITS / 4) {
      this.#seen.fill(0);
      this.#seenCount = 0;
    }
    return false;
  }

  #evict(): void {
    if (this.#bytes <= this.#maxBytes) return;
    const target = Math.floor(this.#maxBytes * POINT_CACHE_EVICT_TO_SHARE);
    // Each referenced entry is re-inserted at most once per pass, so this ends.
    let chances = this.#map.size;
    for (const [key, point] of this.#map) {
      if (this.#bytes <= target) break;
      this.#map.delete(key);
      if (point.referenced && chances-- > 0) {
        point.referenced = false;
        this.#map.set(key, point);
        continue;
      }
      this.#bytes -= point.sizeBytes;
    }
    assert(this.#bytes <= this.#maxBytes || this.#map.size === 0, 'point cache within its bound');
  }
}

/**
 * Copies of `entries` (value bytes copied out of their blocks). A function of its own,
 * not a closure in set(): a closure over set()'s `key` made V8 allocate its context on
 * every set, the single-entry path's included.
 */
function copiedEntries(key: string, entries: readonly RunEntry[]): RunEntry[] {
  const copies: RunEntry[] = [];
  for (const entry of entries) {
    copies.push({ key, version: entry.version, value: entry.value === undefined ? undefined : Uint8Array.prototype.slice.call(entry.value) });
  }
  return copies;
}

/** The cached entries of `key`, newest first (a single entry is rebuilt from its slot). */
export function pointEntries(key: string, point: CachedPoint): readonly RunEntry[] {
  if (point.entries !== undefined) return point.entries;
  if (point.newestVersion === undefined || point.newest === undefined) return [];
  return [{ key, version: point.newestVersion, value: point.newest === TOMBSTONE ? undefined : encodeStored(point.newest) }];
}
