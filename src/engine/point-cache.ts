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
 * - Everything cached was read from exactly the run set `runs` (array identity);
 *   a new run set (install, compaction) empties the cache, so a cached list is
 *   never missing a newer run's versions.
 * - One Map holds the entries in insertion order, with a CLOCK-style second chance
 *   instead of strict LRU: `get` only marks an entry referenced (no Map mutation on
 *   the hot path); eviction walks from the oldest, re-inserting referenced entries
 *   once (clearing the mark) and evicting the first unreferenced one. `get` and `set`
 *   are each one synchronous section (seed race 3: no duplicates, no lost entries).
 * - `bytes` never exceeds `maxBytes` after a `set` returns.
 */
import type { StoredValue } from '../codec/values.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { slotOfEntry } from './resolve.js';

/** Estimated heap bytes of one cached key besides its key and value bytes (Map entry, arrays, objects). */
export const POINT_CACHE_BYTES_PER_KEY = 160;
export const POINT_CACHE_BYTES_PER_ENTRY = 120;

export interface CachedPoint {
  /** Set by a hit; cleared when eviction gives the entry its second chance. */
  referenced: boolean;
  /** The key's entries over all runs, newest first (value bytes copied). */
  readonly entries: readonly RunEntry[];
  /** The newest entry's slot, decoded once (undefined when the key is in no run). */
  readonly newest: StoredValue | typeof TOMBSTONE | undefined;
  readonly sizeBytes: number;
}

export class PointCache {
  #maxBytes: number;
  #map = new Map<string, CachedPoint>();
  #runs: readonly unknown[] | undefined;
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
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

  /** Caches `entries` (newest first) of `key` as read from `runs`; returns what was cached. */
  set(key: string, runs: readonly unknown[], entries: readonly RunEntry[]): CachedPoint {
    const copies = entries.map((entry) => ({
      key, version: entry.version,
      value: entry.value === undefined ? undefined : Uint8Array.prototype.slice.call(entry.value),
    }));
    let sizeBytes = POINT_CACHE_BYTES_PER_KEY + key.length;
    for (const entry of copies) sizeBytes += POINT_CACHE_BYTES_PER_ENTRY + (entry.value?.length ?? 0);
    const first = copies[0];
    const point: CachedPoint = { referenced: false, entries: copies, newest: first === undefined ? undefined : slotOfEntry(first), sizeBytes };
    if (runs !== this.#runs) this.clear(runs);
    const previous = this.#map.get(key);
    if (previous !== undefined) {
      this.#map.delete(key);
      this.#bytes -= previous.sizeBytes;
    }
    if (sizeBytes > this.#maxBytes) return point;
    this.#map.set(key, point);
    this.#bytes += sizeBytes;
    this.#evict();
    return point;
  }

  /** Empties the cache and binds it to the run set `runs`. */
  clear(runs: readonly unknown[] | undefined): void {
    this.#map = new Map();
    this.#bytes = 0;
    this.#runs = runs;
  }

  #evict(): void {
    // Each referenced entry is re-inserted at most once per pass, so this ends.
    let chances = this.#map.size;
    for (const [key, point] of this.#map) {
      if (this.#bytes <= this.#maxBytes) break;
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
