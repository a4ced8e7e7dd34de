/**
 * Review of the compression pool's threads dying (src/run/compression-pool.ts): the
 * piscina threads that compress a cold-tier run's blocks for a merge done in process
 * (the merge thread off, past its restarts, or the merge done again after the merge
 * thread died). A pool thread that ends with a task on it (a crash, its heap
 * exhausted under resourceLimits, an exit) makes piscina reject that task with a
 * plain Error('worker exited with code: 1'), no `code`; a thread that fails while it
 * starts, with no task, makes piscina emit 'error' on the pool.
 *
 * What the user must see, as for the merge and flush threads: the compaction goes on
 * (compression is a pure function of the block: the batch is compressed again, the
 * same bytes), stats() counts it, no untyped error, and never an uncaught exception
 * in the embedding process; after abandon() a task in flight fails with
 * StoreClosedError.
 *
 * No timing: a thread is terminated in the same synchronous step that hands it the
 * task (piscina still lists it as ready until its 'exit' is handled), so the task is
 * on the dying thread every time (test/support/worker-death.ts records the threads).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';
import { compressPayload } from '../src/run/block-compression.js';
import {
  COMPRESSION_POOL_RESTARTS_MAX, ColdTierCompressor, CompressionPool, compressionPoolsSettled, compressionThreadsRunning,
} from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { WorkerSpy } from './support/worker-death.js';

// Every run's generation is the same number: a twin store that writes the same runs writes the same bytes.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, randomInt: () => 0x5eed };
});

const spy = new WorkerSpy(['piscina']);

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

beforeEach(() => spy.install());

afterEach(async () => {
  spy.restore();
  vi.restoreAllMocks();
  compactionSettings.mergeThread = 'worker';
  await compressionPoolsSettled();
  removeTemporaryDirectories();
});

const DEFLATE = RunCompression.deflate;

/** Block-sized payloads that deflate to different lengths. */
function payloads(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => {
    const bytes = new Uint8Array(4000);
    for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = (offset * (index + 3)) % (7 + index * 13);
    return bytes;
  });
}

/** Compressed parts as Buffers (the pool answers views into one result buffer, inline compression Buffers). */
const bytesOf = (parts: readonly Uint8Array[]): Buffer[] => parts.map((part) => Buffer.from(part));

/** Terminates every pool thread seen so far; the caller hands a task in the same synchronous step. */
function terminatePoolThreads(): void {
  for (const worker of spy.seen.get('piscina') ?? []) void worker.terminate();
}

describe('a cold-tier batch whose pool thread dies under it', () => {
  it('is compressed all the same (the same bytes) and counted; a new pool takes the next batches, inline for good past COMPRESSION_POOL_RESTARTS_MAX', async () => {
    const compressor = new ColdTierCompressor(1);
    const batch = payloads(6);
    const expected = bytesOf(batch.map((payload) => compressPayload(DEFLATE, payload)));
    expect(bytesOf(await compressor.compressBatch(DEFLATE, batch))).toEqual(expected); // the pool's thread runs
    const deaths = 3;
    for (let death = 1; death <= deaths; death++) {
      expect(compressor.pooled).toBe(true);
      terminatePoolThreads();
      expect(bytesOf(await compressor.compressBatch(DEFLATE, batch))).toEqual(expected);
      expect(compressor.threadExits).toBe(death);
      expect(bytesOf(await compressor.compressBatch(DEFLATE, batch))).toEqual(expected); // a new pool, or inline at the end
    }
    expect(COMPRESSION_POOL_RESTARTS_MAX).toBe(deaths - 1);
    expect(compressor.pooled).toBe(false);
    expect(compressor.counters()).toMatchObject({ blocks: (1 + 2 * deaths) * 6 });
    await compressor.close();
    expect(compressionThreadsRunning()).toBe(0);
  }, 60_000);

  it('a batch queued for a thread that then fails while it starts is compressed (it waited forever before)', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtExceptionMonitor', onUncaught);
    try {
      const compressor = new ColdTierCompressor(1);
      const batch = payloads(4);
      const expected = bytesOf(batch.map((payload) => compressPayload(DEFLATE, payload)));
      expect(bytesOf(await compressor.compressBatch(DEFLATE, batch))).toEqual(expected);
      const first = spy.last('piscina');
      spy.nullNext('piscina'); // the thread piscina starts in place of the first fails in its bootstrap
      void first.terminate(); // idle: no task fails with it
      await spy.exited(first);
      // piscina has started the replacement; the batch waits for it to be ready.
      expect(bytesOf(await compressor.compressBatch(DEFLATE, batch))).toEqual(expected);
      expect(compressor.threadExits).toBe(1);
      expect(uncaught).toEqual([]);
      await compressor.close();
      expect(compressionThreadsRunning()).toBe(0);
    } finally {
      process.off('uncaughtExceptionMonitor', onUncaught);
    }
  }, 30_000);

  it('after abandon(): the batch in flight fails with StoreClosedError (a stable code), the threads are gone', async () => {
    const compressor = new ColdTierCompressor(1);
    await compressor.compressBatch(DEFLATE, payloads(1));
    const inFlight = compressor.compressBatch(DEFLATE, payloads(8));
    const abandoned = compressor.abandon();
    const error = await inFlight.catch((caught: unknown) => caught);
    await abandoned;
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(error).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    expect(compressor.threadExits).toBe(0);
    expect(compressionThreadsRunning()).toBe(0);
  }, 60_000);
});

describe('a pool thread that fails while it starts, with no task on it', () => {
  it('no uncaught exception in the process; the next batch starts a thread and is compressed', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtExceptionMonitor', onUncaught);
    try {
      const pool = new CompressionPool(1);
      const batch = payloads(3);
      const expected = bytesOf(batch.map((payload) => compressPayload(DEFLATE, payload)));
      expect(bytesOf(await pool.compressBatch(DEFLATE, batch))).toEqual(expected);
      const first = spy.last('piscina');
      spy.nullNext('piscina'); // the thread piscina starts to replace the first one fails in its bootstrap
      void first.terminate();
      await spy.exited(first);
      await vi.waitFor(() => expect(spy.seen.get('piscina')).toHaveLength(2)); // the replacement was started
      const replacement = spy.last('piscina');
      await spy.exited(replacement);
      await new Promise((resolve) => setImmediate(resolve)); // piscina handled its error and exit
      expect(uncaught).toEqual([]);
      expect(pool.threadErrors).toBe(1);
      expect(bytesOf(await pool.compressBatch(DEFLATE, batch))).toEqual(expected);
      await pool.close();
    } finally {
      process.off('uncaughtExceptionMonitor', onUncaught);
    }
  }, 60_000);
});

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
const KEYS = 3000;
const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;

async function writeRound(store: Store, round: number): Promise<void> {
  for (let start = 0; start < KEYS; start += 500) {
    const operations = [];
    for (let index = start; index < start + 500; index++) {
      if (round > 0 && index % 7 === round % 7) operations.push({ type: 'del' as const, key: key(index) });
      else operations.push({ type: 'put' as const, key: key(index), value: { index, round, text: 'cold tier '.repeat(1 + (index % 6)) } });
    }
    await store.batch(operations);
  }
  await store.checkpoint();
}

describe("a store's cold merge done in process whose pool threads die mid-write", () => {
  it('compact() resolves with the bytes an undisturbed twin writes; no failure, no lastError; stats() counts the redone batches', async () => {
    compactionSettings.mergeThread = 'main';
    const outputs: Buffer[] = [];
    for (const killed of [true, false]) {
      const directory = temporaryDirectory();
      const store = await openStore(directory, OPTIONS);
      for (let round = 0; round < 3; round++) await writeRound(store, round);
      await store.compact(); // tier 1: not compressed
      for (let round = 3; round < 6; round++) await writeRound(store, round);
      let batches = 0;
      const compressBatch = CompressionPool.prototype.compressBatch;
      vi.spyOn(CompressionPool.prototype, 'compressBatch').mockImplementation(function (this: CompressionPool, compression, batch) {
        // The third batch of the cold merge: every pool thread ends as it takes it (the others in flight with it).
        if (killed && ++batches === 3) terminatePoolThreads();
        return compressBatch.call(this, compression, batch);
      });
      const result = await store.compact(); // tier 2: compressed through the pool
      vi.restoreAllMocks();
      expect(result.outcome).toBe('compacted');
      const stats = store.stats().storage;
      expect(stats.tiers.coldRuns).toBe(1);
      expect(stats.compaction).toMatchObject({ failures: 0, lastError: undefined });
      if (killed) expect(stats.compressionThreadExits).toBeGreaterThanOrEqual(1);
      else expect(stats.compressionThreadExits).toBe(0);
      for (let index = 0; index < KEYS; index += 13) {
        expect(await store.get(key(index))).toEqual(index % 7 === 5 ? undefined : { index, round: 5, text: 'cold tier '.repeat(1 + (index % 6)) });
      }
      await store.close();
      const files = readdirSync(join(directory, 'runs'));
      expect(files).toHaveLength(1);
      outputs.push(readFileSync(join(directory, 'runs', files[0]!)));
    }
    expect(outputs[0]!.equals(outputs[1]!)).toBe(true);
  }, 120_000);
});
