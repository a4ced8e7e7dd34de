/**
 * The run writer builds every block of a run in one buffer, grown for the largest value
 * it met: a run of large values (a merge or a flush of 1-16 MiB values) allocates one
 * block buffer, not a fresh one per value. Each fresh one was garbage until the thread's
 * next collection, which comes only after tens of MiB of such garbage (a merge thread of
 * three runs of eight 16 MiB values: +272 -> +224 MiB RSS, in process +231 -> +166 MiB).
 * Outside the writer, a builder still lets a buffer past DATA_BLOCK_KEPT_BYTES_MAX go at
 * reset() (test/flush-large-value-run-bytes.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { seededBytes } from './support/seeded-bytes.js';
import { drain, plain } from './run-helpers.js';


describe('a run of large values', () => {
  it('is built in one block buffer, and reads back exact', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(3);
    await fileSystem.mkdir('/runs');
    // Sizes up and down (the buffer grows to the largest), small entries between, a key with two versions.
    const sizes = [300_000, 120_000, 700_000, 10, 500_000, 700_001, 64 * 1024 + 1];
    const entries: RunEntry[] = sizes.map((size, number) => ({ key: `key-${number}`, version: 100 - number, value: seededBytes(size, number + 1) }));
    entries.splice(4, 0, { key: 'key-3', version: 5, value: seededBytes(400_000, 99) });
    const buffers = new Set<ArrayBufferLike>();
    let largeBlocks = 0;
    const descriptor = await writeRun({
      fileSystem, runsDirectory: '/runs', runId: 1, generation: 7, level: 1, hash, entries,
      onBlockSealed: (block) => {
        if (block.kind !== 'data' || block.bytes.length <= 64 * 1024) return;
        largeBlocks++;
        buffers.add(block.bytes.buffer);
      },
    });
    expect(largeBlocks).toBe(7);
    // Before: one buffer per block past 64 KiB (7); now the first grows, 300,000 -> 700,001 bytes: 2.
    expect(buffers.size).toBe(2);
    const reader = await RunReader.open(fileSystem, '/runs', descriptor, hash, new BlockCache(1024 * 1024));
    const read = await drain(await reader.cursor({}, false, { fillCache: false }));
    await reader.close();
    expect(read).toEqual(entries.map(plain));
  });
});
