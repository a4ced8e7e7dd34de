/**
 * The block cache's doorkeeper (block-cache.ts `admits`): two bitmaps of block hashes,
 * the current window's and the previous one's. A block missed again while its bit is
 * set in either would have been hit had it been cached, so a full cache admits it;
 * one first seen is only remembered. A window ends after `window` first sightings
 * (the caller's: about as many as the cache holds entries); the previous window is
 * then forgotten, so a block last seen before it is a first sighting again.
 *
 * Invariant: `seenCount` first sightings were recorded in the current bitmap since it
 * was last cleared.
 */

/**
 * One bit per block hash (128 KiB per window). A window ends after as many first
 * sightings as the cache holds entries, at least BLOCK_CACHE_DOORKEEPER_WINDOW_MIN and
 * at most a quarter of the bits (false positives stay rare).
 */
export const BLOCK_CACHE_DOORKEEPER_BITS = 2 ** 20;
/** Fewest first sightings per doorkeeper window (a cache of a few blocks still admits a block read twice in a row). */
export const BLOCK_CACHE_DOORKEEPER_WINDOW_MIN = 256;

export class BlockDoorkeeper {
  #seen = new Uint8Array(BLOCK_CACHE_DOORKEEPER_BITS / 8);
  #seenBefore = new Uint8Array(BLOCK_CACHE_DOORKEEPER_BITS / 8);
  #seenCount = 0;

  /**
   * True when `hash` (a u32) was sighted in this window or the previous one; else
   * records this first sighting and returns false, ending the window after `window` of them.
   */
  sightedBefore(hash: number, window: number): boolean {
    const bit = (hash >>> 0) % BLOCK_CACHE_DOORKEEPER_BITS;
    const mask = 1 << (bit & 7);
    const byte = bit >>> 3;
    if ((this.#seen[byte]! & mask) !== 0 || (this.#seenBefore[byte]! & mask) !== 0) return true;
    this.#seen[byte]! |= mask;
    if (++this.#seenCount > window) {
      // The window ends: this one becomes the previous one, the oldest is forgotten.
      const oldest = this.#seenBefore;
      this.#seenBefore = this.#seen;
      oldest.fill(0);
      this.#seen = oldest;
      this.#seenCount = 0;
    }
    return false;
  }
}
