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

/**
 * The waiting keys `keys` (with their entries, versions and spans in push order: the
 * Map's columns, then the tail's) in key order, as waitingOrder orders chains: the
 * arrays handed in when they already ascend, else permuted copies. `mapAscending` and
 * `sorted` as there.
 */
export function waitingEntriesOrder(keys: string[], { entries, versions, spans }: Omit<OrderedEntries, 'keys'>, mapAscending: boolean, sorted: boolean): OrderedEntries {
  assert(entries.length === keys.length && versions.length === keys.length && spans.length === keys.length, 'an entry, version and span per waiting key');
  if (mapAscending || sorted || ascendingPrefixLength(keys) === keys.length) {
    // Every key arrived above the ones before (sequential keys), or a sort of an empty
    // tree's list left at most one key (ensureOrdered empties it): already in key order.
    if (debugEnabled()) for (let index = 1; index < keys.length; index++) assert(keys[index - 1]! < keys[index]!, 'an ascending Map is the waiting order');
    return { keys, entries, versions, spans };
  }
  const order = sortedKeyOrder(keys);
  const count = order.length;
  const sortedKeys = new Array<string>(count);
  const sortedEntries = new Array<TailEntry>(count);
  const sortedVersions = new Array<number>(count);
  const sortedSpans = new Array<number>(count);
  for (let index = 0; index < count; index++) {
    const from = order[index]!;
    sortedKeys[index] = keys[from]!;
    sortedEntries[index] = entries[from]!;
    sortedVersions[index] = versions[from]!;
    sortedSpans[index] = spans[from]!;
  }
  return { keys: sortedKeys, entries: sortedEntries, versions: sortedVersions, spans: sortedSpans };
}
