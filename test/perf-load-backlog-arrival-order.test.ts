/**
 * A flush with a backlog (another sealed memtable waits: writes outrun flushes, a bulk
 * load) of a random-key memtable goes through the flush thread in arrival order, as one
 * without a backlog does (src/engine/flusher.ts #writeInThread). It went in key order,
 * whose walk on the main thread (cache misses on every key, chain and value) slowed the
 * very flush the stalled writers waited for (issue 7's 1M-key load). The store reads
 * back exactly after the flushes and after a reopen.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { mulberry32 } from './transaction-support.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

/** The arrivalOrder flag of each 'begin' message posted to a flush worker, in order. */
const begins: boolean[] = [];
const originalPostMessage = Worker.prototype.postMessage;

beforeEach(() => {
  begins.length = 0;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
    const typed = message as { type?: unknown; arrivalOrder?: unknown } | null;
    if (typed?.type === 'begin' && typeof typed.arrivalOrder === 'boolean') begins.push(typed.arrivalOrder);
    return (originalPostMessage as (...args: unknown[]) => void).call(this, message, ...rest);
  };
});

afterEach(() => {
  Worker.prototype.postMessage = originalPostMessage;
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  resumeHeldFlushes();
  removeTemporaryDirectories();
});

const BATCH_KEYS = 2_200;
const BATCHES = 3;

/** Seeded random 16-byte keys and 100-byte values, batch by batch. */
function batches(seed: number): Array<Array<{ key: Uint8Array; value: Uint8Array }>> {
  const random = mulberry32(seed);
  const byte = (): number => Math.floor(random() * 256);
  return Array.from({ length: BATCHES }, () => Array.from({ length: BATCH_KEYS }, () => ({
    key: Uint8Array.from({ length: 16 }, byte),
    value: Uint8Array.from({ length: 100 }, byte),
  })));
}

async function expectEvery(store: Store, written: ReturnType<typeof batches>): Promise<void> {
  for (const batch of written) {
    for (const { key, value } of batch) expect(Buffer.from((await store.get(key)) as Uint8Array).equals(Buffer.from(value))).toBe(true);
  }
}

describe('a flush with a backlog', () => {
  it('sends a random memtable in arrival order; every key reads back, also after reopen', async () => {
    flushSettings.threadMinMemtableBytes = 0;
    const directory = temporaryDirectory();
    // A 512 KiB active share: each 2,200-key batch (~640 KB in memory) is sealed after its record,
    // and two sealed ones (~1.3 MB) stay under the stall's quarter of the budget (1.5 MiB): the third batch is admitted.
    const options = { memoryBudgetBytes: 6 * 1024 * 1024, keyEncoding: 'binary' as const };
    const store = await openStore(directory, options);
    const written = batches(7);
    flushThreadTestHooks.holdNextFlush = true;
    const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
    await store.batch(written[0]!.map(({ key, value }) => ({ type: 'put' as const, key, value })));
    await held; // the first memtable's flush, held in the thread: the next two memtables wait behind it
    for (const batch of written.slice(1)) await store.batch(batch.map(({ key, value }) => ({ type: 'put' as const, key, value })));
    expect(store.stats().storage.immutableMemtables).toBe(3);
    resumeHeldFlushes();
    await store.checkpoint();
    // The second flush began with the third memtable waiting (a backlog): in arrival order too.
    expect(begins.slice(0, 3)).toEqual([true, true, true]);
    await expectEvery(store, written);
    await store.close();
    const reopened = await openStore(directory, options);
    await expectEvery(reopened, written);
    await reopened.close();
  }, 20_000);
});
