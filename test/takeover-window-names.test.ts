/**
 * Between a takeover of its directory lock and the heartbeat that finds it (up to
 * LOCK_HEARTBEAT_INTERVAL_MS), the old holder's main thread was not fenced: it went on
 * renaming and unlinking in the directory the new holder owns. The new holder opens from
 * the manifest and hands out the run ids the old holder also hands out, so a compaction
 * of the old holder in that window renamed its output over the new holder's run of the
 * same id and unlinked its inputs, which the new holder lists as live: the new holder's
 * committed key was gone and its reads of the merged-away runs failed. Now every rename,
 * link and unlink first confirms the lock (src/store/lock-holder-check.ts): the old
 * holder's compaction is refused and it learns of the takeover then.
 *
 * The takeover is simulated in one process, as in takeover-thread-fence.test.ts: the old
 * holder's lock file is rewritten as another host's that missed its heartbeats, and a
 * second handle takes it over. The old holder's heartbeat never runs here (its interval
 * is 10 s): the compaction comes before it, in the window.
 */
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { makeLockStale } from './support/lock-takeover.js';

const stores: Store[] = [];
const KEYS = 3000;
const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
});

afterEach(async () => {
  compactionSettings.mergeThread = 'worker';
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

async function open(directory: string): Promise<Store> {
  const store = await openStore(directory);
  stores.push(store);
  return store;
}

function runFiles(directory: string): Map<string, Buffer> {
  const runs = join(directory, 'runs');
  return new Map(readdirSync(runs).sort().map((name) => [name, readFileSync(join(runs, name))]));
}

describe('the old holder, before its heartbeat found the takeover', () => {
  for (const mergeThread of ['main', 'worker'] as const) {
    it(`renames and unlinks nothing of the new holder's (merge on ${mergeThread === 'main' ? 'the main thread' : 'the merge thread'})`, async () => {
      vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      compactionSettings.mergeThread = mergeThread;
      const directory = temporaryDirectory();
      const old = await open(directory);
      for (let round = 0; round < 2; round++) {
        for (let start = 0; start < KEYS; start += 500) {
          const operations = [];
          for (let index = start; index < start + 500; index++) operations.push({ type: 'put' as const, key: key(index), value: { round, index } });
          await old.batch(operations);
        }
        await old.checkpoint();
      }
      makeLockStale(directory);
      const newHolder = await open(directory);
      await newHolder.put('mine', Buffer.alloc(64, 7));
      await newHolder.checkpoint();
      const before = runFiles(directory);
      expect(before.size, 'the two runs both list, and the new holder\'s').toBe(3);
      // The old holder compacts its two runs into a run of the id the new holder just used.
      const compaction = await old.compact().then(() => 'resolved', (error: unknown) => error);
      expect(compaction, 'the old holder\'s compaction is refused').toBeInstanceOf(Error);
      const after = runFiles(directory);
      expect([...after.keys()], 'no run file added or removed').toEqual([...before.keys()]);
      for (const [name, bytes] of before) expect(after.get(name)!.equals(bytes), `${name} unchanged`).toBe(true);
      // The refusal asks the old holder's heartbeat to run now, and that heartbeat (reads of
      // the lock files) fails the store: awaited up to 20 s, not 1 s, which the heartbeat's
      // disk reads could outlast on a loaded machine.
      await vi.waitFor(() => expect(old.stats().failed, 'the old holder learned of the takeover').toBe(true), { timeout: 20_000, interval: 10 });
      expect(await newHolder.get('mine')).toEqual(Buffer.alloc(64, 7));
      expect(await newHolder.get(key(123))).toEqual({ round: 1, index: 123 });
      await newHolder.close();
      const reopened = await open(directory);
      expect(await reopened.get('mine')).toEqual(Buffer.alloc(64, 7));
      expect(await reopened.get(key(2999))).toEqual({ round: 1, index: 2999 });
    }, 60_000);
  }
});
