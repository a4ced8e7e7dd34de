/**
 * Review of b0572cb (the cold-tier compression pool ends its threads after idleMs with
 * no batch, and its threads run with heap bounds), the interleavings
 * compression-pool-idle-end does not force:
 * - a batch arriving right after the idle end fired (its timer and the batch's in the
 *   same timers phase, the old pool still being destroyed) and right before it: every
 *   batch compressed by a pool (no thread death, no inline fallback), exact;
 * - close() while an idle end's destroy is under way and a new batch's pool starts;
 * - a 16 MiB payload (the largest value) through the bounded threads: compressed by the
 *   pool, exact, no thread ended by its heap bounds (a death would be hidden by the
 *   inline fallback, so threadExits is checked).
 * Needs the build (the pool runs dist's worker).
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { compressPayload } from '../src/run/block-compression.js';
import {
  COMPRESSION_THREAD_IDLE_MS, ColdTierCompressor, compressionPoolSettings, compressionPoolsSettled, compressionThreadsRunning,
} from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';

const DEFLATE = RunCompression.deflate;
let compressor: ColdTierCompressor | undefined;

afterEach(async () => {
  compressionPoolSettings.idleMs = COMPRESSION_THREAD_IDLE_MS;
  await compressor?.close();
  compressor = undefined;
  await compressionPoolsSettled();
});

function payloads(count: number, seed: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => Buffer.alloc(4096, `block ${seed}.${index} `));
}

async function expectCompressed(target: ColdTierCompressor, batch: Uint8Array[]): Promise<void> {
  const compressed = await target.compressBatch(DEFLATE, batch);
  // Compared with equals, not toEqual: a 16 MiB Buffer's diff would exhaust the runner's heap.
  expect(compressed.length).toBe(batch.length);
  for (const [index, payload] of batch.entries()) expect(Buffer.from(compressed[index]!).equals(compressPayload(DEFLATE, payload)), `part ${index}`).toBe(true);
}

function after(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('the compression pool\'s idle end racing batches', () => {
  it('batches arriving just after, at and just before the idle end fires: all compressed by a pool, exact', async () => {
    compressionPoolSettings.idleMs = 1;
    compressor = new ColdTierCompressor(2);
    let pooledAtStart = 0;
    for (let round = 0; round < 24; round++) {
      await expectCompressed(compressor, payloads(4, round));
      // The idle timer was armed as the batch settled; this one is set after it, so with
      // a delay of 1 ms it runs in the same timers phase, just after the idle end began.
      await after(round % 3);
      if (compressor.pooled) pooledAtStart++;
      await Promise.all([expectCompressed(compressor, payloads(3, 100 + round)), round % 2 === 0 ? expectCompressed(compressor, payloads(2, 200 + round)) : Promise.resolve()]);
    }
    expect(compressor.threadExits).toBe(0);
    // Both orders were taken: some batches found the pool ended, some found it running.
    expect(pooledAtStart).toBeLessThan(24);
    await compressor.close();
    expect(compressionThreadsRunning()).toBe(0);
  }, 60_000);

  it('close() while an idle end destroys one pool and a batch has started another: every thread gone when close returns', async () => {
    compressionPoolSettings.idleMs = 1;
    for (let round = 0; round < 6; round++) {
      compressor = new ColdTierCompressor(2);
      await expectCompressed(compressor, payloads(4, round));
      await after(1 + (round % 2));
      const batch = compressor.compressBatch(DEFLATE, payloads(4, 50 + round)).then(() => 'done', (error: unknown) => error);
      await compressor.close();
      expect(compressionThreadsRunning()).toBe(0);
      const outcome = await batch;
      // The batch either finished first or failed as closed: never an assertion.
      if (outcome !== 'done') expect((outcome as { code?: string }).code, String(outcome)).toBe('LADYBUG_STORE_CLOSED');
      compressor = undefined;
    }
    await compressionPoolsSettled();
    expect(compressionThreadsRunning()).toBe(0);
  }, 60_000);
});

describe('the largest value through the bounded pool threads', () => {
  it('a 16 MiB payload, compressible and not: compressed by the pool, exact, no thread ended', async () => {
    compressor = new ColdTierCompressor(1);
    const compressible = Buffer.alloc(16 * 1024 * 1024, 'sixteen mebibytes ');
    const random = Buffer.alloc(16 * 1024 * 1024);
    let state = 12345;
    for (let index = 0; index < random.length; index += 4) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      random.writeUInt32LE(state, index);
    }
    for (const payload of [compressible, random, compressible]) {
      await expectCompressed(compressor, [payload]);
      expect(compressor.pooled).toBe(true);
    }
    await expectCompressed(compressor, [random, compressible.subarray(0, 1024 * 1024)]);
    expect(compressor.threadExits).toBe(0);
  }, 120_000);
});
