/**
 * Cold-tier block size (src/run/block-compression.ts RUN_COMPRESSED_BLOCK_TARGET_BYTES):
 * a point read that misses the cache decompresses one block, so compressed runs are
 * written in blocks of RUN_COMPRESSED_BLOCK_TARGET_BYTES of entries (not the older
 * 64 KiB), and runs written with the older 64 KiB layout still read back exact.
 * Prints the compressed file size for several targets (the measurement behind the
 * choice; docs/FORMAT.md "Compressed data blocks").
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_COMPRESSED_BLOCK_TARGET_BYTES } from '../src/run/block-compression.js';
import { encodedEntryBytes } from '../src/run/data-block.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionName } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, modelVersions, plain, RUNS_DIRECTORY } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const OLDER_LAYOUT_BLOCK_BYTES = 64 * 1024;

function jsonEntries(count: number): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let index = 0; index < count; index++) {
    const record = { id: index, name: `user-${index}`, email: `user${index}@example.com`, active: index % 3 === 0, tags: ['a', 'b', String(index % 17)] };
    entries.push({ key: `user-${String(index).padStart(8, '0')}`, version: index + 1, value: index % 50 === 49 ? undefined : Buffer.from(JSON.stringify(record)) });
  }
  return entries;
}

describe('cold-tier block size', () => {
  it('the target is whole pages and at most 24 KiB of entries', () => {
    expect(RUN_COMPRESSED_BLOCK_TARGET_BYTES % 4096).toBe(0);
    expect(RUN_COMPRESSED_BLOCK_TARGET_BYTES).toBeLessThanOrEqual(24 * 1024);
  });

  for (const compression of ['brotli', 'gzip'] as RunCompressionName[]) {
    it(`${compression}: a block holds at most the target's entries; a run in the older 64 KiB layout reads back exact`, async () => {
      const sorted = jsonEntries(8_000);
      const fileSystem = await freshFileSystem();
      const plainRun = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 1, level: 0, hash, entries: sorted });
      const sizes: string[] = [];
      for (const [runId, targetBytes] of [[2, undefined], [3, OLDER_LAYOUT_BLOCK_BYTES], [4, 12 * 1024], [5, 16 * 1024]] as Array<[number, number | undefined]>) {
        const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId, generation: runId, level: 3, hash, entries: sorted, compression, compressedBlockTargetBytes: targetBytes });
        sizes.push(`${(targetBytes ?? RUN_COMPRESSED_BLOCK_TARGET_BYTES) / 1024} KiB blocks: ratio ${(plainRun.fileBytes / descriptor.fileBytes).toFixed(2)}`);
        const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
        const expectedBlocks = Math.ceil(sorted.reduce((total, entry) => total + encodedEntryBytes(entry, false), 0) / (targetBytes ?? RUN_COMPRESSED_BLOCK_TARGET_BYTES));
        expect(reader.blockCount).toBeGreaterThanOrEqual(expectedBlocks);
        for (let blockIndex = 0; blockIndex < reader.blockCount; blockIndex++) {
          const block = await reader.readBlockWithoutFill(blockIndex);
          expect(block.bytes.length).toBeLessThanOrEqual(targetBytes ?? RUN_COMPRESSED_BLOCK_TARGET_BYTES);
        }
        expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(sorted, {}, false));
        for (const key of ['user-00000000', 'user-00004321', 'user-00007999', 'user-00000049', 'user-99999999']) {
          expect((await reader.versions(key)).map(plain)).toEqual(modelVersions(sorted, key));
        }
        await reader.close();
      }
      console.log(`${compression}: ${sizes.join('; ')}`);
    });
  }
});

describe('decompressing a compressed block', () => {
  it('round-trips payloads around the zlib chunk size, and a usual block comes back in one chunk', async () => {
    const { compressPayload, decompressPayload, RUN_DECOMPRESS_CHUNK_BYTES } = await import('../src/run/block-compression.js');
    const { RunCompression } = await import('../src/run/run-format.js');
    for (const compression of [RunCompression.brotli, RunCompression.gzip]) {
      for (const sizeBytes of [1, 4096, RUN_COMPRESSED_BLOCK_TARGET_BYTES, RUN_DECOMPRESS_CHUNK_BYTES, RUN_DECOMPRESS_CHUNK_BYTES + 1, OLDER_LAYOUT_BLOCK_BYTES]) {
        const payload = Buffer.from(Array.from({ length: sizeBytes }, (_, index) => (index * 7 + (index >> 9)) & 0xff));
        const raw = decompressPayload(compression, compressPayload(compression, payload), 'test', 0);
        expect(raw.equals(payload)).toBe(true);
        if (sizeBytes === RUN_COMPRESSED_BLOCK_TARGET_BYTES) expect(raw.buffer.byteLength).toBe(RUN_DECOMPRESS_CHUNK_BYTES);
      }
    }
  });
});
