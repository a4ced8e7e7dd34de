/**
 * The key order a flush reads a memtable in when no scan built its tree
 * (MemoryIndex#orderedKeysAndChains, src/memory/memory-index.ts): the index's waiting
 * keys, sorted, each with its chain at the same index. The keys are sorted as a
 * permutation that carries each key's chain along (sortedKeyOrder), so no chain is
 * looked up in the Map and no tree is built for the flush (inserting them cost about
 * as much as sorting).
 *
 * Invariants: the arrays handed in are never changed; the result's keys ascend
 * strictly and `chains[i]` is the chain of `keys[i]`; when the keys already ascend,
 * the result is the arrays handed in (nothing copied). Debug mode checks, through
 * `chainOf`, that the chains handed in are the keys' chains.
 */
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { ascendingPrefixLength, sortedKeyOrder } from './key-sort.js';
import type { TailEntry } from './ascending-tail.js';
import type { VersionChain } from './version-chain.js';

/**
 * A memtable's keys in ascending order and, at the same index, the key's chain or (a
 * key of the ascending tail with none made) its one slot, written at `versions[i]`
 * (MemoryIndex#orderedEntries).
 */
export interface OrderedEntries {
  keys: readonly string[];
  entries: readonly TailEntry[];
  versions: readonly number[];
  /** Where an entry is a slab: the span of its value's bytes (ascending-tail.ts slabSlot). */
  spans: readonly number[];
}

/** The versions of an OrderedEntries whose entries are all chains. */
export const NO_VERSIONS: readonly number[] = Object.freeze([]);

/** Waiting keys in key order with their chains beside them. */
export interface WaitingOrder {
  keys: string[];
  chains: readonly VersionChain[];
}

/**
 * The waiting keys `keys` (with `chains`, their chains in push order) in key order.
 * `mapAscending`: every key arrived above the ones before it. `sorted`: `keys` is known
 * to ascend already. `chainOf` finds a key's chain, moving nothing (debug checks only).
 */
export function waitingOrder(
  keys: string[],
  chains: readonly VersionChain[],
  mapAscending: boolean,
  sorted: boolean,
  chainOf: (key: string) => VersionChain | undefined,
): WaitingOrder {
  if (mapAscending) {
    // Every key arrived above the ones before (sequential keys): the Map's order is key
    // order, and the waiting list is that order (as pushed, or as a sort left it).
    if (debugEnabled()) {
      for (let index = 0; index < keys.length; index++) {
        assert(chainOf(keys[index]!) === chains[index] && (index === 0 || keys[index - 1]! < keys[index]!), 'an ascending Map is the waiting order');
      }
    }
    return { keys, chains };
  }
  if (sorted) {
    // Sorted in place by a scan's ensureOrdered that found the tree empty? It empties the list: only 0 or 1 keys here.
    assert(keys.length <= 1, 'a sorted waiting list of an empty tree has its chains');
    return { keys, chains };
  }
  if (debugEnabled()) for (let index = 0; index < keys.length; index++) assert(chainOf(keys[index]!) === chains[index], 'the Map and the tail are in push order');
  // Inserted in key order (sequential keys): already sorted, chains already beside them.
  if (ascendingPrefixLength(keys) === keys.length) return { keys, chains };
  const order = sortedKeyOrder(keys);
  const sortedKeys = new Array<string>(keys.length);
  const sortedChains = new Array<VersionChain>(keys.length);
  for (let index = 0; index < order.length; index++) {
    const from = order[index]!;
    sortedKeys[index] = keys[from]!;
    sortedChains[index] = chains[from]!;
  }
  return { keys: sortedKeys, chains: sortedChains };
}
