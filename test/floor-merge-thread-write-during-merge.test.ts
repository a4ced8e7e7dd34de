/**
 * floor-merge-write-during-merge's first case with the merge in the merge thread (real
 * file system, built worker): the thread reports the keys whose delete at the floor it
 * dropped by the per-key count with its counters, and the install, on the main thread,
 * merges again when one of them was written during the merge. maxVersionsPerKey 1: c at
 * 2, c deleted at 3, flushed; compact({ retainFrom: 3 }) of every run, c put at 4 while
 * it merges: c as of 3 stays refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { MergeThread } from '../src/compaction/merge-thread.js';
import { openStore, type Store } from '../src/index.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const directories: string[] = [];

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.mergeThread = 'worker';
  vi.restoreAllMocks();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function readAsOf(store: Store, key: string, version: number): Promise<unknown> {
  try {
    return await store.get(key, { asOf: version });
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('floor-merge: a write during a thread merge that drops the delete at the floor', () => {
  it('the thread reports the key; c as of the floor stays refused after the install', async () => {
    compactionSettings.mergeThread = 'worker';
    const directory = mkdtempSync(join(tmpdir(), 'floor-merge-thread-'));
    directories.push(directory);
    const merges = vi.spyOn(MergeThread.prototype, 'merge');
    const store = await openStore(directory, { maxVersionsPerKey: 1 });
    try {
      await store.put('a', 'a1');
      await store.put('c', 'c2');
      await store.delete('c'); // version 3
      await store.checkpoint();
      compactionTestHooks.onHorizon = async () => {
        compactionTestHooks.onHorizon = undefined;
        await store.put('c', 'c4');
      };
      const result = await store.compact({ retainFrom: 3 });
      expect(result).toMatchObject({ outcome: 'compacted', retentionFloor: 3 });
      expect(merges.mock.calls.length, 'merged in the thread').toBeGreaterThanOrEqual(1);
      const first = await (merges.mock.results[0]!.value as ReturnType<MergeThread['merge']>);
      expect(first.counters.floorDeleteKeys, 'the thread\'s first merge dropped c\'s delete and said so').toEqual(['c']);
      expect(await readAsOf(store, 'c', 3), 'c as of 3 after the install').toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(await readAsOf(store, 'c', 4)).toBe('c4');
      expect(await readAsOf(store, 'a', 3)).toBe('a1');
    } finally {
      await store.close();
    }
  });
});
