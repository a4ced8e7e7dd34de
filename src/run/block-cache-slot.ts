/**
 * The block cache's slots and keys (block-cache.ts): what one held data block or
 * index/filter partition costs and carries, and the key a (runId, offset) pair is
 * held under, with the hash the doorkeeper (block-doorkeeper.ts) remembers it by.
 *
 * Invariants: two different blocks of one run never share a key (every block is
 * longer than a key unit); a key is a number where it stays a safe integer, else a
 * string, and the two kinds never collide in a Map.
 */
import { assert } from '../util/assert.js';
import type { DecodedBlock } from './data-block.js';
import type { RecencyNode } from './recency-list.js';
import { RUN_BLOCK_HEADER_BYTES } from './run-format.js';

/** The cache's own cost per held block: the Map entry, its key and the slot object. */
export const BLOCK_CACHE_BYTES_PER_ENTRY = 160;

export interface Slot {
  /** The slot's key in the Map (to delete it when evicted from the list's old end). */
  key: number | string;
  runId: number;
  /** A data block, or undefined for a partition slot. */
  block: DecodedBlock | undefined;
  /** A decoded index or filter partition (a partition slot; undefined once evicted). */
  partition: object | undefined;
  sizeBytes: number;
  /** False once evicted or dropped (or never inserted). */
  held: boolean;
  /** A partition touched since it last reached the old end: evicted only on its next turn. */
  referenced: boolean;
  /**
   * A data block's turns banked by its hits (BLOCK_CACHE_TURNS_PER_HIT each, at most
   * BLOCK_CACHE_HIT_CREDIT_MAX): while above zero a new block may not evict it; each
   * refused admission spends one and gives it another turn at the recent end
   * (BlockAdmission, block-admission.ts).
   */
  hitCredit: number;
  /**
   * In the data blocks' list: a data block, or a partition of a retired run
   * (retireRun), which no longer counts as a partition and goes first.
   */
  inDataList: boolean;
  /** Neighbours in its recency list (recency-list.ts). */
  older: RecencyNode | undefined;
  newer: RecencyNode | undefined;
}

/** A slot that is not in the list yet. */
export function newSlot(key: number | string, runId: number, block: DecodedBlock | undefined, partition: object | undefined, sizeBytes: number): Slot {
  return { key, runId, block, partition, sizeBytes, held: true, referenced: false, hitCredit: 0, inDataList: block !== undefined, older: undefined, newer: undefined };
}

/** A partition held by the cache, as its reader keeps it: check `held` before using `partition`. */
export interface PartitionSlot<T> {
  readonly held: boolean;
  readonly partition: T | undefined;
}

/** Run ids below this get a numeric cache key (runId * 2^32 + offset / 16 stays a safe integer). */
const NUMERIC_KEY_RUN_ID_LIMIT = 2 ** 21;
export const TWO_TO_32 = 2 ** 32;
/**
 * Offsets are keyed in units of this many bytes. Every block is longer than its
 * 16-byte header, so two blocks never start in the same unit, also where packed data
 * blocks (run format 4) start anywhere inside a page.
 */
const KEY_UNIT_BYTES = 16;
assert(KEY_UNIT_BYTES <= RUN_BLOCK_HEADER_BYTES, 'a block is longer than a key unit');

/**
 * The cache key of a block: a number (no string built and hashed per lookup) for
 * offsets below 2^32 units of runs numbered below 2^21, else a string.
 * The two kinds never collide (a Map tells numbers from strings).
 */
export function cacheKey(runId: number, offset: number): number | string {
  const unit = Math.floor(offset / KEY_UNIT_BYTES);
  if (runId < NUMERIC_KEY_RUN_ID_LIMIT && unit < TWO_TO_32) return runId * TWO_TO_32 + unit;
  return `${runId}:${offset}`;
}

/** The doorkeeper's hash of a cache key (block-doorkeeper.ts). */
export function doorkeeperHash(key: number | string): number {
  if (typeof key === 'number') return Math.imul(key % TWO_TO_32, 0x9e3779b1) ^ Math.imul(Math.floor(key / TWO_TO_32), 0x85ebca6b);
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  return hash;
}

/** A slot leaves the cache: a reader that kept it sees `held` false, and it lets go of its partition. */
export function releaseSlot(slot: Slot): void {
  slot.held = false;
  slot.partition = undefined;
}
