/**
 * The versioned memory index: every key's versions, reachable two ways: a hash map for
 * point reads (O(1) `get`) and an ordered B+ tree (sorted-btree) for scans. The Map
 * maps a key to its place in flat columns (key-entries.ts) holding its one version and
 * slot, or its VersionChain once one is made (its second version, a read, the tree):
 * a key of a random load written once has no object of its own but its key string
 * (docs/PERFORMANCE.md, 2026-12-04). The tree holds the same chain objects.
 *
 * A new key enters the map at once and the tree lazily: it waits (key-order.ts)
 * until something needs key order (a scan chunk, verify), which sorts the waiting
 * keys and inserts them in ascending order; a flush of a memtable no scan touched
 * reads the sorted waiting keys and their chains without building the tree.
 *
 * A new key above every key of the memtable (sequential keys) is known to be absent
 * without asking the Map: apply goes straight to the insert, which saves the Map's miss
 * lookup (hashing a fresh key string and walking a bucket of a large table: the
 * largest part of an apply, issue 12). While every key arrived that way, the Map's
 * insertion order is key order, so a flush takes the waiting keys as they are.
 *
 * Such keys do not enter the Map either: they form the ascending tail (ascending-tail.ts).
 * The Map insert of a fresh key (its bucket walk and the table's growth by rehashing,
 * about a third of the main thread's CPU per commit of 64 sequential-key writers, issue
 * 12) is paid only once something needs the Map: a key at or below the greatest (a
 * rewrite, a lower new key) or the tree (a scan, verify) moves the whole tail into it,
 * in order, and a point read in the tail's range moves a bounded step of it. A
 * write-only sequential memtable is flushed without ever building its Map: the tail is
 * its key order with the versions and slots beside it, and no chain is made for a tail
 * key until something needs one (a read, its second version): orderedEntries. A key
 * moved into the Map takes its entry as it is into the Map's columns (key-entries.ts).
 *
 * Invariants:
 * - `greatestKey` is the greatest key held, in `map` or the tail ('' while none: every
 *   key has a byte); `mapAscending` is true only while the Map's insertion order is ascending.
 * - every key is in `map` or in the tail, never both; the key order's tree plus its
 *   waiting keys hold exactly those keys, the tree with the chain objects the columns
 *   hold (key-order.ts: its invariants, the reserved keys' count and the entries of
 *   sorted waiting keys); `map`'s values are the columns' positions, in insertion order,
 *   or, once a key's chain is made, that chain, which the columns hold at its position.
 * - the tail's keys are the last `tail.length` waiting keys, ascending, above
 *   every key of the Map, with their entries (slot and version, or chain) in the tail
 *   in that order (ascending-tail.ts).
 * - Versions are applied in strictly ascending order (the commit pipeline applies
 *   groups in version order); `appliedVersion` is the last applied.
 * - memoryBytes counts a key as if its chain were made, less what a Map key without one
 *   does not hold (memory-estimate.ts chainMadeSizeBytes), added back when it is made.
 * - A chain, once created, stays (a delete appends a TOMBSTONE), so a reader's
 *   as-of answer never changes underneath it except by retention trimming,
 *   which spares the oldest pinned version.
 *
 * Synchronous only: nothing here awaits, so each apply and each chunk of a scan is
 * atomic with respect to every other caller (no lock needed; see LOCK_ORDER.md).
 *
 * Parts in their own modules: the tree and the keys waiting for it (key-order.ts),
 * the tree's range walks (chain-tree.ts), the estimate of the bytes held
 * (memory-estimate.ts), the order a flush reads waiting keys in (waiting-order.ts) and
 * the ascending tail (ascending-tail.ts).
 */
import type { StoredValue } from '../codec/values.js';
import { AssertionFailedError } from '../errors.js';
import { assert } from '../util/assert.js';
import { AscendingTail, TAIL_KEYS_MOVED_PER_READ, type TailEntry } from './ascending-tail.js';
import { chainsInRange, liveEntriesInRange } from './chain-tree.js';
import { arrivalOrderWalk, entriesWithTail, KeyEntries } from './key-entries.js';
import { KeyOrder } from './key-order.js';
import type { KeyRange } from './key-range.js';
import { chainMadeSizeBytes, keySizeBytes, MEMORY_BYTES_KEY_COLUMNS, olderArraysSizeBytes, slotSizeBytes } from './memory-estimate.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from './version-chain.js';
import type { OrderedEntries } from './waiting-order.js';

export type { KeyRange } from './key-range.js';
export type { OrderedEntries } from './waiting-order.js';

/** One operation of a commit, as applied to memory. */
export interface IndexOperation {
  key: string;
  /** The stored value, or TOMBSTONE for a delete. */
  slot: VersionSlot;
}

export class MemoryIndex {
  /**
   * Each key of the Map to its position in #columns (key-entries.ts: its one version and
   * slot), or to its chain once one is made (the columns hold it too): a read of a key
   * with a chain is one lookup.
   */
  readonly #map = new Map<string, number | VersionChain>();
  readonly #columns = new KeyEntries();
  /** The greatest key in the Map ('' while empty): a key above it is new (see the module header). */
  #greatestKey = '';
  /** True while every key entered the Map above all the keys before it (its insertion order is key order). */
  #mapAscending = true;
  /** The chains of the last waiting keys that are not in the Map yet (see the module header). */
  readonly #tail = new AscendingTail();
  /** The tree and the keys waiting for it (key-order.ts). */
  readonly #order = new KeyOrder(this.#map, this.#columns, this.#tail, (key) => this.#chainInPlace(key));
  readonly #maxVersionsPerKey: number;
  #appliedVersion = 0;
  #liveKeys = 0;
  #versionCount = 0;
  #memoryBytes = 0;
  #reclaimedVersions = 0;

  constructor(maxVersionsPerKey: number) {
    this.#maxVersionsPerKey = maxVersionsPerKey;
  }

  get appliedVersion(): number {
    return this.#appliedVersion;
  }

  /** Estimated heap bytes held (memory-estimate.ts). */
  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  /**
   * Applies one commit. REQUIRES: version > appliedVersion. `pinnedVersion` is the
   * oldest version a reader still uses; retention trimming spares what it sees.
   */
  apply(version: number, operations: readonly IndexOperation[], pinnedVersion: number): void {
    // The message is built only on failure (this runs once per commit).
    if (!(version > this.#appliedVersion)) throw new AssertionFailedError(`apply ${version} after ${this.#appliedVersion}`);
    for (const operation of operations) this.#applyOne(version, operation, pinnedVersion);
    this.#appliedVersion = version;
  }

  #applyOne(version: number, operation: IndexOperation, pinnedVersion: number): void {
    const key = operation.key;
    this.#versionCount++;
    this.#memoryBytes += slotSizeBytes(operation.slot);
    if (key > this.#greatestKey) {
      // Above every key held: new, no lookup needed, and it joins the ascending tail (see the module header).
      this.#greatestKey = key;
      return this.#insert(version, operation, true);
    }
    // The key may be in the tail, and a new key below the greatest one would break the tail's order: settle it.
    if (this.#tail.length > 0) this.#moveTail(Infinity);
    const held = this.#map.get(key);
    if (held === undefined) {
      this.#mapAscending = false;
      return this.#insert(version, operation, false);
    }
    let chain: VersionChain;
    if (typeof held === 'number') {
      // Its second version: its chain is made now (key-entries.ts); sorted entries kept for a flush are stale.
      chain = this.#chainAt(key, held);
      this.#order.entryChanged();
    } else chain = held;
    const isDelete = operation.slot === TOMBSTONE;
    const wasLive = chain.newest !== TOMBSTONE;
    const lengthBefore = chain.length;
    chain.append(version, operation.slot);
    this.#memoryBytes += olderArraysSizeBytes(chain.length) - olderArraysSizeBytes(lengthBefore);
    if (wasLive && isDelete) this.#liveKeys--;
    if (!wasLive && !isDelete) this.#liveKeys++;
    if (chain.length > this.#maxVersionsPerKey) this.#trim(chain, pinnedVersion);
  }

  /**
   * A key held nowhere yet: its chain joins the ascending tail (`ascending`: the key is
   * above every key held) or enters the Map, and waits for the tree.
   */
  #insert(version: number, operation: IndexOperation, ascending: boolean): void {
    const key = operation.key;
    // A tail key gets no chain until something needs one (ascending-tail.ts), nor does a Map key (key-entries.ts).
    this.#order.add(key);
    this.#memoryBytes += keySizeBytes(key);
    if (ascending) this.#tail.push(version, operation.slot);
    else {
      const position = this.#columns.push(version, operation.slot);
      this.#map.set(key, position);
      this.#memoryBytes += MEMORY_BYTES_KEY_COLUMNS - chainMadeSizeBytes(this.#columns.entryAt(position));
    }
    if (operation.slot !== TOMBSTONE) this.#liveKeys++;
  }

  #trim(chain: VersionChain, pinnedVersion: number): void {
    const lengthBefore = chain.length;
    const dropped = chain.trim(this.#maxVersionsPerKey, pinnedVersion);
    for (const slot of dropped) this.#memoryBytes -= slotSizeBytes(slot);
    this.#memoryBytes -= olderArraysSizeBytes(lengthBefore) - olderArraysSizeBytes(chain.length);
    assert(this.#memoryBytes >= 0, 'memory estimate stays non-negative');
    this.#versionCount -= dropped.length;
    this.#reclaimedVersions += dropped.length;
  }

  chain(key: string): VersionChain | undefined {
    return this.#tail.length === 0 ? this.#mapChain(key) : this.#chainBesideTail(key);
  }

  /** The chain of a key of the Map (made now if it had none), or undefined. */
  #mapChain(key: string): VersionChain | undefined {
    const held = this.#map.get(key);
    return held === undefined || typeof held !== 'number' ? held : this.#chainAt(key, held);
  }

  /**
   * The chain of the Map's `key` at `position` of its columns, made now (the key had one
   * version and none, key-entries.ts), which the estimate counts from here on; the Map
   * then holds it in the position's place.
   */
  #chainAt(key: string, position: number): VersionChain {
    const columns = this.#columns;
    this.#memoryBytes += chainMadeSizeBytes(columns.entryAt(position));
    const chain = columns.chainAt(position);
    this.#map.set(key, chain);
    return chain;
  }

  /**
   * Moves up to `count` keys of the ascending tail into the Map, each with its entry as
   * it is: a tail key is counted as having its chain (memory-estimate.ts), a Map key as
   * having its column slots, and its chain only once one is made.
   */
  #moveTail(count: number): void {
    const columns = this.#columns;
    const from = columns.length;
    this.#tail.moveInto(this.#map, columns, this.#order.waiting, count);
    for (let position = from; position < columns.length; position++) this.#memoryBytes += MEMORY_BYTES_KEY_COLUMNS - chainMadeSizeBytes(columns.entryAt(position));
  }

  /** The chain of a key held (made now if it had none), moving nothing into the Map (KeyOrder's lookups). */
  #chainInPlace(key: string): VersionChain {
    const keys = this.#order.waiting;
    const inTail = this.#tail.length > 0 && key >= keys[keys.length - this.#tail.length]!;
    const chain = inTail ? this.#tail.find(keys, key) : this.#mapChain(key);
    assert(chain !== undefined, 'a key held has a chain');
    return chain;
  }

  /** The slot of `key` as of `version` (undefined: no such key then). */
  slotAsOf(key: string, version: number): VersionSlot | undefined {
    const chain = this.chain(key);
    return chain === undefined ? undefined : chain.slotAsOf(version);
  }

  /**
   * The chain of `key` while the ascending tail is not empty: above the greatest key,
   * none; below the tail, the Map; in the tail's range, a step of the tail moves into
   * the Map (ascending-tail.ts), then the Map or a binary search of what is left.
   */
  #chainBesideTail(key: string): VersionChain | undefined {
    if (key > this.#greatestKey) return undefined;
    const keys = this.#order.waiting;
    if (key < keys[keys.length - this.#tail.length]!) return this.#mapChain(key);
    this.#moveTail(TAIL_KEYS_MOVED_PER_READ);
    if (this.#tail.length === 0 || key < keys[keys.length - this.#tail.length]!) return this.#mapChain(key);
    return this.#tail.find(keys, key);
  }

  /**
   * Whether `key` is held, moving nothing into the Map: a flush's point-cache carry-over
   * asks the memtable it is about to retire (src/engine/flusher.ts).
   */
  holds(key: string): boolean {
    const keys = this.#order.waiting;
    const inTail = this.#tail.length > 0 && key >= keys[keys.length - this.#tail.length]!;
    return inTail ? this.#tail.has(keys, key) : this.#map.has(key);
  }

  /**
   * Up to `maxCount` live entries as of `version`, in key order (or reverse), within
   * `range`, strictly after `cursor` (or before it, in reverse) when given.
   * Synchronous, so one chunk is a consistent cut; a scan is a series of chunks.
   */
  scanChunk(
    range: KeyRange,
    cursor: string | undefined,
    version: number,
    reverse: boolean,
    maxCount: number,
  ): Array<[string, StoredValue]> {
    this.#order.ensureOrderedFor(range);
    return liveEntriesInRange(this.#order.tree, range, cursor, version, reverse, maxCount);
  }

  /**
   * Up to `maxCount` keys with their chains (live or not: the caller resolves
   * versions across memtables and runs), in key order (or reverse), within `range`,
   * strictly after `cursor` (before it, in reverse) when given. Synchronous.
   */
  chainsChunk(range: KeyRange, cursor: string | undefined, reverse: boolean, maxCount: number): Array<[string, VersionChain]> {
    this.#order.ensureOrderedFor(range);
    return chainsInRange(this.#order.tree, range, cursor, reverse, maxCount);
  }

  /**
   * Every key and chain in ascending key order (a flush reads a sealed memtable this
   * way; memtableEntries walks orderedKeysAndChains). REQUIRES: no apply while
   * iterating (a sealed memtable never changes), asserted per key.
   */
  *orderedChains(): IterableIterator<[string, VersionChain]> {
    const { keys, chains } = this.orderedKeysAndChains();
    const appliedVersion = this.#appliedVersion;
    for (let index = 0; index < keys.length; index++) {
      assert(this.#appliedVersion === appliedVersion, 'no apply while a flush reads the memtable');
      yield [keys[index]!, chains[index]!];
    }
  }

  /**
   * Every key in ascending order and, at the same index, its chain: two arrays the
   * caller must not change (a flush reads them; a later scan of this memtable leaves
   * them as they are). A write-only memtable's are its waiting keys, sorted with their
   * chains, no tree built (KeyOrder#keysAndChains). REQUIRES: the caller reads them
   * before the next apply.
   */
  orderedKeysAndChains(): { keys: readonly string[]; chains: readonly VersionChain[] } {
    return this.#order.keysAndChains(this.#mapAscending);
  }

  /**
   * orderedKeysAndChains for a flush, without making a chain per key when every key is
   * in the ascending tail (a write-only memtable of ascending keys): then `entries[i]`
   * is the chain or the one slot of `keys[i]`, or the slab holding that slot's bytes at
   * `spans[i]` (ascending-tail.ts slabSlot), and a slot's version is `versions[i]`;
   * otherwise every entry is a chain. The same REQUIRES.
   */
  orderedEntries(): OrderedEntries {
    const order = this.#order;
    if (order.tree.size === 0 && this.#map.size === 0) {
      const tail = this.#tail.entriesInOrder();
      if (tail !== undefined) {
        assert(tail.entries.length === order.waiting.length, 'a memtable all tail: its waiting keys are the tail');
        return { keys: order.waiting, entries: tail.entries, versions: tail.versions, spans: tail.spans };
      }
    }
    return order.keysAndEntries(this.#mapAscending);
  }

  /**
   * Calls `visit` with every key's chain, or (a tail key with none made) its entry and
   * span (ascending-tail.ts), in the order the keys arrived: the Map's insertion order,
   * then the tail's. Objects are visited in about the order they were allocated, so a
   * walk over a large memtable reads memory nearly in sequence where key order jumps
   * across it (the drop's release of its values, slab-reuse.ts: a 100,000-key random
   * memtable took 70-310 ms in key order on a busy machine). REQUIRES: no apply meanwhile.
   */
  forEachEntryInArrivalOrder(visit: (entry: TailEntry, span: number) => void): void {
    this.arrivalOrderWalk()(visit, Infinity);
  }

  /**
   * forEachEntryInArrivalOrder a slice at a time (the drop's release across event-loop
   * turns, slab-reuse.ts): each call of the answer visits up to `count` more entries
   * where the last call stopped, and answers true once every entry was visited.
   * REQUIRES: nothing changes the memtable from the first call to the last (no apply, no
   * read moving tail keys into the Map: a dropped memtable no reader captured).
   */
  arrivalOrderWalk(): (visit: (entry: TailEntry, span: number) => void, count: number) => boolean {
    return arrivalOrderWalk(this.#columns, this.#tail);
  }

  /**
   * Every key and its entry as it is held (a chain, or one version's slot or slab with
   * its version and span: key-entries.ts; no chain made) in the order the keys arrived,
   * or undefined when that order is key order (every key arrived above the ones before:
   * orderedEntries reads memory in sequence then). A flush through the flush thread
   * packs a random memtable this way and the thread sorts (src/engine/flush-key-order.ts):
   * the objects are read about in the order they were allocated. The Map's columns
   * themselves when the tail is empty. REQUIRES: no apply while the arrays are read.
   */
  entriesInArrivalOrder(): OrderedEntries | undefined {
    if (this.#mapAscending) return undefined;
    const keys = Array.from(this.#map.keys());
    assert(keys.length === this.#columns.length, 'one entry per key of the Map');
    // The tail's keys are the last of the waiting keys, in its order (the module header).
    const waiting = this.#order.waiting;
    for (let index = waiting.length - this.#tail.length; index < waiting.length; index++) keys.push(waiting[index]!);
    return { keys, ...entriesWithTail(this.#columns, this.#tail) };
  }

  stats(): { keys: number; liveKeys: number; versions: number; reclaimedVersions: number; memoryBytes: number } {
    return {
      keys: this.#map.size + this.#tail.length,
      liveKeys: this.#liveKeys,
      versions: this.#versionCount,
      reclaimedVersions: this.#reclaimedVersions,
      memoryBytes: this.#memoryBytes,
    };
  }

  /** Debug-mode full check: the two structures agree and every chain is sound. */
  verify(): void {
    this.#order.verify();
    let previous = '';
    let mapGreatest = '';
    for (const key of this.#map.keys()) {
      assert(key <= this.#greatestKey, 'no key is above the greatest key');
      assert(!this.#mapAscending || key > previous, 'an ascending Map is in key order');
      previous = key;
      if (key > mapGreatest) mapGreatest = key;
    }
    this.#tail.verify(this.#map, this.#order.waiting, mapGreatest);
    const greatestHeld = this.#tail.length > 0 ? this.#order.waiting.at(-1) === this.#greatestKey : this.#map.has(this.#greatestKey);
    assert(this.#map.size + this.#tail.length === 0 || greatestHeld, 'the greatest key is held');
    const tree = this.#order.tree;
    this.#order.ensureOrdered();
    assert(this.#map.size === tree.size, 'map and tree hold the same number of keys');
    let versions = 0;
    let live = 0;
    this.#columns.verify();
    for (const [key, chain] of tree.entries()) {
      assert(this.#map.get(key) === chain, `map and tree agree on ${JSON.stringify(key)}`);
      chain.verify();
      versions += chain.length;
      if (chain.newest !== TOMBSTONE) live++;
    }
    assert(versions === this.#versionCount, 'version count matches');
    assert(live === this.#liveKeys, 'live key count matches');
  }
}
