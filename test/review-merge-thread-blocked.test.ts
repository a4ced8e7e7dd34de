/**
 * Review of the merge thread: close() must not hang on a merge thread blocked in a
 * system call (a hung disk). Worker#terminate only takes effect when the thread's
 * JavaScript runs again, so a thread inside a blocking open/fsync (the worker syncs
 * inline) never exits while the call blocks; close() awaited that exit, so the grace
 * timer (mergeThreadSettings.cancelGraceMs) did not bound close() at all. Now close()
 * waits for the exit at most mergeThreadSettings.terminateGraceMs.
 *
 * The hung disk: after the main thread opened the inputs' readers (before the merge),
 * one input's path is replaced by a FIFO, so the thread's open() of it blocks until a
 * writer opens the FIFO. The test opens it only after close() returned (or, on the
 * old code, from a safety timer, which then fails the test instead of hanging it).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { mergeThreadSettings, mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { openStore, StoreClosedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Only a safety net against hanging the suite: the test fails when it fires. */
const SAFETY_UNBLOCK_MS = 30_000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  mergeThreadSettings.cancelGraceMs = 5_000;
  mergeThreadSettings.terminateGraceMs = 5_000;
  compactionTestHooks.onHorizon = undefined;
  removeTemporaryDirectories();
});

/** Lets the thread's blocked open() of the FIFO return (a writer appears). */
function unblock(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader blocked on it (any more).
  }
}

/** Threads of this process blocked in a FIFO's open(), waiting for the other end. */
function threadsWaitingForFifoWriter(): number {
  return readdirSync('/proc/self/task').filter((task) => {
    try {
      return readFileSync(`/proc/self/task/${task}/wchan`, 'utf8').trim() === 'wait_for_partner';
    } catch {
      return false;
    }
  }).length;
}

describe.runIf(process.platform === 'linux')('a merge thread blocked in a system call (a hung disk)', () => {
  it('close() returns after the grace periods; the merge rejects, nothing is installed, the thread ends once the call returns', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) {
      const operations = [];
      for (let index = 0; index < 2000; index++) operations.push({ type: 'put' as const, key: `key-${index}`, value: round });
      await store.batch(operations);
      await store.checkpoint();
    }
    const inputs = readdirSync(join(directory, 'runs')).sort();
    expect(inputs).toHaveLength(3);
    let count = 0;
    for await (const _entry of store.scan()) count++; // the main thread's readers of every run are open
    expect(count).toBe(2000);
    const fifo = join(directory, 'runs', inputs[0]!);
    compactionTestHooks.onHorizon = () => {
      renameSync(fifo, `${fifo}.saved`); // the main thread's reader keeps the file
      execFileSync('mkfifo', [fifo]);
    };
    mergeThreadSettings.cancelGraceMs = 50;
    mergeThreadSettings.terminateGraceMs = 50;
    const compacting = store.compact();
    compacting.catch(() => undefined);
    await vi.waitFor(() => expect(mergeThreadsRunning()).toBe(1), { timeout: 30_000, interval: 5 });
    await vi.waitFor(() => expect(existsSync(`${fifo}.saved`)).toBe(true), { timeout: 30_000, interval: 5 });

    // The thread is inside open() of the FIFO, waiting for a writer (Linux: wchan wait_for_partner).
    await vi.waitFor(() => expect(threadsWaitingForFifoWriter()).toBe(1), { timeout: 30_000, interval: 5 });
    let safetyFired = false;
    const safety = setTimeout(() => {
      safetyFired = true;
      unblock(fifo);
    }, SAFETY_UNBLOCK_MS);
    try {
      await store.close();
      expect(safetyFired).toBe(false); // close() returned while the thread was still blocked
      await expect(compacting).rejects.toBeInstanceOf(StoreClosedError);
      expect(store.stats().storage.compaction).toMatchObject({ compactions: 0, cancelled: 1, failures: 0 });
    } finally {
      clearTimeout(safety);
      unblock(fifo);
    }
    // Its call returned: the terminated thread ends without writing anything more.
    await vi.waitFor(() => expect(mergeThreadsRunning()).toBe(0), { timeout: 30_000, interval: 10 });
    const files = readdirSync(join(directory, 'runs')).sort();
    expect(files.filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(files.filter((name) => name.endsWith('.run') && !inputs.includes(name))).toEqual([]); // no output
  }, 120_000);
});
