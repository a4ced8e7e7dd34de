/**
 * Eight worker threads of one process, each with a store of its own directory, opened,
 * written, flushed, compacted and closed at the same time: each closes cleanly, and no
 * thread or file descriptor of a store outlives its close(): the process's descriptors
 * and threads are back where they were with the workers started, and back to the
 * baseline once the workers exited. Each worker's own counters of flush, merge and
 * compression threads (module state is per thread) read 0 after its close.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { StoreWorker } from './fixtures/worker-review-driver.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const WORKERS = 8;
const KEYS = 800;

const workers: StoreWorker[] = [];

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  removeTemporaryDirectories();
});

const descriptorCount = (): number => readdirSync('/proc/self/fd').length;
const threadCount = (): number => readdirSync('/proc/self/task').length;

describe('stores in eight worker threads at once', () => {
  it('each closes cleanly, leaving no thread or file descriptor behind', async () => {
    const baseline = { descriptors: descriptorCount(), threads: threadCount() };
    for (let index = 0; index < WORKERS; index++) workers.push(new StoreWorker());
    await Promise.all(workers.map((worker) => worker.call('threads'))); // each loaded and answering
    const started = { descriptors: descriptorCount(), threads: threadCount() };
    const directories = workers.map(() => temporaryDirectory());
    const reports = await Promise.all(workers.map(async (worker, index) => {
      // Small memtables: several flushes through the flush thread, then merges in the merge thread.
      await worker.call('open', { directory: directories[index], options: { memoryBudgetBytes: 2 * 1024 * 1024 } });
      await worker.call('useFlushThread');
      await worker.fill(`w${index}`, KEYS, 250);
      await worker.call('checkpoint');
      await worker.call('compact');
      const stats = (await worker.call('stats')).stats as { storage: { compaction: { compactions: number } } };
      await worker.call('close');
      return { compactions: stats.storage.compaction.compactions, threads: await worker.call('threads') };
    }));
    for (const report of reports) {
      expect(report.compactions).toBeGreaterThan(0);
      expect(report.threads).toMatchObject({ flush: 0, merge: 0, compression: 0 });
      expect(report.threads.threadFlushes).toBeGreaterThan(0); // the flush thread did run
    }
    expect({ descriptors: descriptorCount(), threads: threadCount() }).toEqual(started);
    for (const worker of workers.splice(0)) await worker.terminate();
    expect({ descriptors: descriptorCount(), threads: threadCount() }).toEqual(baseline);
    // Every store is whole: the main thread opens each and finds every key.
    for (const [index, directory] of directories.entries()) {
      const store = await openStore(directory);
      expect(await store.get(`w${index}-${String(KEYS - 1).padStart(6, '0')}`)).toEqual({ key: `w${index}-${String(KEYS - 1).padStart(6, '0')}` });
      await store.close();
    }
  });
});
