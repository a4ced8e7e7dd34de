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
 *   tail's) until it is sorted; once sorted for a flush, `waitingChains` holds each
 *   waiting key's chain at the key's index (undefined again at the next new key).
 *
 * Synchronous only, as the index is.
 */
import { assert } from '../util/assert.js';
import { isReservedKey, rangeInsideReservedPrefix } from '../lease/reserved-prefix.js';
import type { AscendingTail } from './ascending-tail.js';
import { type ChainTree, newChainTree } from './chain-tree.js';
import type { KeyRange } from './key-range.js';
import type { VersionChain } from './version-chain.js';
import { waitingOrder } from './waiting-order.js';

export class KeyOrder {
  /** The keys that left the waiting list, with their chains, in key order. */
  readonly tree: ChainTree = newChainTree();
  /** The index's Map and ascending tail (the same objects for the index's life). */
  readonly #map: Map<string, VersionChain>;
  readonly #tail: AscendingTail;
  /** New keys not yet in the tree (see the module header). */
  #waiting: string[] = [];
  /** True while `waiting` is known to be in ascending order (set by a sort, cleared by an add). */
  #waitingSorted = true;
  /**
   * The waiting keys' chains, index for index, once sortWithChains sorted them for a
   * flush (undefined otherwise: a live memtable does not pay for it).
   */
  #waitingChains: readonly VersionChain[] | undefined;
  /** How many waiting keys lie under the reserved prefix (see the module header). */
  #waitingReservedKeys = 0;

  constructor(map: Map<string, VersionChain>, tail: AscendingTail) {
    this.#map = map;
    this.#tail = tail;
  }

  /** The keys waiting for the tree; the tail's are the last of them. The caller must not change it. */
  get waiting(): readonly string[] {
    return this.#waiting;
  }

  /** The waiting keys' chains once sorted for a flush (see #waitingChains). */
  get waitingChains(): readonly VersionChain[] | undefined {
    return this.#waitingChains;
  }

  /** A key new to the index (in its Map or its tail now) waits for the tree. */
  add(key: string): void {
    this.#waiting.push(key);
    if (isReservedKey(key)) this.#waitingReservedKeys++;
    this.#waitingSorted = false;
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

  /** Moves every waiting key into the tree: sorted, then inserted in ascending order. */
  ensureOrdered(): void {
    if (this.#waiting.length === 0) return;
    // Every key of the tree is in the Map (the tail's keys too, from here on).
    if (this.#tail.length > 0) this.#tail.moveInto(this.#map, this.#waiting);
    const chains = this.#waitingChains;
    const keys = this.#sortedWaiting();
    this.#waiting = [];
    this.#waitingChains = undefined;
    this.#waitingReservedKeys = 0;
    if (chains !== undefined) {
      for (let index = 0; index < keys.length; index++) this.tree.set(keys[index]!, chains[index]!);
      return;
    }
    for (const key of keys) this.tree.set(key, this.#map.get(key)!);
  }

  /**
   * Every key in ascending order and, at the same index, its chain: two arrays the
   * caller must not change (MemoryIndex#orderedKeysAndChains). When no scan ever built
   * the tree (a write-only memtable), the waiting keys are the whole order: they are
   * sorted with each key's chain carried along (waiting-order.ts), so no chain is looked
   * up in the Map, and no tree is built for the flush. They stay waiting, sorted (with
   * their chains, so a second flush attempt or a later scan sorts nothing).
   * `mapAscending`: the Map's insertion order is key order. REQUIRES: the caller reads
   * them before the next apply.
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
    this.#sortWithChains(mapAscending);
    return { keys: this.#waiting, chains: this.#waitingChains! };
  }

  /**
   * Sorts the waiting keys of a memtable whose tree is empty and keeps their chains
   * beside them (#waitingChains). The Map and the tail hold exactly the waiting keys
   * then, in the order they were added (both are added together, never removed), so
   * one pass over the Map's values and the tail gives each key's chain without a
   * lookup; a memtable of ascending keys alone has an empty Map and hands its tail over.
   */
  #sortWithChains(mapAscending: boolean): void {
    if (this.#waitingChains !== undefined) return;
    const tail = this.#tail.chainsInOrder();
    assert(this.tree.size === 0 && this.#map.size + tail.length === this.#waiting.length, 'the waiting keys are every key of the Map and the tail');
    const chains = this.#map.size === 0 ? tail : tail.length === 0 ? Array.from(this.#map.values()) : [...this.#map.values(), ...tail];
    const order = waitingOrder(this.#waiting, chains, mapAscending, this.#waitingSorted, this.#chainInPlace);
    this.#waiting = order.keys;
    this.#waitingChains = order.chains;
    this.#waitingSorted = true;
  }

  /** The chain of `key`, moving nothing (the debug checks; a tail key's chain is made if it had none). */
  readonly #chainInPlace = (key: string): VersionChain | undefined => {
    const keys = this.#waiting;
    const inTail = this.#tail.length > 0 && key >= keys[keys.length - this.#tail.length]!;
    return inTail ? this.#tail.find(keys, key) : this.#map.get(key);
  };

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
