/**
 * Batched compression (src/run/compression-pool.ts compressBatch, the run writer's
 * BlockShipper): a cold run written through the thread pool in batches of blocks is
 * byte for byte the run written with inline compression (same block boundaries, same
 * compressed payloads in the same order, same checksums), reads back exact, and the
 * writer keeps at most `parallelism` batches in flight, each within the batch bounds.
 * Needs the build (dist/src/run/compression-worker.js): `npm test` builds first.
 */
import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import {
  type BlockCompressor,
  COMPRESSION_BATCH_BLOCKS_MAX,
  COMPRESSION_BATCH_BYTES_MAX,
  CompressionPool,
  InlineCompressor,
} from '../src/run/compression-pool.js';
import { compressBatch, decodeBatchResult } from '../src/run/compression-worker.js';
import { compressPayload } from '../src/run/block-compression.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RunCompression, type RunCompressionName, type RunCompressionValue } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun, type SealedBlock } from '../src/run/run-writer.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, RUNS_DIRECTORY } from './run-helpers.js';

let hash: Hash64;
let pool: CompressionPool;
beforeAll(async () => {
  hash = await loadHash64();
  pool = new CompressionPool(2);
});
afterAll(async () => {
  await pool.close();
});

/**
 * JSON records, some deleted, a few values larger than a batch; with `severalVersions`
 * every 7th key has 3 versions (a key may then span blocks).
 */
function mixedEntries(keyCount: number, severalVersions: boolean, largeValues: boolean): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let index = 0; index < keyCount; index++) {
    const key = `user-${String(index).padStart(8, '0')}`;
    const versions = severalVersions && index % 7 === 0 ? 3 : 1;
    for (let version = versions; version >= 1; version--) {
      const record = JSON.stringify({ id: index, version, email: `user${index}@example.com`, tags: ['a', 'b', String(index % 13)] });
      const large = largeValues && index % 997 === 5 && version === 1;
      const value = index % 50 === 49 ? undefined : large ? Buffer.alloc(COMPRESSION_BATCH_BYTES_MAX + 3000, record) : Buffer.from(record);
      entries.push({ key, version: index * 4 + version, value });
    }
  }
  return entries;
}

/** Delegates to a pool and records every batch and how many were in flight at once. */
class RecordingCompressor implements BlockCompressor {
  readonly parallelism: number;
  readonly batches: Array<{ blocks: number; payloadBytes: number }> = [];
  inFlight = 0;
  inFlightMax = 0;
  singles = 0;
  readonly #inner: CompressionPool;

  constructor(inner: CompressionPool) {
    this.#inner = inner;
    this.parallelism = inner.parallelism;
  }

  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    this.singles++;
    return this.#inner.compress(compression, payload);
  }

  async compressBatch(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    this.batches.push({ blocks: payloads.length, payloadBytes: payloads.reduce((total, payload) => total + payload.length, 0) });
    this.inFlight++;
    this.inFlightMax = Math.max(this.inFlightMax, this.inFlight);
    try {
      return await this.#inner.compressBatch(compression, payloads);
    } finally {
      this.inFlight--;
    }
  }
}

/**
 * Batches like the pool but compresses on the calling thread. Where a key spans blocks,
 * block boundaries depend on how far the index lags the builder (a full partition
 * ends the building block at the next key: PartitionBuilder.wantsKeyBoundary), so
 * such a run is compared with a writer that batches alike.
 */
class InlineBatchCompressor implements BlockCompressor {
  readonly parallelism: number;
  constructor(parallelism: number) {
    this.parallelism = parallelism;
  }
  async compress(compression: RunCompressionValue, payload: Uint8Array): Promise<Uint8Array> {
    return compressPayload(compression, payload);
  }
  async compressBatch(compression: RunCompressionValue, payloads: readonly Uint8Array[]): Promise<Uint8Array[]> {
    return payloads.map((payload) => compressPayload(compression, payload));
  }
}

async function writeCold(entries: RunEntry[], compression: RunCompressionName, compressor: BlockCompressor) {
  const fileSystem = await freshFileSystem();
  const dataBlocks: Array<{ offset: number; bytes: string }> = [];
  const onBlockSealed = (block: SealedBlock) => {
    if (block.kind === 'data') dataBlocks.push({ offset: block.offset, bytes: block.bytes.toString('hex') });
  };
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 7, generation: 3, level: 3, hash, entries, compression, compressor, onBlockSealed });
  const file = await fileSystem.readFile(`${RUNS_DIRECTORY}/${descriptor.fileName}`);
  return { fileSystem, descriptor, file, dataBlocks };
}

describe('batched block compression', () => {
  for (const compression of ['deflate', 'brotli'] as RunCompressionName[]) {
    it(`${compression}: a run compressed in batches in the pool is the run compressed inline, byte for byte`, async () => {
      const entries = mixedEntries(12_000, false, true);
      const recording = new RecordingCompressor(pool);
      const batched = await writeCold(entries, compression, recording);
      const inline = await writeCold(entries, compression, new InlineCompressor());

      expect(batched.dataBlocks.length).toBeGreaterThan(3 * COMPRESSION_BATCH_BLOCKS_MAX);
      expect(batched.dataBlocks).toEqual(inline.dataBlocks);
      expect(Buffer.compare(batched.file, inline.file)).toBe(0);
      expect(batched.descriptor).toEqual(inline.descriptor);

      // Batched: every block went through compressBatch, in batches within the bounds, at most `parallelism` in flight.
      expect(recording.singles).toBe(0);
      expect(recording.batches.reduce((total, batch) => total + batch.blocks, 0)).toBe(batched.dataBlocks.length);
      expect(recording.batches.length).toBeLessThan(batched.dataBlocks.length / 2);
      for (const batch of recording.batches) {
        expect(batch.blocks).toBeLessThanOrEqual(COMPRESSION_BATCH_BLOCKS_MAX);
        // A batch is sent once it reaches the byte bound: only its last block may cross it.
        expect(batch.blocks === 1 || batch.payloadBytes < COMPRESSION_BATCH_BYTES_MAX * 2 + 8192).toBe(true);
      }
      expect(recording.batches.some((batch) => batch.blocks === COMPRESSION_BATCH_BLOCKS_MAX)).toBe(true);
      expect(recording.inFlightMax).toBeLessThanOrEqual(recording.parallelism);
      expect(recording.inFlight).toBe(0);

      const reader = await RunReader.open(batched.fileSystem, RUNS_DIRECTORY, batched.descriptor, hash, new BlockCache(4 * 1024 * 1024));
      expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(entries, {}, false));
      await reader.close();
    });

    it(`${compression}: keys spanning blocks: the pool's batches write the bytes of the same batches compressed inline`, async () => {
      const entries = mixedEntries(12_000, true, true);
      const batched = await writeCold(entries, compression, new RecordingCompressor(pool));
      const inline = await writeCold(entries, compression, new InlineBatchCompressor(pool.parallelism));
      expect(batched.dataBlocks.length).toBeGreaterThan(3 * COMPRESSION_BATCH_BLOCKS_MAX);
      expect(batched.dataBlocks).toEqual(inline.dataBlocks);
      expect(Buffer.compare(batched.file, inline.file)).toBe(0);
      const reader = await RunReader.open(batched.fileSystem, RUNS_DIRECTORY, batched.descriptor, hash, new BlockCache(4 * 1024 * 1024));
      expect(await drain(await reader.cursor({}, false))).toEqual(modelScan(entries, {}, false));
      await reader.close();
    });
  }

  it('a run of fewer blocks than a batch ships its one partial batch at the end', async () => {
    const entries = mixedEntries(60, true, false);
    const recording = new RecordingCompressor(pool);
    const batched = await writeCold(entries, 'deflate', recording);
    const inline = await writeCold(entries, 'deflate', new InlineCompressor());
    expect(Buffer.compare(batched.file, inline.file)).toBe(0);
    expect(recording.batches).toHaveLength(1);
  });

  it('the worker batch: results in order, the bytes of compressing each payload alone', () => {
    const payloads = [Buffer.from('a'.repeat(5000)), Buffer.alloc(0), Buffer.from(JSON.stringify({ hello: 'world', list: [1, 2, 3] }))];
    const input = Buffer.concat(payloads);
    const output = compressBatch({ compression: RunCompression.deflate, input, lengths: payloads.map((payload) => payload.length) });
    const parts = decodeBatchResult(output, payloads.length);
    expect(parts.map((part) => Buffer.from(part).toString('hex'))).toEqual(payloads.map((payload) => compressPayload(RunCompression.deflate, payload).toString('hex')));
    expect(() => compressBatch({ compression: RunCompression.deflate, input, lengths: [1] })).toThrow(RangeError);
    expect(() => decodeBatchResult(output, payloads.length + 1)).toThrow(RangeError);
  });

  it('a failed batch fails the write (no unhandled rejection), and the pool still serves the next one', async () => {
    const failing: BlockCompressor = {
      parallelism: 2,
      compress: async () => Promise.reject(new Error('unexpected single compress')),
      compressBatch: async () => Promise.reject(new Error('batch failed')),
    };
    await expect(writeCold(mixedEntries(3000, true, true), 'deflate', failing)).rejects.toThrow('batch failed');
    const [compressed] = await pool.compressBatch(RunCompression.deflate, [Buffer.from('x'.repeat(100))]);
    expect(Buffer.from(compressed!).toString('hex')).toBe(compressPayload(RunCompression.deflate, Buffer.from('x'.repeat(100))).toString('hex'));
  });
});
