/**
 * src/run/block-cache.ts: bounded in bytes, least recently used evicted first, no
 * duplicate copies when two readers miss the same block at once, dropRun, and a
 * change of maxBytes evicting at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, BlockCache } from '../src/run/block-cache.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { fakeBlock, simpleEntries, writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('BlockCache', () => {
  it('stays within maxBytes, evicting the least recently used block', () => {
    const block = fakeBlock(10);
    const slotBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const cache = new BlockCache(3 * slotBytes);
    for (const offset of [0, 4096, 8192]) cache.set(1, offset, fakeBlock(10));
    expect(cache.blocks).toBe(3);
    expect(cache.get(1, 0)).toBeDefined(); // 0 is now the most recent: 4096 goes next
    cache.set(1, 12288, fakeBlock(10));
    expect(cache.get(1, 4096)).toBeUndefined();
    expect(cache.get(1, 0)).toBeDefined();
    expect(cache.stats()).toMatchObject({ blocks: 3, bytes: 3 * slotBytes, hits: 2, misses: 1, evictions: 1 });
    cache.maxBytes = slotBytes;
    expect(cache.stats()).toMatchObject({ blocks: 1, bytes: slotBytes, evictions: 3 });
    expect(cache.get(1, 0)).toBeDefined();
    const huge = fakeBlock(10);
    cache.maxBytes = 10;
    expect(cache.set(1, 0, huge)).toBe(huge);
    expect(cache.blocks).toBe(0);
    expect(() => new BlockCache(-1)).toThrow(RangeError);
  });

  it('keeps the first copy of a block offered twice and hands it back', () => {
    const cache = new BlockCache(1024 * 1024);
    const first = fakeBlock(10);
    const second = fakeBlock(10);
    expect(cache.set(3, 0, first)).toBe(first);
    expect(cache.set(3, 0, second)).toBe(first);
    expect(cache.blocks).toBe(1);
    expect(cache.bytes).toBe(first.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY);
  });

  it('two concurrent misses of the same block leave one copy in the cache', async () => {
    const { reader, cache } = await writeAndOpen(hash, simpleEntries(500, 1, 50));
    const reads = await Promise.all([reader.readBlock(3), reader.readBlock(3), reader.versions('key-000000'), reader.versions('key-000000')]);
    expect(reads[0]).toBe(reads[1]);
    // Two data blocks, and (run format 3) the key's filter and index partitions, one copy each.
    expect(cache.blocks).toBe(4);
    expect(reads[2]).toEqual(reads[3]);
  });

  it('dropRun removes exactly that run', async () => {
    const cache = new BlockCache(1024 * 1024);
    for (const runId of [1, 2, 3]) for (const offset of [0, 4096]) cache.set(runId, offset, fakeBlock(5));
    cache.dropRun(2);
    expect(cache.blocks).toBe(4);
    expect(cache.get(2, 0)).toBeUndefined();
    expect(cache.get(1, 4096)).toBeDefined();
    expect(cache.bytes).toBe(4 * (fakeBlock(5).sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY));
  });

  it('lookups through a reader hit the cache the second time', async () => {
    const { reader, cache } = await writeAndOpen(hash, simpleEntries(500, 1, 50));
    await reader.versions('key-000250');
    const misses = cache.misses;
    await reader.versions('key-000250');
    expect(cache.misses).toBe(misses);
    expect(cache.hits).toBeGreaterThan(0);
  });
});
