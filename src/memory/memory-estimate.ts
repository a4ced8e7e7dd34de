/**
 * The memory index's estimate of the heap bytes it holds (MemoryIndex#memoryBytes):
 * per key MEMORY_BYTES_PER_KEY and its key string, per chain its older-version
 * arrays, per version its value (figures and how they were measured in limits.ts).
 * test/memory-budget.test.ts holds the estimate to measured heap growth.
 *
 * Invariants: every function here is pure and never negative; the index adds what
 * an apply adds and subtracts what a trim drops with these same functions, so its
 * running total stays non-negative (asserted there).
 */
import { oneByteStringSizeBytes, storedSizeBytes } from '../codec/value-memory-size.js';
import {
  MEMORY_BYTES_OLDER_ARRAYS_GROWN,
  MEMORY_BYTES_OLDER_ARRAYS_INITIAL,
  MEMORY_BYTES_PER_KEY,
  MEMORY_BYTES_PER_VERSION,
} from '../limits.js';
import { MEMORY_BYTES_SLAB_VALUE } from '../codec/value-memory-size.js';
import type { TailEntry } from './ascending-tail.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from './version-chain.js';

/** A VersionChain of one version (three fields), counted in MEMORY_BYTES_PER_KEY. */
export const MEMORY_BYTES_VERSION_CHAIN = 48;
/**
 * A Map key's three column slots (key-entries.ts: entry, version, span, 8 B each), the
 * arrays' growth slack in the rounding. Measured with 200,000 random-order keys
 * (test/memtable-compact-memory.test.ts): a key with a small integer value grew the heap
 * 110 B against 136 with its chain (48 B) before, 167 once a read made its chain.
 */
export const MEMORY_BYTES_KEY_COLUMNS = 24;

/** Estimated bytes of a new key: its Map/tree entries and chain, and its key string. */
export function keySizeBytes(key: string): number {
  return MEMORY_BYTES_PER_KEY + oneByteStringSizeBytes(key.length);
}

/**
 * Estimated bytes of a chain's two older-version arrays at `length` versions: none
 * for one version, [x] literals for two, grown to 17 slots at three, then a slot each
 * (an estimate after trimming: V8 may keep the larger backing store).
 */
export function olderArraysSizeBytes(length: number): number {
  if (length <= 1) return 0;
  if (length === 2) return MEMORY_BYTES_OLDER_ARRAYS_INITIAL;
  return MEMORY_BYTES_OLDER_ARRAYS_GROWN + (length - 3) * MEMORY_BYTES_PER_VERSION;
}

/** Estimated bytes of one version's value (a delete's TOMBSTONE holds none). */
export function slotSizeBytes(slot: VersionSlot): number {
  return slot === TOMBSTONE ? 0 : storedSizeBytes(slot);
}

/**
 * The bytes a key's entry gains when its chain is made (key-entries.ts): the chain, and
 * for a slab entry its EncodedValue, made again; 0 for an entry that is a chain. The
 * estimate counts a key and its value as if its chain were made (keySizeBytes,
 * slotSizeBytes), and a Map key its column slots too (MEMORY_BYTES_KEY_COLUMNS), and takes
 * this off while there is none.
 */
export function chainMadeSizeBytes(entry: TailEntry): number {
  if (entry instanceof VersionChain) return 0;
  return entry instanceof Uint8Array ? MEMORY_BYTES_VERSION_CHAIN + MEMORY_BYTES_SLAB_VALUE : MEMORY_BYTES_VERSION_CHAIN;
}
