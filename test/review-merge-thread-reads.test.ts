/**
 * Review of the merge thread: reads across thread merges and their installs on the
 * real file system give exactly the model's answers. A seeded workload with the
 * smallest memory budget (flushes every few batches, so the policy merges in the
 * thread in the background) keeps a few snapshots open across merges, installs and
 * the unlinks of the inputs they read, and calls compact() whose progress callback
 * reads while the thread merges (live reads, held snapshots, as-of scans, a
 * transaction). Every answer is compared with a model (a Map per committed version).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { openStore, type Store, type StoreSnapshot } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { mulberry32 as random } from './support/seeded-random.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

const KEY_COUNT = 400;
const key = (index: number): string => `key-${String(index).padStart(4, '0')}`;
type State = ReadonlyMap<string, unknown>;

function sorted(state: State): [string, unknown][] {
  return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function collect(iterator: AsyncIterable<[string | Uint8Array, unknown]>): Promise<[string, unknown][]> {
  const entries: [string, unknown][] = [];
  for await (const [entryKey, value] of iterator) entries.push([entryKey as string, value]);
  return entries;
}

interface Held {
  snapshot: StoreSnapshot;
  state: State;
}

describe('reads across thread merges and installs (real file system, smallest budget)', () => {
  for (const seed of [7, 1234]) {
    it(`seed ${seed}: live reads, held snapshots, as-of scans and a transaction equal the model`, async () => {
      const next = random(seed);
      const directory = temporaryDirectory();
      const store: Store = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, maxVersionsPerKey: 2 });
      const states = new Map<number, State>(); // committed version -> state
      let current = new Map<string, unknown>();
      let lastVersion = 0;
      const held: Held[] = [];
      let threadSeen = false;
      let checks = 0;

      const checkAll = async (): Promise<void> => {
        if (mergeThreadsRunning() > 0) threadSeen = true;
        expect(await collect(store.scan())).toEqual(sorted(current));
        for (let probe = 0; probe < 5; probe++) {
          const index = Math.floor(next() * KEY_COUNT);
          expect(await store.get(key(index))).toEqual(current.get(key(index)));
        }
        for (const { snapshot, state } of held) {
          expect(await collect(snapshot.scan())).toEqual(sorted(state));
          expect(await collect(store.scan({ asOf: snapshot.version }))).toEqual(sorted(state)); // pinned: retained
          const index = Math.floor(next() * KEY_COUNT);
          expect(await snapshot.get(key(index))).toEqual(state.get(key(index)));
        }
        await store.transaction(async (tx) => {
          const index = Math.floor(next() * KEY_COUNT);
          expect(await tx.get(key(index))).toEqual(current.get(key(index)));
        });
        checks++;
      };

      for (let step = 0; step < 120; step++) {
        const operations = [];
        for (let count = 0; count < 40; count++) {
          const index = Math.floor(next() * KEY_COUNT);
          if (next() < 0.2) operations.push({ type: 'del' as const, key: key(index) });
          else operations.push({ type: 'put' as const, key: key(index), value: { index, step, pad: 'x'.repeat(Math.floor(next() * 200)) } });
        }
        const { version } = await store.batch(operations);
        current = new Map(current);
        for (const operation of operations) {
          if (operation.type === 'del') current.delete(operation.key);
          else current.set(operation.key, operation.value);
        }
        states.set(version, current);
        lastVersion = version;

        if (step % 9 === 4) {
          const snapshot = await store.snapshot();
          expect(snapshot.version).toBe(lastVersion);
          held.push({ snapshot, state: current });
        }
        if (held.length > 3 || (held.length > 0 && next() < 0.05)) {
          const [released] = held.splice(Math.floor(next() * held.length), 1);
          await released!.snapshot.release();
        }
        if (step % 10 === 9) await checkAll();
        if (step % 30 === 29) {
          let reading: Promise<void> | undefined;
          await store.compact({
            onProgress: () => {
              reading ??= checkAll(); // reads while the thread merges
            },
          });
          await reading;
          await checkAll(); // after the install and the inputs' unlinks
        }
      }
      await checkAll();
      for (const { snapshot } of held) await snapshot.release();
      expect(threadSeen).toBe(true);
      expect(store.stats().storage.compaction).toMatchObject({ failures: 0 });
      expect(store.stats().storage.compaction.compactions).toBeGreaterThan(4);
      expect(checks).toBeGreaterThan(10);
      await store.close();
      expect(mergeThreadsRunning()).toBe(0);
      expect(readdirSync(join(directory, 'runs')).every((name) => name.endsWith('.run'))).toBe(true);

      // Reopened: the latest state, exactly.
      const reopened = await openStore(directory, { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, maxVersionsPerKey: 2 });
      expect(await collect(reopened.scan())).toEqual(sorted(current));
      await reopened.close();
    }, 180_000);
  }
});
