/**
 * Idle worker threads end (src/util/idle-end.ts; issue 7, RSS): the flush thread and
 * the merge thread end once they have had no job for their `idleMs`, the next job
 * starts a new thread, and an idle end is never taken for a crash: no flush or merge
 * is redone in process for it (flushThreadExits, mergeThreadExits stay 0), and every
 * write reads back. A merge started while the previous thread is still ending (idleMs
 * 0: the end begins as soon as a merge settles) runs in its own thread.
 *
 * The waits poll the thread counts until the thread has ended; nothing is timed.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MergeThread, mergeThreadSettings, mergeThreadsRunning, mergeWorkerBuilt } from '../src/compaction/merge-thread.js';
import { flushThreadCounters, flushThreadSettings, flushThreadsRunning, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const IDLE_MS_DEFAULT = { flush: flushThreadSettings.idleMs, merge: mergeThreadSettings.idleMs };
const KEYS = 3000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
  expect(mergeWorkerBuilt()).toBe(true);
}, 180_000);

afterEach(() => {
  vi.restoreAllMocks();
  flushThreadSettings.idleMs = IDLE_MS_DEFAULT.flush;
  mergeThreadSettings.idleMs = IDLE_MS_DEFAULT.merge;
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number): string => `round ${round} `.repeat(4 + (index % 5));

async function writeRound(store: Store, round: number): Promise<void> {
  for (let first = 0; first < KEYS; first += 500) {
    await store.batch(Array.from({ length: 500 }, (_, offset) => ({ type: 'put' as const, key: key(first + offset), value: value(first + offset, round) })));
  }
}

async function expectRound(store: Store, round: number): Promise<void> {
  for (let index = 0; index < KEYS; index += 1) expect(await store.get(key(index))).toBe(value(index, round));
}

/** Resolves once `count()` is 0; a thread that never ends fails the test by its timeout. */
async function untilNone(count: () => number): Promise<void> {
  while (count() > 0) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('an idle flush thread ends, and the next flush starts another', () => {
  it('ends after idleMs with no flush; the next checkpoint flushes in a new thread; nothing is redone in process', async () => {
    flushSettings.threadMinMemtableBytes = 0; // small memtables: every flush goes through the thread
    flushThreadSettings.idleMs = 50;
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 32 * 1024 * 1024 });
    try {
      await writeRound(store, 1);
      const threadFlushes = flushThreadCounters.threadFlushes;
      await store.checkpoint();
      expect(flushThreadCounters.threadFlushes).toBe(threadFlushes + 1); // flushed in the thread
      await untilNone(flushThreadsRunning);
      await writeRound(store, 2);
      await store.checkpoint();
      expect(flushThreadCounters.threadFlushes).toBe(threadFlushes + 2); // in a new thread, not in process
      expect(store.stats().storage.flushes).toBe(2);
      expect(store.stats().storage.flushThreadExits).toBe(0);
      await expectRound(store, 2);
    } finally {
      await store.close();
    }
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);

  it('close while the idle thread is ending leaves no thread', async () => {
    flushSettings.threadMinMemtableBytes = 0;
    flushThreadSettings.idleMs = 0; // the end begins as soon as the flush settles
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 32 * 1024 * 1024 });
    await writeRound(store, 1);
    await store.checkpoint();
    await store.close();
    expect(flushThreadsRunning()).toBe(0);
  }, 60_000);
});

describe('an idle merge thread ends, and the next merge starts another', () => {
  it.each([
    ['after idleMs with no merge', 50],
    ['at once, a new merge starting while the last thread is still ending', 0],
  ])('ends %s; compactions go on in threads, none is redone in process, reads are exact', async (_, idleMs) => {
    flushSettings.threadMinMemtableBytes = 0;
    mergeThreadSettings.idleMs = idleMs;
    const threadMerges = vi.spyOn(MergeThread.prototype, 'merge');
    const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 32 * 1024 * 1024 });
    try {
      for (let round = 1; round <= 4; round++) {
        await writeRound(store, round);
        await store.checkpoint();
        await writeRound(store, round + 10);
        await store.checkpoint();
        const merges = threadMerges.mock.calls.length;
        await store.compact();
        expect(threadMerges.mock.calls.length).toBeGreaterThan(merges); // compact() merged in a thread
        if (idleMs > 0) await untilNone(mergeThreadsRunning);
      }
      const { compaction } = store.stats().storage;
      expect(compaction.mergeThreadExits).toBe(0);
      await expectRound(store, 14);
    } finally {
      await store.close();
    }
    expect(mergeThreadsRunning()).toBe(0);
  }, 120_000);
});
