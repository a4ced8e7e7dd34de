/**
 * The block cache's compressed tier (src/run/compressed-block-ring.ts,
 * compressed-tier.ts): a cold block a point read takes from the file is held as its
 * checked compressed bytes, and a later miss in the decoded blocks inflates it
 * without reading the file.
 * - the ring alone: records read back exact, FIFO eviction of whole segments forgets
 *   exactly their blocks, `bytes` follows segments and entries, dropped keys are gone;
 * - in the cache: the tier stays within its share, its bytes are part of `bytes`,
 *   decoded blocks never evict it, a smaller bound evicts it down, dropRun forgets a
 *   run's blocks, and its charge matches the heap growth of holding many blocks;
 * - through a reader of a packed (format 4) run: a second pass over many blocks reads
 *   nothing from the file, answers exact (also after the file is damaged under the
 *   held blocks), and a block not held is still read and checked.
 */
import { Buffer } from 'node:buffer';
import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BLOCK_CACHE_COMPRESSED_SHARE, BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE, BlockCache } from '../src/run/block-cache.js';
import { COMPRESSED_ENTRY_BYTES, COMPRESSED_RECORD_HEADER_BYTES, COMPRESSED_SEGMENT_BYTES, CompressedBlockRing } from '../src/run/compressed-block-ring.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { CheckedBlock } from '../src/run/run-file.js';
import { RUN_BLOCK_HEADER_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { fakeBlock, freshFileSystem, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

function heapBytes(): number {
  for (let round = 0; round < 3; round++) collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** A checked block as the file read gives it: a run block header, then `payloadBytes` bytes derived from `seed`. */
function checkedBlock(payloadBytes: number, seed: number, entryCount = 7): CheckedBlock {
  const bytes = Buffer.alloc(RUN_BLOCK_HEADER_BYTES + payloadBytes, 0xee);
  for (let index = 0; index < payloadBytes; index++) bytes[RUN_BLOCK_HEADER_BYTES + index] = (seed * 31 + index * 7) & 0xff;
  return { bytes, payloadBytes, entryCount };
}

function payloadOf(block: CheckedBlock): Buffer {
  return Buffer.from(block.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + block.payloadBytes));
}

describe('CompressedBlockRing', () => {
  it('reads records back exact, evicts whole segments oldest first and forgets exactly their blocks', () => {
    const ring = new CompressedBlockRing();
    const perSegment = Math.floor(COMPRESSED_SEGMENT_BYTES / (COMPRESSED_RECORD_HEADER_BYTES + 1000));
    const count = perSegment * 3 + 5;
    for (let key = 1; key <= count; key++) {
      const block = checkedBlock(1000, key, key);
      ring.append(key * 1000, block.bytes, RUN_BLOCK_HEADER_BYTES, block.payloadBytes, key);
    }
    expect(ring.segments).toBe(4);
    expect(ring.bytes).toBe(4 * COMPRESSED_SEGMENT_BYTES + count * COMPRESSED_ENTRY_BYTES);
    for (const key of [1, perSegment, perSegment + 1, count]) {
      const held = ring.lookup(key * 1000)!;
      expect(held.entryCount).toBe(key);
      expect(payloadOf(held).equals(payloadOf(checkedBlock(1000, key)))).toBe(true);
    }
    expect(ring.lookup(5)).toBeUndefined();
    expect([ring.hits, ring.misses]).toEqual([4, 1]);
    // The oldest segment holds keys 1..perSegment: exactly those go.
    const freed = ring.evictOldest();
    expect(freed).toBe(COMPRESSED_SEGMENT_BYTES + perSegment * COMPRESSED_ENTRY_BYTES);
    expect(ring.blocks).toBe(count - perSegment);
    expect(ring.has(perSegment * 1000)).toBe(false);
    expect(ring.has((perSegment + 1) * 1000)).toBe(true);
    // Dropped keys are forgotten at once; their record bytes go with their segment.
    const dropped = ring.dropKeys((key) => key % 2000 === 0);
    expect(dropped).toBe(COMPRESSED_ENTRY_BYTES * [...Array(count).keys()].filter((index) => index + 1 > perSegment && (index + 1) % 2 === 0).length);
    while (ring.segments > 0) ring.evictOldest();
    expect(ring.blocks).toBe(0);
    expect(ring.bytes).toBe(0);
    // Appends after the ring emptied start a new segment and read back.
    ring.append(77, checkedBlock(10, 77).bytes, RUN_BLOCK_HEADER_BYTES, 10, 3);
    expect(payloadOf(ring.lookup(77)!).equals(payloadOf(checkedBlock(10, 77)))).toBe(true);
  });

  it('holds nothing under a string key or in a record larger than a segment', () => {
    expect(CompressedBlockRing.fits('5:7', 10)).toBe(false);
    expect(CompressedBlockRing.fits(5, COMPRESSED_SEGMENT_BYTES - COMPRESSED_RECORD_HEADER_BYTES)).toBe(true);
    expect(CompressedBlockRing.fits(5, COMPRESSED_SEGMENT_BYTES - COMPRESSED_RECORD_HEADER_BYTES + 1)).toBe(false);
  });
});

describe('BlockCache compressed tier', () => {
  it('stays within its share, counts in bytes, is never evicted by decoded blocks, and shrinks with the bound', () => {
    const maxBytes = 8 * COMPRESSED_SEGMENT_BYTES;
    const cache = new BlockCache(maxBytes);
    const share = Math.floor(maxBytes * BLOCK_CACHE_COMPRESSED_SHARE);
    expect(cache.compressed.maxBytes).toBe(share);
    for (let block = 0; block < 2000; block++) cache.compressed.hold(1, block * 4096, checkedBlock(600, block));
    expect(cache.compressed.bytes).toBeLessThanOrEqual(share);
    expect(cache.compressed.bytes).toBeGreaterThan(share - COMPRESSED_SEGMENT_BYTES - 200 * COMPRESSED_ENTRY_BYTES);
    expect(cache.bytes).toBe(cache.compressed.bytes);
    // The newest blocks are held, the oldest went with their segments.
    expect(cache.compressed.lookup(1, 1999 * 4096)).toBeDefined();
    expect(cache.compressed.lookup(1, 0)).toBeUndefined();
    // Decoded blocks fill only the rest of the room.
    const held = cache.compressed.bytes;
    for (let block = 0; block < 200; block++) cache.set(2, block * 4096, fakeBlock(100));
    expect(cache.compressed.bytes).toBe(held);
    expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
    expect(cache.dataBytes).toBeLessThanOrEqual(cache.dataRoomBytes);
    // A smaller bound evicts the tier down to its new share.
    cache.maxBytes = 4 * COMPRESSED_SEGMENT_BYTES;
    expect(cache.compressed.bytes).toBeLessThanOrEqual(cache.compressed.maxBytes);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    // dropRun forgets a run's compressed blocks.
    const before = cache.compressed.blocks;
    expect(before).toBeGreaterThan(0);
    cache.dropRun(1);
    expect(cache.compressed.blocks).toBe(0);
    expect(cache.compressed.lookup(1, 1999 * 4096)).toBeUndefined();
    expect(cache.bytes).toBe(cache.compressed.bytes + cache.dataBytes + cache.partitionBytes);
  });

  it('a tier holding less than its share leaves the rest to decoded blocks', () => {
    const maxBytes = 8 * COMPRESSED_SEGMENT_BYTES;
    const cache = new BlockCache(maxBytes);
    for (let block = 0; block < 20; block++) cache.compressed.hold(1, block * 4096, checkedBlock(600, block));
    expect(cache.compressed.bytes).toBe(COMPRESSED_SEGMENT_BYTES + 20 * COMPRESSED_ENTRY_BYTES);
    for (let block = 0; block < 400; block++) cache.set(2, block * 4096, fakeBlock(100));
    expect(cache.bytes).toBeGreaterThan(maxBytes - 2 * fakeBlock(100).sizeBytes - 1024);
    expect(cache.compressed.blocks).toBe(20);
  });

  it('takes no block while the open compressed runs are over twice its share, and gives its segments back when a dropped run leaves it none', () => {
    const maxBytes = 8 * COMPRESSED_SEGMENT_BYTES;
    const cache = new BlockCache(maxBytes);
    cache.compressed.registerRun(1, 2 * cache.compressed.maxBytes);
    cache.compressed.hold(1, 0, checkedBlock(600, 1));
    expect(cache.compressed.blocks).toBe(1);
    // A second large cold run (a 10M-key store's): the share covers too little of them.
    cache.compressed.registerRun(2, 10 * maxBytes);
    expect(cache.compressed.takesBlocks).toBe(false);
    cache.compressed.hold(2, 0, checkedBlock(600, 2));
    expect(cache.compressed.lookup(2, 0)).toBeUndefined();
    // Run 2 dropped: the tier takes blocks again.
    cache.dropRun(2);
    expect(cache.compressed.takesBlocks).toBe(true);
    cache.compressed.hold(2, 4096, checkedBlock(600, 3));
    expect(cache.compressed.lookup(2, 4096)).toBeDefined();
    // Every held block's run dropped: the segments go too, and the decoded blocks get the whole room back.
    cache.dropRun(1);
    cache.dropRun(2);
    expect(cache.compressed.bytes).toBe(0);
    expect(cache.bytes).toBe(0);
    expect(cache.dataRoomBytes).toBe(maxBytes);
  });

  it('keeps one copy per block', () => {
    const cache = new BlockCache(8 * COMPRESSED_SEGMENT_BYTES);
    cache.compressed.hold(1, 4096, checkedBlock(600, 1));
    const bytes = cache.bytes;
    cache.compressed.hold(1, 4096, checkedBlock(600, 2));
    expect(cache.bytes).toBe(bytes);
    expect(payloadOf(cache.compressed.lookup(1, 4096)!).equals(payloadOf(checkedBlock(600, 1)))).toBe(true);
  });

  it("its charge matches the heap growth of holding many compressed blocks (within 25%)", () => {
    const maxBytes = 64 * 1024 * 1024;
    const blocks = Array.from({ length: 400 }, (_, index) => checkedBlock(625, index));
    const cache = new BlockCache(maxBytes);
    const before = heapBytes();
    for (let block = 0; block < 40_000; block++) cache.compressed.hold(3, block * 640, blocks[block % blocks.length]!);
    const grown = heapBytes() - before;
    expect(cache.compressed.blocks).toBe(40_000);
    expect(cache.compressed.bytes / grown).toBeGreaterThan(0.75);
    expect(cache.compressed.bytes / grown).toBeLessThan(1.25);
  });
});

describe('the room rule for compressed blocks', () => {
  /** Blocks evicted by 2,000 misses of distinct blocks asked at `askedLength`, each decoding to a ~4 KiB block, admitted when the room rule says room. */
  function evictionsOfRoomAdmissions(askedLength: number): number {
    const cache = new BlockCache(8 * COMPRESSED_SEGMENT_BYTES);
    for (let block = 0; block < 2000; block++) cache.compressed.hold(9, block * 4096, checkedBlock(600, block)); // the tier at its share
    for (let block = 1; block <= 2000; block++) if (cache.hasRoomFor(askedLength)) cache.set(1, block * 4096, fakeBlock(100));
    expect(cache.dataBytes).toBeGreaterThan(cache.dataRoomBytes / 2);
    return cache.evictions;
  }

  it('a packed block asked at its length scaled toward its decoded size never reads as room once the decoded room is full', () => {
    // ~625 B on disk, ~4.2 KiB decoded (fakeBlock: 4 KiB of bytes and its arrays): asked at the raw length
    // every eviction left room for the next miss, which was admitted and evicted another block.
    expect(evictionsOfRoomAdmissions(625)).toBeGreaterThan(1000);
    expect(evictionsOfRoomAdmissions(625 * BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE)).toBe(0);
  });
});

function keyOf(index: number): string {
  return `key-${String(index).padStart(6, '0')}`;
}

describe('a packed run read through the compressed tier', () => {
  it('a second pass reads nothing from the file and answers exact, also after the file is damaged under the held blocks', async () => {
    const sorted: RunEntry[] = Array.from({ length: 6000 }, (_, index) => ({ key: keyOf(index), version: index + 1, value: Buffer.from(`${index}:${'v'.repeat(60 + (index % 70))}`) }));
    const fileSystem = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 3, hash, entries: sorted, compression: 'deflate' });
    // Room for the tier's share and a few decoded blocks: most blocks are read in scratch.
    const cache = new BlockCache(8 * COMPRESSED_SEGMENT_BYTES);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, cache);
    const step = 7;
    for (let index = 0; index < sorted.length; index += step) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    const held = cache.compressed.blocks;
    expect(held).toBeGreaterThan(50);
    expect(cache.compressed.misses).toBeGreaterThanOrEqual(held);
    const operations = fileSystem.operationCount;
    const hitsBefore = cache.compressed.hits;
    for (let index = 0; index < sorted.length; index += step) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    expect(fileSystem.operationCount).toBe(operations);
    expect(cache.compressed.hits - hitsBefore).toBeGreaterThan(50);
    // Damage every data page: the held blocks were checked when read and read exact without the file.
    const path = `${RUNS_DIRECTORY}/${descriptor.fileName}`;
    for (let offset = 100; offset < 40_000; offset += 512) fileSystem.flipBit(path, offset, 3);
    for (let index = 0; index < sorted.length; index += step) expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
    expect(fileSystem.operationCount).toBe(operations);
    // A block not held is read from the file and checked: with its page damaged, rebuilt from parity or an error, never wrong entries.
    cache.dropRun(1);
    for (let index = 3; index < sorted.length; index += 997) {
      try {
        expect((await reader.versions(keyOf(index))).map(plain)).toEqual(modelVersions(sorted, keyOf(index)));
      } catch (error) {
        expect((error as { code?: string }).code).toMatch(/CORRUPT/);
      }
    }
    expect(fileSystem.operationCount).toBeGreaterThan(operations);
    await reader.close();
  });
});
