/**
 * A worker thread whose store is open is terminated while its store flushes (the flush
 * thread held part-way through a run), compacts (the merge thread held part-way through
 * its output) or takes a backup (held before linking a run into it); the store never
 * closed. As in test/worker-review-terminate.test.ts, the main thread then opens the
 * directory: the lock taken over, every acknowledged put there, the store verifies clean,
 * and no thread or file descriptor of the worker's store is left in the process.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endWorkerWhileBusy, expectAllThere, workers } from './fixtures/worker-review-ending.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  removeTemporaryDirectories();
});

describe('a worker thread ended with its store open mid-maintenance, the process alive', () => {
  it('mid-flush: the flush thread held part-way through a run', async () => {
    const directory = temporaryDirectory();
    const acknowledged = await endWorkerWhileBusy(directory, async (worker) => {
      await worker.fill('flush', 4000);
      await worker.call('holdFlush');
      void worker.request('checkpoint');
      await worker.held();
      await worker.fill('after-hold', 100); // commits go on while the flush is held
    });
    await expectAllThere(directory, acknowledged);
  });

  it('mid-compaction: the merge thread held part-way through its output', async () => {
    const directory = temporaryDirectory();
    const acknowledged = await endWorkerWhileBusy(directory, async (worker) => {
      // Two runs of 5000 entries, the same keys. Whichever merge comes first (a background
      // one, or compact()'s) is held after its first progress (MERGE_WORKER_YIELD_ENTRIES read).
      await worker.call('holdMerge');
      const held = worker.held();
      for (let round = 0; round < 2; round++) {
        await worker.fill('merge', 5000);
        if (await Promise.race([worker.request('checkpoint'), held.then(() => 'held')]) === 'held') break;
      }
      void worker.request('compact');
      await held;
    });
    await expectAllThere(directory, acknowledged);
  });

  it('mid-backup: run files being linked into the backup', async () => {
    const directory = temporaryDirectory();
    const target = join(temporaryDirectory(), 'backup');
    const acknowledged = await endWorkerWhileBusy(directory, async (worker) => {
      await worker.fill('backup', 1000);
      await worker.call('checkpoint');
      await worker.call('holdFileCall', { call: 'link', pattern: '/backup/runs/' });
      void worker.request('backup', { target });
      await worker.held();
    }, { gatedFileSystem: true });
    await expectAllThere(directory, acknowledged);
    // The unfinished backup says so, and is no backup (README: backups).
    expect(readdirSync(target)).toContain('BACKUP-INCOMPLETE');
  });
});
