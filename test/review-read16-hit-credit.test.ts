/**
 * Review of d03016e and fed568b (the block cache's hit credit, GCLOCK over the LRU
 * order). The claims checked exactly: a hit banks BLOCK_CACHE_TURNS_PER_HIT turns up
 * to BLOCK_CACHE_HIT_CREDIT_MAX; each refused admission spends one turn of the block
 * it would have evicted and sends that block to the recent end; so once every cached
 * block went cold, a block the doorkeeper approves gets in after at most
 * BLOCK_CACHE_HIT_CREDIT_MAX refusals per cached block, and never sooner while credit
 * is left. A shrink (the memtable charge's resizes) evicts whatever its credit, and the
 * cache stays within its bound throughout.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BLOCK_CACHE_HIT_CREDIT_MAX, BLOCK_CACHE_TURNS_PER_HIT, BlockCache } from '../src/run/block-cache.js';
import { fakeBlock } from './run-helpers.js';

const BLOCK_LENGTH_BYTES = 4096;
const RUN = 7;
const BLOCKS = 50;
const SLOT_BYTES = fakeBlock(10).sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;

function fullCache(): BlockCache {
  const cache = new BlockCache(BLOCKS * SLOT_BYTES);
  for (let block = 0; block < BLOCKS; block++) cache.set(RUN, block * BLOCK_LENGTH_BYTES, fakeBlock(10));
  expect(cache.blocks).toBe(BLOCKS);
  return cache;
}

/** Admission attempts of one new block (one per miss) until admitted; the count of refusals. */
function refusalsUntilAdmitted(cache: BlockCache, offset: number, limit: number): number {
  let refusals = 0;
  while (!cache.admits(RUN + 1, offset, BLOCK_LENGTH_BYTES)) {
    refusals++;
    if (refusals > limit) break;
  }
  return refusals;
}

describe('review read16: block cache hit credit', () => {
  it('a cold cache of fully credited blocks admits after exactly the banked turns (plus the doorkeeper\'s first sighting)', () => {
    const cache = fullCache();
    const hitsToFill = Math.ceil(BLOCK_CACHE_HIT_CREDIT_MAX / BLOCK_CACHE_TURNS_PER_HIT);
    // Three times the hits needed: the credit is capped, not banked beyond the maximum.
    for (let pass = 0; pass < 3 * hitsToFill; pass++) for (let block = 0; block < BLOCKS; block++) expect(cache.get(RUN, block * BLOCK_LENGTH_BYTES)).toBeDefined();
    const refusals = refusalsUntilAdmitted(cache, 0, 10 * BLOCKS * BLOCK_CACHE_HIT_CREDIT_MAX);
    expect(refusals).toBe(1 + BLOCKS * BLOCK_CACHE_HIT_CREDIT_MAX);
    expect(cache.secondChances).toBe(BLOCKS * BLOCK_CACHE_HIT_CREDIT_MAX);
    expect(cache.evictions).toBe(0); // refusals evict nothing
    cache.set(RUN + 1, 0, fakeBlock(10));
    expect(cache.evictions).toBe(1);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
  });

  it('one hit on one block buys it BLOCK_CACHE_TURNS_PER_HIT turns; uncredited blocks give way at once', () => {
    const cache = fullCache();
    // Block 0 is the oldest; one hit sends it to the recent end with its credit.
    cache.get(RUN, 0);
    // Blocks 1..BLOCKS-1 have no credit: the doorkeeper's first sighting, then admitted.
    expect(refusalsUntilAdmitted(cache, 0, 10)).toBe(1);
    expect(cache.secondChances).toBe(0);
  });

  it('a shrink evicts credited blocks too, and the cache keeps its bound; later admissions still end', () => {
    const cache = fullCache();
    for (let pass = 0; pass < 4; pass++) for (let block = 0; block < BLOCKS; block++) cache.get(RUN, block * BLOCK_LENGTH_BYTES);
    cache.maxBytes = Math.floor(BLOCKS / 2) * SLOT_BYTES;
    expect(cache.blocks).toBe(Math.floor(BLOCKS / 2));
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    const remaining = cache.blocks;
    const refusals = refusalsUntilAdmitted(cache, 0, 10 * BLOCKS * BLOCK_CACHE_HIT_CREDIT_MAX);
    expect(refusals).toBe(1 + remaining * BLOCK_CACHE_HIT_CREDIT_MAX);
    // Grown again: room admits at once, without the doorkeeper or any credit spent.
    cache.maxBytes = 2 * BLOCKS * SLOT_BYTES;
    const chancesBefore = cache.secondChances;
    expect(cache.admits(RUN + 2, 0, BLOCK_LENGTH_BYTES)).toBe(true);
    expect(cache.secondChances).toBe(chancesBefore);
  });
});
