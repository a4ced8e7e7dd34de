/**
 * Open/close cycles of one store and of fresh ones, each leaving readers behind as a
 * careless application does: a scan opened and never returned, a snapshot never
 * released (with a scan of it paused), a watch cancelled after one change, a transaction
 * that throws, a lease acquired and renewed but not released, and every other close not
 * awaited until the next cycle. After each batch of cycles: no more descriptors than
 * before, no handle left in the event loop (process.getActiveResourcesInfo), and no flush,
 * merge or compression thread running; the data of the last cycle is all there.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { flushThreadsRunning } from '../src/engine/flush-thread-workers.js';
import { openStore } from '../src/index.js';
import { compressionThreadsRunning } from '../src/run/compression-pool.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const CYCLES = 30;

function descriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The event loop's referenced handles and requests, by kind (vitest's own pipes and timers included). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

describe.runIf(process.platform === 'linux')('open/close cycles with readers left behind', () => {
  it('leave no descriptor, event-loop handle or thread behind', async () => {
    const directory = temporaryDirectory();
    const descriptorsBefore = descriptors();
    const timersBefore = activeResources().get('Timeout') ?? 0;
    let unawaitedClose: Promise<void> | undefined;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      // A store of its own when its close is not awaited (the shared directory's lock is held until it ends).
      const unawaited = cycle % 2 === 0;
      const store = await openStore(unawaited ? temporaryDirectory() : directory, { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 64 * 1024 });
      const operations = [];
      for (let index = 0; index < 300; index++) operations.push({ type: 'put' as const, key: `key-${index}`, value: `cycle ${cycle}` });
      await store.batch(operations);
      if (cycle % 3 === 0) await store.checkpoint();
      const scan = store.scan({ gte: 'key-' })[Symbol.asyncIterator]();
      expect((await scan.next()).done).toBe(false);
      const snapshot = await store.snapshot();
      const snapshotScan = snapshot.scan({})[Symbol.asyncIterator]();
      expect((await snapshotScan.next()).done).toBe(false);
      const feed = store.watch({ gte: 'key-' })[Symbol.asyncIterator]();
      const change = feed.next();
      await store.put('key-1', `watched ${cycle}`);
      expect((await change).value).toMatchObject({ key: 'key-1' });
      await feed.return?.();
      await expect(store.transaction(async (tx) => {
        await tx.get('key-2');
        tx.put('key-3', 'never');
        throw new Error('the body fails');
      })).rejects.toThrow('the body fails');
      const lease = await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 600_000 });
      await store.leases.renew('jobs/nightly', { owner: 'worker-7', token: lease.token });
      if (unawaited) {
        unawaitedClose = store.close();
      } else {
        await unawaitedClose;
        await store.close();
        if (cycle % 10 === 9) {
          expect(descriptors(), `descriptors after cycle ${cycle}`).toBeLessThanOrEqual(descriptorsBefore);
          // Stdio pipes are made lazily, on their descriptors (counted above); a file request may be in flight.
          const handles = activeResources();
          expect([...handles.keys()].filter((kind) => kind !== 'PipeWrap' && kind !== 'FSReqCallback' && kind !== 'Timeout'), `handles after cycle ${cycle}`).toEqual([]);
          expect(handles.get('Timeout') ?? 0, `referenced timers after cycle ${cycle}`).toBeLessThanOrEqual(timersBefore);
          expect([flushThreadsRunning(), mergeThreadsRunning(), compressionThreadsRunning()]).toEqual([0, 0, 0]);
        }
      }
    }
    await unawaitedClose;
    const reopened = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    expect(await reopened.get('key-299')).toBe(`cycle ${CYCLES - 1}`);
    expect(await reopened.get('key-3')).toBe(`cycle ${CYCLES - 1}`);
    await reopened.close();
    expect(descriptors()).toBeLessThanOrEqual(descriptorsBefore);
  }, 60_000);
});
