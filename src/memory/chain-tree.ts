/**
 * The ordered side of the memory index (src/memory/memory-index.ts): a B+ tree
 * (sorted-btree) from key to VersionChain, and the walks of a key range over it that
 * scans read in chunks. The index keeps every key it has moved out of its waiting list
 * here; these functions only read the tree.
 *
 * Invariants: the tree is in byte order of the internal key strings (compareKeys);
 * a walk yields keys strictly inside `range`, strictly after `cursor` (before it, in
 * reverse) when given, at most `maxCount` of them, and changes nothing. Synchronous,
 * so one chunk is a consistent cut.
 */
import { createRequire } from 'node:module';
import type sortedBtree from 'sorted-btree';
import type { StoredValue } from '../codec/values.js';
import type { KeyRange } from './key-range.js';
import { TOMBSTONE, type VersionChain } from './version-chain.js';

// sorted-btree is CommonJS with its class on `default`; require() reads it the same
// way under Node and under the test runner's module transform.
const BTree = (createRequire(import.meta.url)('sorted-btree') as typeof sortedBtree).default;

/** The memory index's B+ tree of chains. */
export type ChainTree = sortedBtree.default<string, VersionChain>;


function compareKeys(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/** An empty tree in key order. */
export function newChainTree(): ChainTree {
  return new BTree<string, VersionChain>(undefined, compareKeys);
}

/**
 * Up to `maxCount` live entries of `tree` as of `version`, in key order (or reverse),
 * within `range`, strictly after `cursor` (or before it, in reverse) when given.
 */
export function liveEntriesInRange(
  tree: ChainTree,
  range: KeyRange,
  cursor: string | undefined,
  version: number,
  reverse: boolean,
  maxCount: number,
): Array<[string, StoredValue]> {
  return reverse ? liveEntriesBackward(tree, range, cursor, version, maxCount) : liveEntriesForward(tree, range, cursor, version, maxCount);
}

function liveEntriesForward(tree: ChainTree, range: KeyRange, cursor: string | undefined, version: number, maxCount: number) {
  const result: Array<[string, StoredValue]> = [];
  const start = cursor ?? range.gte ?? range.gt;
  for (const [key, chain] of tree.entries(start)) {
    if (cursor !== undefined ? key <= cursor : range.gt !== undefined && key <= range.gt) continue;
    if ((range.lt !== undefined && key >= range.lt) || (range.lte !== undefined && key > range.lte)) break;
    const slot = chain.slotAsOf(version);
    if (slot !== undefined && slot !== TOMBSTONE) result.push([key, slot]);
    if (result.length >= maxCount) break;
  }
  return result;
}

function liveEntriesBackward(tree: ChainTree, range: KeyRange, cursor: string | undefined, version: number, maxCount: number) {
  const result: Array<[string, StoredValue]> = [];
  const start = cursor ?? range.lte ?? range.lt;
  for (const [key, chain] of tree.entriesReversed(start)) {
    if (cursor !== undefined ? key >= cursor : range.lt !== undefined && key >= range.lt) continue;
    if ((range.gt !== undefined && key <= range.gt) || (range.gte !== undefined && key < range.gte)) break;
    const slot = chain.slotAsOf(version);
    if (slot !== undefined && slot !== TOMBSTONE) result.push([key, slot]);
    if (result.length >= maxCount) break;
  }
  return result;
}

/**
 * Up to `maxCount` keys of `tree` with their chains (live or not: the caller resolves
 * versions across memtables and runs), in key order (or reverse), within `range`,
 * strictly after `cursor` (before it, in reverse) when given.
 */
export function chainsInRange(
  tree: ChainTree,
  range: KeyRange,
  cursor: string | undefined,
  reverse: boolean,
  maxCount: number,
): Array<[string, VersionChain]> {
  const result: Array<[string, VersionChain]> = [];
  if (!reverse) {
    const start = cursor ?? range.gte ?? range.gt;
    for (const [key, chain] of tree.entries(start)) {
      if (cursor !== undefined ? key <= cursor : range.gt !== undefined && key <= range.gt) continue;
      if ((range.lt !== undefined && key >= range.lt) || (range.lte !== undefined && key > range.lte)) break;
      result.push([key, chain]);
      if (result.length >= maxCount) break;
    }
    return result;
  }
  const start = cursor ?? range.lte ?? range.lt;
  for (const [key, chain] of tree.entriesReversed(start)) {
    if (cursor !== undefined ? key >= cursor : range.lt !== undefined && key >= range.lt) continue;
    if ((range.gt !== undefined && key <= range.gt) || (range.gte !== undefined && key < range.gte)) break;
    result.push([key, chain]);
    if (result.length >= maxCount) break;
  }
  return result;
}
