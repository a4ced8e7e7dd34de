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
import { TOMBSTONE, type VersionSlot } from './version-chain.js';

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
