/**
 * The cold-tier compression pool gives its threads back when it has nothing to do, as
 * the flush and merge threads do (src/util/idle-end.ts): piscina keeps a pool's first
 * thread for the pool's life, so a store that compressed one cold run kept an idle
 * isolate and its malloc arena until close(). And its threads run with heap bounds of
 * their own (a young generation of COMPRESSION_THREAD_YOUNG_GENERATION_MB), not V8's
 * defaults. No timing: the idle wait is shortened and waited for, never raced.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compressPayload } from '../src/run/block-compression.js';
import {
  COMPRESSION_THREAD_IDLE_MS, COMPRESSION_THREAD_OLD_GENERATION_MB, COMPRESSION_THREAD_YOUNG_GENERATION_MB,
  ColdTierCompressor, compressionPoolSettings, compressionPoolsSettled, compressionThreadsRunning,
} from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';
import { WorkerSpy } from './support/worker-death.js';

const spy = new WorkerSpy(['piscina']);
let compressor: ColdTierCompressor | undefined;

beforeEach(() => spy.install());

afterEach(async () => {
  spy.restore();
  compressionPoolSettings.idleMs = COMPRESSION_THREAD_IDLE_MS;
  await compressor?.close();
  compressor = undefined;
  await compressionPoolsSettled();
});

const DEFLATE = RunCompression.deflate;

function payloads(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => Buffer.alloc(4096, `block ${index} `));
}

async function expectCompressed(target: ColdTierCompressor, batch: Uint8Array[]): Promise<void> {
  const compressed = await target.compressBatch(DEFLATE, batch);
  expect(compressed.map((part) => Buffer.from(part))).toEqual(batch.map((payload) => Buffer.from(compressPayload(DEFLATE, payload))));
}

describe('the cold-tier compression pool', () => {
  it('ends its threads once idle for compressionPoolSettings.idleMs, and the next batch starts a new pool', async () => {
    compressionPoolSettings.idleMs = 50;
    compressor = new ColdTierCompressor(2);
    await expectCompressed(compressor, payloads(8));
    expect(compressor.pooled).toBe(true);
    const first = spy.last('piscina');
    await vi.waitFor(() => expect(compressor!.pooled).toBe(false), { timeout: 10_000, interval: 20 });
    await spy.exited(first);
    await compressionPoolsSettled();
    expect(compressionThreadsRunning()).toBe(0);
    // The next batch is compressed by a new pool, the same bytes.
    await expectCompressed(compressor, payloads(8));
    expect(compressor.pooled).toBe(true);
    expect(spy.last('piscina')).not.toBe(first);
    expect(compressor.threadExits).toBe(0); // an idle end is not a thread's death
  }, 30_000);

  it('does not end a pool while batches come (each batch re-arms the wait)', async () => {
    compressor = new ColdTierCompressor(2);
    await expectCompressed(compressor, payloads(4));
    const first = spy.last('piscina');
    await expectCompressed(compressor, payloads(4));
    expect(compressor.pooled).toBe(true);
    expect(spy.last('piscina')).toBe(first);
  }, 30_000);

  it('close() during an idle end returns with every thread gone', async () => {
    compressionPoolSettings.idleMs = 1;
    compressor = new ColdTierCompressor(2);
    await expectCompressed(compressor, payloads(8));
    await vi.waitFor(() => expect(compressor!.pooled).toBe(false), { timeout: 10_000, interval: 1 });
    await compressor.close();
    expect(compressionThreadsRunning()).toBe(0);
  }, 30_000);

  it("runs its threads with the pool's heap bounds, not V8's defaults", async () => {
    compressor = new ColdTierCompressor(1);
    await expectCompressed(compressor, payloads(2));
    const limits = spy.last('piscina').resourceLimits;
    expect(limits?.maxYoungGenerationSizeMb).toBe(COMPRESSION_THREAD_YOUNG_GENERATION_MB);
    expect(limits?.maxOldGenerationSizeMb).toBe(COMPRESSION_THREAD_OLD_GENERATION_MB);
  }, 30_000);
});
