/**
 * A real flush that exhausts the flush thread's heap bound (flush-thread-workers.ts):
 * not a message built to kill the thread (review-thread-exit-flush.test.ts does that
 * at every moment of a flush), but the writer's own objects growing past
 * resourceLimits. The bound is lowered for the test (flushThreadSettings.oldGenerationMb)
 * so a memtable of 30,000 distinct 1,000-byte keys exhausts it; at that bound a flush of
 * short keys fits (measured: 5,000 long keys fit, 20,000 do not, 20,000 16-byte keys fit).
 *
 * What must hold: the thread ends alone with ERR_WORKER_OUT_OF_MEMORY (the process does
 * not abort), checkpoint() resolves, the flusher writes the memtable in process, stats()
 * counts the exit, no temporary file is left, and every key reads back, before and
 * after a reopen; the next flush starts a fresh thread, and none outlives close().
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  FLUSH_THREAD_OLD_GENERATION_MB, flushThreadCounters, flushThreadSettings, flushThreadsRunning, flushWorkerBuilt,
} from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

/** Low enough for 30,000 long keys to exhaust it, high enough for the thread to start and flush short keys. */
const LOWERED_OLD_GENERATION_MB = 10;
const LONG_KEYS = 30_000;
const LONG_KEY_CHARS = 1_000;
/** Large enough that nothing is flushed before the checkpoint (a memtable is sealed at a share of it). */
const OPTIONS = { memoryBudgetBytes: 2 * 1024 * 1024 * 1024 };

const longKey = (index: number): string => `${String(index).padStart(8, '0')}-${'k'.repeat(LONG_KEY_CHARS - 9)}`;

/** The 'error' events of every Worker while installed (the flush thread's own error is consumed by FlushThread). */
class WorkerErrors {
  readonly errors: unknown[] = [];
  readonly #emit = Worker.prototype.emit;

  install(): void {
    const errors = this.errors;
    const emit = this.#emit;
    Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'error') errors.push(args[0]);
      return emit.call(this, event, ...args);
    } as typeof Worker.prototype.emit;
  }

  restore(): void {
    Worker.prototype.emit = this.#emit;
  }
}

const workerErrors = new WorkerErrors();

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

beforeEach(() => {
  flushSettings.threadMinMemtableBytes = 0;
  flushThreadSettings.oldGenerationMb = LOWERED_OLD_GENERATION_MB;
  workerErrors.errors.length = 0;
  workerErrors.install();
});

afterEach(() => {
  workerErrors.restore();
  flushThreadSettings.oldGenerationMb = FLUSH_THREAD_OLD_GENERATION_MB;
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  removeTemporaryDirectories();
});

async function putAll(store: Store, keys: readonly string[], valueOf: (key: string) => string): Promise<void> {
  for (let start = 0; start < keys.length; start += 1_000) {
    await store.batch(keys.slice(start, start + 1_000).map((key) => ({ type: 'put' as const, key, value: valueOf(key) })));
  }
}

async function expectAll(store: Store, keys: readonly string[], valueOf: (key: string) => string): Promise<void> {
  let count = 0;
  for await (const [key, value] of store.scan()) {
    expect(value).toBe(valueOf(key as string));
    count++;
  }
  expect(count).toBe(keys.length);
  for (let index = 0; index < keys.length; index += 997) expect(await store.get(keys[index]!)).toBe(valueOf(keys[index]!));
}

describe('a flush that exhausts the flush thread\'s heap bound', () => {
  it('the thread ends with ERR_WORKER_OUT_OF_MEMORY, the memtable is written in process, every key kept', async () => {
    const directory = temporaryDirectory();
    const valueOf = (key: string): string => `v${key.slice(0, 8)}`;
    const store = await openStore(directory, OPTIONS);
    // At this bound the thread starts and flushes short keys.
    const shortKeys = Array.from({ length: 2_000 }, (_, index) => `short-${String(index).padStart(6, '0')}`);
    await putAll(store, shortKeys, valueOf);
    const threadFlushesBefore = flushThreadCounters.threadFlushes;
    const exitsBefore = flushThreadCounters.threadExits;
    await store.checkpoint();
    expect(flushThreadCounters.threadFlushes - threadFlushesBefore).toBe(1);
    expect(workerErrors.errors).toEqual([]);

    const longKeys = Array.from({ length: LONG_KEYS }, (_, index) => longKey(index));
    await putAll(store, longKeys, valueOf);
    expect(store.stats().storage.flushes).toBe(1); // all of them in one memtable
    await store.checkpoint();
    expect(workerErrors.errors).toHaveLength(1);
    expect(workerErrors.errors[0]).toMatchObject({ code: 'ERR_WORKER_OUT_OF_MEMORY' });
    expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
    expect(flushThreadCounters.threadFlushes - threadFlushesBefore).toBe(1); // written in process, not by a thread
    expect(store.stats().storage.flushThreadExits).toBe(1);
    expect(store.stats().storage.flushes).toBe(2);
    expect(readdirSync(join(directory, 'runs')).filter((name) => !name.endsWith('.run'))).toEqual([]);
    const allKeys = [...longKeys, ...shortKeys].sort();
    await expectAll(store, allKeys, valueOf);

    // The next flush starts a fresh thread (short keys again fit).
    await store.put('zz-after', valueOf('zz-after'));
    await store.checkpoint();
    expect(flushThreadCounters.threadFlushes - threadFlushesBefore).toBe(2);
    await store.close();
    expect(flushThreadsRunning()).toBe(0);

    const reopened = await openStore(directory, OPTIONS);
    await expectAll(reopened, [...allKeys, 'zz-after'], valueOf);
    await reopened.close();
  }, 180_000);
});
