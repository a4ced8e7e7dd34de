/**
 * Runs of 4 KiB values (issue 12, the flush thread's CPU per 4 KiB put) are written
 * byte for byte as before the writer kept its grown block buffers: an entry of a 4 KiB
 * value takes a two-page block, and the builder now keeps that buffer across blocks
 * (DATA_BLOCK_KEPT_BYTES_MAX) instead of allocating it, and then a one-page one,
 * again per entry. The golden digests are those of the writer before that change
 * (7946166), for value sizes mixed so that a kept buffer holds stale bytes of a larger
 * earlier entry past a smaller one's end (they must be zeros in the file), small
 * blocks follow grown ones, a value past the kept bound grows and shrinks the buffer,
 * and tombstones and repeated keys sit between them.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { DATA_BLOCK_KEPT_BYTES_MAX, DataBlockBuilder } from '../src/run/data-block.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { writeRun } from '../src/run/run-writer.js';

/** SHA-256 prefixes of the runs of seeds 1-3 as 7946166's writer wrote them. */
const GOLDEN_DIGESTS = ['cf8a652c040c7c9a', '51ae92f5e277b4a2', '97f095049732c836'];

/** Deterministic u32 generator (mulberry32). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return (value ^ (value >>> 14)) >>> 0;
  };
}

const VALUE_SIZES = [4096, 4096, 6000, 4096, 10, 300, 4096, 3000, 9000, 4080, 70_000, 4096, 1, 4096, 200_000, 4096, 12_000, 4096];

/** 600 entries in run order: values of VALUE_SIZES' sizes (random bytes), some keys with two versions, some tombstones. */
function entriesOf(seed: number): RunEntry[] {
  const random = generator(seed);
  const entries: RunEntry[] = [];
  for (let number = 0; number < 400; number++) {
    const key = `key/${number.toString().padStart(6, '0')}/${'x'.repeat(random() % 40)}`;
    const versions = random() % 4 === 0 ? 2 : 1;
    for (let version = versions; version >= 1; version--) {
      const size = VALUE_SIZES[(number * 7 + version + seed) % VALUE_SIZES.length]!;
      const value = random() % 9 === 0 ? undefined : Uint8Array.from({ length: size }, () => random() & 0xff);
      entries.push({ key, version: 1000 + number * 2 + version, value });
    }
  }
  return entries;
}

async function runDigest(seed: number): Promise<string> {
  const hash = await loadHash64();
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir('/runs');
  const descriptor = await writeRun({ fileSystem, runsDirectory: '/runs', runId: 1, generation: 0x5eed, level: 0, hash, entries: entriesOf(seed) });
  const bytes = await fileSystem.readFile(`/runs/${descriptor.fileName}`);
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

describe('runs of 4 KiB values', () => {
  it('are written byte for byte as before the builder kept its grown buffers', async () => {
    const digests = [await runDigest(1), await runDigest(2), await runDigest(3)];
    expect(digests).toEqual(GOLDEN_DIGESTS);
  });

  it('keep a grown block buffer across blocks, up to DATA_BLOCK_KEPT_BYTES_MAX', () => {
    const builder = new DataBlockBuilder();
    const value = new Uint8Array(4096).fill(7);
    expect(builder.tryAdd({ key: 'a', version: 2, value })).toBe(true);
    const first = builder.block();
    expect(first.length).toBe(2 * RUN_PAGE_BYTES);
    builder.reset();
    expect(builder.tryAdd({ key: 'b', version: 1, value: new Uint8Array(10) })).toBe(true);
    expect(builder.block().length).toBe(RUN_PAGE_BYTES);
    expect(builder.block().buffer).toBe(first.buffer);
    builder.reset();
    expect(builder.tryAdd({ key: 'c', version: 1, value })).toBe(true);
    const second = builder.block();
    expect(second.buffer).toBe(first.buffer);
    expect(second.subarray(RUN_PAGE_BYTES + 100).every((byte) => byte === 0)).toBe(true);
    // A block past the bound is not kept: the next block has a buffer of the usual size.
    builder.reset();
    expect(builder.tryAdd({ key: 'd', version: 1, value: new Uint8Array(DATA_BLOCK_KEPT_BYTES_MAX) })).toBe(true);
    const huge = builder.block();
    builder.reset();
    expect(builder.tryAdd({ key: 'e', version: 1, value })).toBe(true);
    expect(builder.block().buffer).not.toBe(huge.buffer);
  });
});
