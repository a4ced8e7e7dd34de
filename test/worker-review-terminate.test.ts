/**
 * A worker thread whose store is open ends abruptly: worker.terminate() while the store
 * is idle or committing, process.exit() inside the worker, or an uncaught throw; the
 * store never closed (mid-flush, -compaction and -backup:
 * test/worker-review-terminate-maintenance.test.ts). The process (same pid) lives on,
 * and its main thread opens the directory: the lock of the thread that ended is taken
 * over (its thread is gone: not a lock held by this live pid until the process exits),
 * every put the worker acknowledged is there, the store verifies clean, and nothing of
 * the worker's store is left in the process: no thread, no file descriptor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { endWorkerWhileBusy, expectAllThere, workers } from './fixtures/worker-review-ending.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  removeTemporaryDirectories();
});

describe('a worker thread ended with its store open, the process alive', () => {
  for (const ending of ['terminate', 'exit', 'throw'] as const) {
    it(`idle, never closed (${ending})`, async () => {
      const directory = temporaryDirectory();
      const acknowledged = await endWorkerWhileBusy(directory, (worker) => worker.fill('idle', 200, 50), { ending });
      await expectAllThere(directory, acknowledged);
    });
  }

  it('mid-commit: puts in flight from 8 writers', async () => {
    const directory = temporaryDirectory();
    const acknowledged = await endWorkerWhileBusy(directory, async (worker) => {
      await worker.putStream({ prefix: 'commit', count: 1_000_000, concurrency: 8 }, 300).acknowledgedAfter;
    });
    await expectAllThere(directory, acknowledged);
  });

  it('mid-commit: a group written to the WAL, its fdatasync held', async () => {
    const directory = temporaryDirectory();
    const acknowledged = await endWorkerWhileBusy(directory, async (worker) => {
      await worker.fill('synced', 200, 20);
      await worker.call('holdFileCall', { call: 'handle.datasync', pattern: '/wal/wal-\\d+\\.log$' });
      void worker.putStream({ prefix: 'unsynced', count: 100, concurrency: 4 }, 1);
      await worker.held();
    }, { gatedFileSystem: true });
    expect(acknowledged.filter((key) => key.startsWith('unsynced'))).toEqual([]);
    await expectAllThere(directory, acknowledged);
  });
});
