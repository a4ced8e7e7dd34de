/**
 * The block cache's compressed tier stays within its share of the room the partitions
 * leave (src/run/compressed-tier.ts) after every call, not only after its next hold:
 * a partition admitted by a read (setPartition) shrinks that room, and the tier is
 * evicted down to its new share at once; one offered by a flush (insertPartitionIfRoom,
 * which never evicts) is not held when it would leave the tier over its share.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { BlockCache } from '../src/run/block-cache.js';
import { COMPRESSED_SEGMENT_BYTES } from '../src/run/compressed-block-ring.js';
import type { CheckedBlock } from '../src/run/run-file.js';
import { RUN_BLOCK_HEADER_BYTES } from '../src/run/run-format.js';
import { fakeBlock } from './run-helpers.js';

function checkedBlock(payloadBytes: number, seed: number): CheckedBlock {
  const bytes = Buffer.alloc(RUN_BLOCK_HEADER_BYTES + payloadBytes, seed & 0xff);
  return { bytes, payloadBytes, entryCount: 7 };
}

/** A cache of 8 segments whose tier is filled to its share (6 segments, less entries). */
function filledCache(): BlockCache {
  const cache = new BlockCache(8 * COMPRESSED_SEGMENT_BYTES);
  for (let block = 0; block < 2000; block++) cache.compressed.hold(1, block * 4096, checkedBlock(600, block));
  expect(cache.compressed.bytes).toBeGreaterThan(cache.compressed.maxBytes - COMPRESSED_SEGMENT_BYTES - 200 * 64);
  return cache;
}

describe('the compressed tier within its share', () => {
  it('is evicted down to its share when a read admits a partition that shrinks it', () => {
    const cache = filledCache();
    // A partition of a segment's size fits in the free room: nothing needs evicting for the total.
    cache.setPartition(2, 1 << 20, { index: true }, COMPRESSED_SEGMENT_BYTES);
    expect(cache.partitionBytes).toBeGreaterThan(COMPRESSED_SEGMENT_BYTES);
    expect(cache.compressed.bytes).toBeLessThanOrEqual(cache.compressed.maxBytes);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.compressed.blocks).toBeGreaterThan(0);
  });

  it('is not pushed over its share by a partition a flush offers: prepopulation never evicts, so the partition is not held', () => {
    const cache = filledCache();
    const blocks = cache.compressed.blocks;
    expect(cache.insertPartitionIfRoom(2, 1 << 20, { filter: true }, COMPRESSED_SEGMENT_BYTES)).toBe(false);
    expect(cache.compressed.blocks).toBe(blocks);
    expect(cache.compressed.bytes).toBeLessThanOrEqual(cache.compressed.maxBytes);
    // A small one that leaves the tier within its share is held.
    expect(cache.insertPartitionIfRoom(2, 2 << 20, { filter: true }, 1000)).toBe(true);
    expect(cache.compressed.bytes).toBeLessThanOrEqual(cache.compressed.maxBytes);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
  });

  it('stays within its share over seeded mixes of holds, partitions, decoded blocks and resizes', () => {
    let seed = 1202;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const cache = new BlockCache(16 * COMPRESSED_SEGMENT_BYTES);
    let partitionOffset = 1 << 24;
    for (let step = 0; step < 4000; step++) {
      const roll = next();
      if (roll < 0.1) cache.set(6, Math.floor(next() * 5000) * 4096, fakeBlock(100));
      else if (roll < 0.6) cache.compressed.hold(1 + Math.floor(next() * 3), Math.floor(next() * 5000) * 4096, checkedBlock(200 + Math.floor(next() * 3000), step));
      else if (roll < 0.75) cache.setPartition(4, (partitionOffset += 4096), { step }, Math.floor(next() * 20_000));
      else if (roll < 0.85) cache.insertPartitionIfRoom(5, (partitionOffset += 4096), { step }, Math.floor(next() * 20_000));
      else if (roll < 0.97) cache.maxBytes = Math.floor((4 + next() * 20) * COMPRESSED_SEGMENT_BYTES);
      else cache.dropRun(4 + Math.floor(next() * 2));
      expect(cache.compressed.bytes, `step ${step}`).toBeLessThanOrEqual(Math.max(0, cache.compressed.maxBytes));
      expect(cache.bytes, `step ${step}`).toBeLessThanOrEqual(cache.maxBytes);
    }
  });
});
