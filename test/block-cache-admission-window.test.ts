/**
 * src/run/block-cache.ts admission once full: a block is admitted only when it
 * misses again within the doorkeeper's window (about as many first sightings as
 * the cache holds entries, at least BLOCK_CACHE_DOORKEEPER_WINDOW_MIN). Uniform
 * reads over many more blocks than the cache holds must not admit a block on each
 * second sighting long after the first (the old doorkeeper kept sightings for 2^18
 * misses, so on a 1M-key store every miss was admitted and evicted another block
 * unused), while a block read again soon is still admitted, also across the end of
 * a window.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BLOCK_CACHE_DOORKEEPER_BITS, BLOCK_CACHE_DOORKEEPER_WINDOW_MIN, BlockCache } from '../src/run/block-cache.js';
import { fakeBlock } from './run-helpers.js';

/** A decoded one-entry block (the cache only looks at sizeBytes). */
/** A full cache of `blocks` blocks of run 1 (offsets below 2^30), so admission goes through the doorkeeper. */
function fullCache(blocks: number): BlockCache {
  const slotBytes = fakeBlock(10).sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
  const cache = new BlockCache(blocks * slotBytes);
  for (let index = 0; index < blocks; index++) cache.set(1, index * 4096, fakeBlock(10));
  expect(cache.blocks).toBe(blocks);
  expect(cache.admits(1, 0, 4096)).toBe(false); // full: a first sighting is refused
  return cache;
}

const OTHER_RUN = 2;

describe('BlockCache admission window', () => {
  it('the window is the entries held, within its bounds', () => {
    expect(fullCache(10).doorkeeperWindow).toBe(BLOCK_CACHE_DOORKEEPER_WINDOW_MIN);
    expect(fullCache(BLOCK_CACHE_DOORKEEPER_WINDOW_MIN + 100).doorkeeperWindow).toBe(BLOCK_CACHE_DOORKEEPER_WINDOW_MIN + 100);
    expect(BLOCK_CACHE_DOORKEEPER_WINDOW_MIN).toBeLessThan(BLOCK_CACHE_DOORKEEPER_BITS / 4);
  });

  it('a block missed again right after its first miss is admitted', () => {
    const cache = fullCache(4);
    expect(cache.admits(OTHER_RUN, 0, 4096)).toBe(false);
    expect(cache.admits(OTHER_RUN, 0, 4096)).toBe(true);
  });

  it('uniform misses over many more blocks than the window admit almost none on their later misses', () => {
    const cache = fullCache(4);
    // Every block is seen once per cycle; a cycle is 8 windows long (a window of
    // BLOCK_CACHE_DOORKEEPER_WINDOW_MIN for a cache of 4 blocks), so a block's
    // previous miss always lies more than one window back.
    const distinct = 8 * BLOCK_CACHE_DOORKEEPER_WINDOW_MIN;
    let admitted = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      for (let block = 0; block < distinct; block++) if (cache.admits(OTHER_RUN, block * 4096, 4096)) admitted++;
    }
    // The old doorkeeper (cleared after 2^18 sightings) admitted every miss after the first cycle: 2 * distinct.
    // Hash collisions in the 2^20-bit map may let a few through.
    expect(admitted).toBeLessThan(distinct / 50);
  });

  it('a block missed again within the window is admitted, also when a window ended in between', () => {
    const cache = fullCache(4);
    const window = cache.doorkeeperWindow;
    for (const gap of [1, window >>> 1, window - 2]) {
      const target = 1_000_000 + gap; // a block of its own for each gap
      expect(cache.admits(OTHER_RUN, target * 4096, 4096), `gap ${gap}`).toBe(false);
      // `gap` other first sightings in between (some gaps cross the end of a window).
      for (let other = 0; other < gap; other++) cache.admits(OTHER_RUN, (2_000_000 + gap * 10_000 + other) * 4096, 4096);
      expect(cache.admits(OTHER_RUN, target * 4096, 4096), `gap ${gap}`).toBe(true);
    }
  });
});
