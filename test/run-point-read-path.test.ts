/**
 * The point-read miss path of runs (issue 7, uniform gets): what a cold get costs
 * the cache and the decoder, and that the cheaper paths return the same data.
 *
 * - A cold get counts one cache miss per block it reads (it counted two: the
 *   synchronous attempt and the asynchronous read both asked the cache).
 * - Block cache keys: numeric for ordinary run ids and offsets, strings beyond;
 *   the two never collide and both behave as LRU slots.
 * - decodeDataBlock decodes a payload at any start (a decompressed payload is decoded
 *   in place, without a copy behind a header) and still refuses a damaged structure.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { BlockCache } from '../src/run/block-cache.js';
import { DataBlockBuilder, decodeDataBlock } from '../src/run/data-block.js';
import { RUN_BLOCK_HEADER_BYTES } from '../src/run/run-format.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { simpleEntries, writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('point reads from runs', () => {
  it('a cold get counts one miss per block read, a warm one a hit', async () => {
    const entries = simpleEntries(2000);
    const { reader, cache } = await writeAndOpen(hash, entries);
    expect(reader.blockCount).toBeGreaterThan(10);
    const versions = await reader.versionsSyncWhenCached('key-001234');
    expect(versions.map((entry) => entry.version)).toEqual([1234 * 1000 + 1]);
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(0);
    const again = reader.versionsSyncWhenCached('key-001234');
    expect(Array.isArray(again)).toBe(true);
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(1);
    // Every key reads back exactly (many misses and hits mixed).
    for (let key = 0; key < 2000; key += 37) {
      const found = await reader.versionsSyncWhenCached(`key-${String(key).padStart(6, '0')}`);
      expect(found.map((entry) => [entry.version, entry.value?.length])).toEqual([[key * 1000 + 1, 20]]);
    }
    await reader.close();
  });

  it('the block cache keeps numeric and string keys apart (large run ids and offsets)', () => {
    const builder = new DataBlockBuilder();
    builder.tryAdd({ key: 'k', version: 1, value: Buffer.from('v') });
    const block = decodeDataBlock('test', 0, Buffer.from(builder.block()), builder.payloadBytes, 1);
    const cache = new BlockCache(1024 * 1024);
    const largeRunId = 2 ** 21 + 5;
    const places: Array<[number, number]> = [[1, 0], [1, 4096], [2, 0], [largeRunId, 0], [largeRunId, 4096], [3, 2 ** 32 * 4096], [3, 12345]];
    for (const [runId, offset] of places) expect(cache.set(runId, offset, block)).toBe(block);
    expect(cache.blocks).toBe(places.length);
    for (const [runId, offset] of places) expect(cache.get(runId, offset)).toBe(block);
    expect(cache.get(largeRunId, 8192)).toBeUndefined();
    cache.dropRun(largeRunId);
    expect(cache.blocks).toBe(places.length - 2);
    expect(cache.get(largeRunId, 0)).toBeUndefined();
    expect(cache.get(1, 4096)).toBe(block);
  });

  it('decodes a payload in place at any start, and refuses a damaged one there too', () => {
    const builder = new DataBlockBuilder();
    const entries = simpleEntries(20, 2);
    for (const entry of entries) expect(builder.tryAdd(entry)).toBe(true);
    const block = Buffer.from(builder.block());
    const payloadBytes = builder.payloadBytes;
    const atHeader = decodeDataBlock('test', 0, block, payloadBytes, entries.length);
    const payload = Buffer.from(block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
    const inPlace = decodeDataBlock('test', 0, payload, payloadBytes, entries.length, 0);
    expect(inPlace.count).toBe(entries.length);
    for (let index = 0; index < entries.length; index++) {
      const expected = atHeader.entry(index);
      const actual = inPlace.entry(index);
      expect([actual.key, actual.version, actual.value && Buffer.from(actual.value).toString('hex')]).toEqual([expected.key, expected.version, expected.value && Buffer.from(expected.value).toString('hex')]);
    }
    expect(inPlace.lowerBound('key-000007')).toBe(atHeader.lowerBound('key-000007'));
    const damaged = Buffer.from(payload);
    damaged[2 + 10] = 9; // the first entry's kind byte (key 'key-000000' is 10 bytes)
    expect(() => decodeDataBlock('test', 0, damaged, payloadBytes, entries.length, 0)).toThrow(CorruptionError);
    expect(() => decodeDataBlock('test', 0, payload, payloadBytes - 1, entries.length, 0)).toThrow(CorruptionError);
  });
});
