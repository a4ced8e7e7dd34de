/**
 * A watcher across close and reopen: two writers commit puts and deletes (and start
 * compactions) on a store with the smallest memory budget; the store is closed under
 * the watcher (its feed ends with StoreClosedError) and reopened, and a new feed
 * resumes from the last delivered version, catching up from the runs the close
 * checkpointed (random catch-up batch sizes). Six rounds, then the rest is drained.
 * What must hold: the concatenated feeds are exactly the acknowledged commits in
 * version order, none skipped or repeated.
 */
import { describe, expect, it } from 'vitest';
import { openStore, StoreClosedError, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { MEMORY_BUDGET_BYTES_MIN, WAL_CHECKPOINT_BYTES_MIN } from '../src/limits.js';

const ticks = async (count: number) => { for (let tick = 0; tick < count; tick++) await new Promise((resolve) => setImmediate(resolve)); };

describe('watch across close and reopen', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: the resumed feeds deliver every commit once, in order`, async () => {
      const random = new SeededRandom(seed);
      const fault = new FaultFileSystem(seed);
      const options = { fileSystem: fault, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, walCheckpointBytes: WAL_CHECKPOINT_BYTES_MIN, segmentSizeBytes: 1 << 20 };
      const commits: string[] = [];
      const delivered: string[] = [];
      let lastDelivered = 0;
      let store: Store = await openStore('/db', options);
      const pad = 'y'.repeat(500);
      for (let round = 0; round < 6; round++) {
        const current = store;
        const watching = (async () => {
          try {
            for await (const change of current.watch({ sinceVersion: lastDelivered, catchUpBatchChanges: random.nextIntInclusive(1, 50) })) {
              delivered.push(`${change.version}:${change.key as string}:${change.deleted ? 'del' : JSON.stringify(change.value)}`);
              lastDelivered = change.version;
              if (random.chance(0.1)) await ticks(1);
            }
          } catch (error) {
            if (!(error instanceof StoreClosedError)) throw error;
          }
        })();
        const writers = [1, 2].map(async (id) => {
          for (let step = 0; step < 60; step++) {
            await ticks(random.nextIntInclusive(0, 1));
            const key = `k${random.nextIntInclusive(0, 9)}`;
            if (random.chance(0.2)) {
              const { version } = await current.delete(key);
              commits.push(`${version}:${key}:del`);
            } else {
              const value = `${round}-${id}-${step}-${pad}`;
              const { version } = await current.put(key, value);
              commits.push(`${version}:${key}:${JSON.stringify(value)}`);
            }
            if (random.chance(0.05)) void current.compact().catch(() => undefined);
          }
        });
        await Promise.all(writers);
        // Let the watcher get some of it, then close under it.
        await ticks(random.nextIntInclusive(0, 20));
        await current.close();
        await watching;
        store = await openStore('/db', options);
      }
      // Drain the rest on the last store.
      const end = store.version;
      for await (const change of store.watch({ sinceVersion: lastDelivered, untilVersion: end })) {
        delivered.push(`${change.version}:${change.key as string}:${change.deleted ? 'del' : JSON.stringify(change.value)}`);
      }
      await store.close();
      const expected = [...commits].sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0]));
      const index = delivered.findIndex((entry, position) => entry !== expected[position]);
      expect({ length: delivered.length, index, got: delivered[index]?.slice(0, 30), want: expected[index]?.slice(0, 30) }).toEqual({ length: expected.length, index: -1, got: undefined, want: undefined });
    }, 120_000);
  }
});
