/**
 * backgroundThreadNice (src/util/thread-priority.ts): the merge thread and the cold-tier
 * compression pool's threads lower their own CPU priority by the option (added to the
 * process's niceness, capped at 19), 0 leaves them at the process's priority, and the
 * main thread is never changed. Niceness is read per thread from
 * /proc/self/task/<tid>/stat (Linux only; skipped elsewhere). Bad values are refused with
 * InvalidOptionError. Threads are told apart by unusual values (11, 7): vitest's own
 * threads run at the process's niceness.
 */
import { readdirSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { openStore, type Store } from '../src/index.js';
import { compressPayload } from '../src/run/block-compression.js';
import { ColdTierCompressor, compressionPoolsSettled } from '../src/run/compression-pool.js';
import { RunCompression } from '../src/run/run-format.js';
import { resolveOptions } from '../src/store/options.js';
import { BACKGROUND_THREAD_NICE_DEFAULT, lowerThisThreadPriority, threadNiceOf } from '../src/util/thread-priority.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { optionRefusal } from './support/option-refusal.js';

const linux = process.platform === 'linux';
const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };

let store: Store | undefined;
let compressor: ColdTierCompressor | undefined;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(async () => {
  await store?.close();
  store = undefined;
  await compressor?.close();
  compressor = undefined;
  await compressionPoolsSettled();
  removeTemporaryDirectories();
});

const mainNice = (): number => threadNiceOf(process.pid)!;
/** Threads of this process at niceness `nice` now. */
const threadsAt = (nice: number): number => readdirSync('/proc/self/task').filter((tid) => threadNiceOf(tid) === nice).length;
const expected = (option: number): number => Math.min(19, mainNice() + option);

/** A store with two flushed runs of the same keys, compacted: its merge ran in the merge thread. */
async function compactedStore(options: Record<string, unknown>): Promise<Store> {
  const opened = await openStore(temporaryDirectory(), { ...OPTIONS, ...options });
  for (let round = 0; round < 2; round++) {
    await opened.batch(Array.from({ length: 500 }, (_, index) => ({ type: 'put' as const, key: `key-${index}`, value: { round, index } })));
    await opened.checkpoint();
  }
  await opened.compact();
  expect(mergeThreadsRunning()).toBe(1);
  return opened;
}

describe('backgroundThreadNice', () => {
  it('defaults to BACKGROUND_THREAD_NICE_DEFAULT and refuses what is not an integer in 0..19', async () => {
    expect(resolveOptions({}).backgroundThreadNice).toBe(BACKGROUND_THREAD_NICE_DEFAULT);
    expect(resolveOptions({ backgroundThreadNice: 0 }).backgroundThreadNice).toBe(0);
    expect(resolveOptions({ backgroundThreadNice: 19 }).backgroundThreadNice).toBe(19);
    for (const bad of [-1, 20, 2.5, '5', null]) {
      const error = await optionRefusal(async () => openStore(temporaryDirectory(), { backgroundThreadNice: bad as number }));
      expect(error.message).toContain('backgroundThreadNice');
    }
  });

  it.runIf(linux)('lowers the merge thread by the option; the main thread keeps its priority', async () => {
    const main = mainNice();
    const target = expected(11);
    const before = threadsAt(target);
    store = await compactedStore({ backgroundThreadNice: 11 });
    expect(threadsAt(target) - before).toBe(1);
    expect(mainNice()).toBe(main);
  }, 60_000);

  it.runIf(linux)('0 leaves the merge thread at the process priority', async () => {
    const main = mainNice();
    const lowered = (): number => readdirSync('/proc/self/task').filter((tid) => threadNiceOf(tid) !== main).length;
    const before = lowered();
    store = await compactedStore({ backgroundThreadNice: 0 });
    expect(lowered()).toBe(before);
  }, 60_000);

  it.runIf(linux)('lowers the compression pool threads by the option', async () => {
    const main = mainNice();
    const target = expected(7);
    const before = threadsAt(target);
    compressor = new ColdTierCompressor(1, 7);
    const payload = Buffer.alloc(4096, 'cold block ');
    const [compressed] = await compressor.compressBatch(RunCompression.deflate, [payload]);
    expect(Buffer.from(compressed!)).toEqual(Buffer.from(compressPayload(RunCompression.deflate, payload)));
    expect(compressor.pooled).toBe(true);
    expect(threadsAt(target) - before).toBe(1);
    expect(mainNice()).toBe(main);
  }, 60_000);

  it('never lowers the main thread, and 0 lowers nothing', () => {
    const main = linux ? mainNice() : 0;
    expect(lowerThisThreadPriority(10)).toBe(false);
    expect(lowerThisThreadPriority(0)).toBe(false);
    if (linux) expect(mainNice()).toBe(main);
  });
});
