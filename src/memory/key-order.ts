/**
 * A memtable's key order (src/memory/memory-index.ts): the ordered B+ tree of its
 * keys' chains (chain-tree.ts) and the keys waiting to enter it. A new key enters the
 * index's Map (or its ascending tail) at once and the tree lazily: it waits here until
 * something needs key order (a scan chunk, verify), which sorts the waiting keys and
 * inserts them in ascending order. A flush of a memtable no scan touched reads the
 * sorted waiting keys and their chains without building the tree (keysAndChains).
 * Inserting random keys one by one cost a fifth of the CPU of 64 concurrent writers; in
 * bulk and sorted it is cheaper, and a write-only workload never pays it on the commit
 * path.
 *
 * Invariants:
 * - `tree` plus `waiting` hold exactly the index's keys (those of its Map and its
 *   tail), with the same chain objects; ensureOrdered() moves the tail into the Map and
 *   empties `waiting`.
 * - The tail's keys are the last `tail.length` waiting keys (ascending-tail.ts).
 * - `#waitingReservedKeys` counts the waiting keys under the reserved prefix
 *   (src/lease/reserved-prefix.ts). A scan whose range lies inside that prefix while
 *   it is 0 reads the tree alone and sorts nothing: the lease restart scan at open
 *   (src/lease/lease-manager.ts) no longer sorts a whole replayed memtable (issue 7).
 * - While the tree is empty, `waiting` is in the Map's insertion order (then the
 *   tail's) until keysAndEntries sorts it for a flush (`#waitingInPushOrder` says which);
 *   then `#waitingEntries` holds each waiting key's entry, version and span at the key's
 *   index, and `#waitingChains` its chain once asked (both undefined again at the next
 *   new key, or when an apply makes a key's chain).
 *
 * Synchronous only, as the index is.
 */
import { assert } from '../util/assert.js';
import { isReservedKey, rangeInsideReservedPrefix } from '../lease/reserved-prefix.js';
import type { AscendingTail, TailEntry } from './ascending-tail.js';
import { type ChainTree, newChainTree } from './chain-tree.js';
import { entriesWithTail, type KeyEntries } from './key-entries.js';
import type { KeyRange } from './key-range.js';
import { VersionChain } from './version-chain.js';
import { NO_VERSIONS, type OrderedEntries, waitingEntriesOrder } from './waiting-order.js';

export class KeyOrder {
  /** The keys that left the waiting list, with their chains, in key order. */
  readonly tree: ChainTree = newChainTree();
  /** The index's Map (key to position in its columns, or chain), its columns and its ascending tail (the same objects for the index's life). */
  readonly #map: Map<string, number | VersionChain>;
  readonly #columns: KeyEntries;
  readonly #tail: AscendingTail;
  /** The chain of a key held (made and counted by the index if it had none). */
  readonly #chainOf: (key: string) => VersionChain;
  /** New keys not yet in the tree (see the module header). */
  #waiting: string[] = [];
  /** True while `waiting` is known to be in ascending order (set by a sort, cleared by an add). */
  #waitingSorted = true;
  /** True while `waiting` is in push order (the Map's insertion order, then the tail's): until keysAndEntries permutes it. */
  #waitingInPushOrder = true;
  /**
   * The waiting keys' entries (chain, or slot or slab with its version and span), index
   * for index, once sorted for a flush (undefined otherwise: a live memtable does not pay
   * for it, and again at the next new key or a key's first chain made by an apply).
   */
  #waitingEntries: OrderedEntries | undefined;
  /** The waiting keys' chains, index for index, once a flush asked for chains (orderedKeysAndChains). */
  #waitingChains: readonly VersionChain[] | undefined;
  /** How many waiting keys lie under the reserved prefix (see the module header). */
  #waitingReservedKeys = 0;

  constructor(map: Map<string, number | VersionChain>, columns: KeyEntries, tail: AscendingTail, chainOf: (key: string) => VersionChain) {
    this.#map = map;
    this.#columns = columns;
    this.#tail = tail;
    this.#chainOf = chainOf;
  }

  /** The keys waiting for the tree; the tail's are the last of them. The caller must not change it. */
  get waiting(): readonly string[] {
    return this.#waiting;
  }

  /** A key new to the index (in its Map or its tail now) waits for the tree. */
  add(key: string): void {
    this.#waiting.push(key);
    if (isReservedKey(key)) this.#waitingReservedKeys++;
    this.#waitingSorted = false;
    this.#waitingEntries = undefined;
    this.#waitingChains = undefined;
  }

  /** A key's entry became a chain by an apply (its second version): the sorted entries kept for a flush are stale. */
  entryChanged(): void {
    this.#waitingEntries = undefined;
    this.#waitingChains = undefined;
  }

  /**
   * Makes the tree hold every key `range` can hold: a range inside the reserved prefix
   * needs no waiting key moved when none of them is reserved (the tree then holds every
   * key of the range); any other range moves them all (ensureOrdered).
   */
  ensureOrderedFor(range: KeyRange): void {
    if (this.#waitingReservedKeys === 0 && this.#waiting.length > 0 && rangeInsideReservedPrefix(range)) return;
    this.ensureOrdered();
  }

  /** Moves every waiting key into the tree: sorted, then inserted in ascending order, each with its chain (made now if it had none). */
  ensureOrdered(): void {
    if (this.#waiting.length === 0) return;
    // Every key of the tree is in the Map (the tail's keys too, from here on).
    if (this.#tail.length > 0) this.#tail.moveInto(this.#map, this.#columns, this.#waiting);
    const chains = this.#waitingChains;
    const keys = this.#sortedWaiting();
    this.#waiting = [];
    this.#waitingInPushOrder = true;
    this.#waitingEntries = undefined;
    this.#waitingChains = undefined;
    this.#waitingReservedKeys = 0;
    if (chains !== undefined) {
      for (let index = 0; index < keys.length; index++) this.tree.set(keys[index]!, chains[index]!);
      return;
    }
    for (const key of keys) this.tree.set(key, this.#chainOf(key));
  }

  /**
   * Every key in ascending order and, at the same index, its chain: two arrays the
   * caller must not change (MemoryIndex#orderedKeysAndChains). When no scan ever built
   * the tree (a write-only memtable), the waiting keys are the whole order, sorted with
   * their entries (keysAndEntries), and each key's chain is made where it had none.
   * They stay waiting, sorted (with their chains, so a second flush attempt or a later
   * scan sorts nothing). `mapAscending`: the Map's insertion order is key order.
   * REQUIRES: the caller reads them before the next apply.
   */
  keysAndChains(mapAscending: boolean): { keys: readonly string[]; chains: readonly VersionChain[] } {
    if (this.tree.size > 0) {
      this.ensureOrdered();
      const keys: string[] = [];
      const chains: VersionChain[] = [];
      this.tree.forEachPair((key, chain) => {
        keys.push(key);
        chains.push(chain);
      });
      return { keys, chains };
    }
    if (this.#waitingChains === undefined) {
      const { keys, entries } = this.keysAndEntries(mapAscending);
      const chains = new Array<VersionChain>(keys.length);
      for (let index = 0; index < keys.length; index++) {
        const entry = entries[index];
        chains[index] = entry instanceof VersionChain ? entry : this.#chainOf(keys[index]!);
      }
      this.#waitingChains = chains;
    }
    return { keys: this.#waiting, chains: this.#waitingChains };
  }

  /**
   * Every key in ascending order and, at the same index, its entry as it is held (a
   * chain, or one version's slot or slab: key-entries.ts), its version and span: what a
   * flush reads (MemoryIndex#orderedEntries), no chain made. A tree built by a scan
   * gives chains (keysAndChains). Else the waiting keys are the whole order: sorted as
   * a permutation carrying each key's entry along (waiting-order.ts), so nothing is
   * looked up in the Map and no tree is built; they stay waiting, sorted, with their
   * entries. The same REQUIRES.
   */
  keysAndEntries(mapAscending: boolean): OrderedEntries {
    if (this.tree.size > 0) {
      const { keys, chains } = this.keysAndChains(mapAscending);
      return { keys, entries: chains, versions: NO_VERSIONS, spans: NO_VERSIONS };
    }
    if (this.#waitingEntries === undefined) {
      const inPushOrder = this.#waitingInPushOrder;
      const ordered = waitingEntriesOrder(this.#waiting, inPushOrder ? this.#pushOrderEntries() : this.#lookedUpEntries(), inPushOrder && mapAscending, this.#waitingSorted);
      if (ordered.keys !== this.#waiting) this.#waitingInPushOrder = false;
      this.#waiting = ordered.keys as string[];
      this.#waitingEntries = ordered;
      this.#waitingSorted = true;
    }
    return this.#waitingEntries;
  }

  /**
   * The waiting keys' entries in push order (the Map's columns, then the tail's), when the
   * tree is empty: the Map and the tail hold exactly the waiting keys then, in the order
   * they were added (both are added together, never removed), so the columns are that
   * order with no lookup. The Map's columns themselves when the tail is empty.
   */
  #pushOrderEntries(): Omit<OrderedEntries, 'keys'> {
    const columns = this.#columns;
    assert(this.tree.size === 0 && columns.length === this.#map.size && columns.length + this.#tail.length === this.#waiting.length, 'the waiting keys are every key of the Map and the tail');
    return entriesWithTail(columns, this.#tail);
  }

  /**
   * The waiting keys' entries, index for index, found through the Map (the tail moved
   * into it first): for a waiting list no longer in push order (sorted for a flush, then
   * changed by an apply: not a sealed memtable's case).
   */
  #lookedUpEntries(): Omit<OrderedEntries, 'keys'> {
    if (this.#tail.length > 0) this.#tail.moveInto(this.#map, this.#columns, this.#waiting);
    const keys = this.#waiting;
    const columns = this.#columns;
    const entries = new Array<TailEntry>(keys.length);
    const versions = new Array<number>(keys.length);
    const spans = new Array<number>(keys.length);
    for (let index = 0; index < keys.length; index++) {
      const held = this.#map.get(keys[index]!)!;
      if (typeof held !== 'number') {
        entries[index] = held;
        versions[index] = held.firstVersion;
        spans[index] = 0;
        continue;
      }
      entries[index] = columns.entryAt(held);
      versions[index] = columns.versions[held]!;
      spans[index] = columns.spans[held]!;
    }
    return { entries, versions, spans };
  }

  /** The waiting keys, sorted in place (once: a sorted list is not sorted again). */
  #sortedWaiting(): string[] {
    if (!this.#waitingSorted) {
      this.#waiting.sort();
      this.#waitingSorted = true;
    }
    return this.#waiting;
  }

  /** Debug check: the waiting reserved keys are counted. */
  verify(): void {
    assert(this.#waiting.filter(isReservedKey).length === this.#waitingReservedKeys, 'the waiting reserved keys are counted');
  }
}
