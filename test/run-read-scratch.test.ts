/**
 * Compressed block reads through the reused read scratch (src/run/run-file.ts
 * takeReadScratch): many concurrent reads of compressed blocks each get their own
 * scratch and decode exact entries (a shared buffer would mix their bytes and fail
 * the checksum); sequential reads reuse one scratch instead of allocating per
 * block; cached blocks never alias a scratch; a damaged compressed page is still
 * caught (or rebuilt) before use.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { readScratchCounters } from '../src/run/run-file.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

function entries(count: number): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: `key-${String(index).padStart(7, '0')}`,
    version: index + 1,
    value: Buffer.from(JSON.stringify({ index, name: `name-${index % 97}`, flag: index % 3 === 0 })),
  }));
}

async function compressedRun(sorted: RunEntry[]) {
  const fileSystem = await freshFileSystem();
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 3, hash, entries: sorted, compression: 'brotli' });
  return { fileSystem, descriptor };
}

describe('compressed block reads through the read scratch', () => {
  it('concurrent reads of every block decode exact entries, with no repair and no aliasing between cached blocks', async () => {
    const sorted = entries(6_000);
    const { fileSystem, descriptor } = await compressedRun(sorted);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(64 * 1024 * 1024));
    expect(reader.blockCount).toBeGreaterThan(8);
    const blocks = await Promise.all(Array.from({ length: reader.blockCount }, (_, blockIndex) => reader.readBlock(blockIndex)));
    const decoded = blocks.flatMap((block) => Array.from({ length: block.count }, (_, position) => plain(block.entry(position))));
    expect(decoded).toEqual(sorted.map(plain));
    expect(new Set(blocks.map((block) => block.bytes.buffer)).size).toBe(blocks.length);
    expect(reader.repairCounters).toMatchObject({ repairedBlocks: 0, unrecoverableBlocks: 0, transientReadErrors: 0 });
    await reader.close();
  });

  it('sequential reads reuse a scratch buffer instead of allocating one per block', async () => {
    const sorted = entries(6_000);
    const { fileSystem, descriptor } = await compressedRun(sorted);
    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(64 * 1024 * 1024));
    await reader.readBlockWithoutFill(0); // warms the free list
    const allocatedBefore = readScratchCounters.allocated;
    for (let blockIndex = 0; blockIndex < reader.blockCount; blockIndex++) await reader.readBlockWithoutFill(blockIndex);
    expect(readScratchCounters.allocated).toBe(allocatedBefore);
    for (const key of ['key-0000000', 'key-0003000', 'key-0005999']) expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
    await reader.close();
  });

  it('a damaged compressed page read through the scratch is detected without repair and rebuilt with it', async () => {
    const sorted = entries(6_000);
    const { fileSystem, descriptor } = await compressedRun(sorted);
    await overwriteDurably(fileSystem, runPath(descriptor), Buffer.alloc(RUN_PAGE_BYTES, 0x5a), 0);
    const detecting = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
    await expect(detecting.readBlockWithoutFill(0)).rejects.toMatchObject({ code: 'LADYBUG_CORRUPTION' });
    await detecting.close();
    const repairing = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
    const block = await repairing.readBlockWithoutFill(0);
    expect(plain(block.entry(0))).toEqual(plain(sorted[0] as RunEntry));
    expect(repairing.repairCounters.repairedBlocks).toBe(1);
    await repairing.close();
  });
});
