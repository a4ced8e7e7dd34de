/**
 * Review of the merge thread: repeated open/write/close cycles of one store, each
 * open starting the merge the policy wants in the thread and each close cancelling
 * it (held, so every cycle cancels one in flight): no thread outlives a close and no
 * file descriptor into the store's directory is left open (the thread's inputs and
 * temporary output included), and the data is all there at the end.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { mergeThreadsRunning, mergeThreadTestHooks } from '../src/compaction/merge-thread.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  mergeThreadTestHooks.holdNextMerge = false;
  removeTemporaryDirectories();
});

/** Descriptors of this process open on files under `directory`. */
function descriptorsInto(directory: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(directory)) open.push(target);
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return open;
}

describe.runIf(process.platform === 'linux')('open/close cycles with a thread merge cancelled each time', () => {
  it('no thread and no descriptor into the store outlives a close; every write is there', async () => {
    const directory = temporaryDirectory();
    let store = await openStore(directory, OPTIONS);
    let cancelledMerges = 0;
    for (let cycle = 0; cycle < 8; cycle++) {
      for (let round = 0; round < 2; round++) {
        const operations = [];
        for (let index = 0; index < 1500; index++) operations.push({ type: 'put' as const, key: `key-${index}`, value: cycle * 10 + round });
        await store.batch(operations);
        await store.checkpoint();
      }
      expect(descriptorsInto(directory).length).toBeGreaterThan(0); // the check sees the open store's files
      await store.close();
      cancelledMerges += store.stats().storage.compaction.cancelled;
      expect(mergeThreadsRunning()).toBe(0);
      expect(descriptorsInto(directory)).toEqual([]);
      // The next open starts the policy's merge in the thread and holds it until close cancels it.
      mergeThreadTestHooks.holdNextMerge = true;
      store = await openStore(directory, OPTIONS);
      if (store.stats().storage.compaction.running) {
        await vi.waitFor(() => expect(mergeThreadTestHooks.holdNextMerge).toBe(false), { timeout: 30_000, interval: 5 });
      }
      mergeThreadTestHooks.holdNextMerge = false;
    }
    expect(cancelledMerges).toBeGreaterThan(0);
    for (let index = 0; index < 1500; index += 37) expect(await store.get(`key-${index}`)).toBe(71);
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
    expect(descriptorsInto(directory)).toEqual([]);
    expect(readdirSync(join(directory, 'runs')).every((name) => name.endsWith('.run'))).toBe(true);
  }, 120_000);
});
