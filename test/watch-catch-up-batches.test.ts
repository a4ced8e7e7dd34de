/**
 * Watch catch-up in bounded batches (src/watch/catch-up.ts): a catch-up over many
 * more changes than one batch delivers every change exactly once, in (version, key)
 * order, across runs and memtables, batches that end inside a multi-key commit, and
 * deletes; and never holds more than twice the batch size at once (the internal
 * catchUpMemory counter, not the process's memory).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Change, ErrorCode, InvalidOptionError, openStore, type Store } from '../src/index.js';
import { catchUpMemory } from '../src/watch/catch-up.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);
beforeEach(() => {
  catchUpMemory.changesHeldMax = 0;
});

const OPTIONS = { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 };
const BATCH_CHANGES = 16;

/** What the store holds after `write`: every change in (version, key) order, from history. */
interface Expected { version: number; key: string; deleted: boolean; value?: unknown }

async function writeHistory(store: Store): Promise<Expected[]> {
  const expected: Expected[] = [];
  const keys = Array.from({ length: 40 }, (_, index) => `k/${String(index).padStart(3, '0')}`);
  // Single puts, then a checkpoint (into a run), then multi-key batches (one version,
  // many keys: batch boundaries fall inside a commit), deletes, more single puts.
  for (const [index, key] of keys.entries()) {
    const { version } = await store.put(key, index);
    expected.push({ version, key, value: index, deleted: false });
  }
  await store.checkpoint();
  for (let round = 0; round < 6; round++) {
    const chosen = keys.filter((_, index) => (index + round) % 3 === 0);
    const { version } = await store.batch(chosen.map((key) => ({ type: 'put', key, value: `r${round}` })));
    for (const key of [...chosen].sort()) expected.push({ version, key, value: `r${round}`, deleted: false });
  }
  for (const key of keys.slice(0, 10)) {
    const { version } = await store.delete(key);
    expected.push({ version, key, deleted: true });
  }
  await store.put('outside', 0); // outside the watched range
  return expected.sort((left, right) => left.version - right.version || (left.key < right.key ? -1 : 1));
}

async function collect(store: Store, untilVersion: number, options: { catchUpBatchChanges?: number; sinceVersion?: number }): Promise<Change[]> {
  const changes: Change[] = [];
  for await (const change of store.watch({ gte: 'k/', lt: 'k0', untilVersion, sinceVersion: 0, ...options })) changes.push(change);
  return changes;
}

describe('watch catch-up in bounded batches', () => {
  it('delivers every change once, in order, over many batches, holding at most twice a batch', async () => {
    const store = await openStore(temporaryDirectory(), { ...OPTIONS, maxVersionsPerKey: 1000 });
    try {
      const expected = await writeHistory(store);
      expect(expected.length).toBeGreaterThan(5 * BATCH_CHANGES); // 130 changes: 9 batches
      const changes = await collect(store, store.version, { catchUpBatchChanges: BATCH_CHANGES });
      expect(changes.map(({ version, key, deleted }) => ({ version, key, deleted }))).toEqual(
        expected.map(({ version, key, deleted }) => ({ version, key, deleted })),
      );
      expect(changes.filter((change) => !change.deleted).map((change) => change.value)).toEqual(
        expected.filter((change) => !change.deleted).map((change) => change.value),
      );
      expect(catchUpMemory.changesHeldMax).toBeGreaterThan(0);
      expect(catchUpMemory.changesHeldMax).toBeLessThanOrEqual(2 * BATCH_CHANGES);
    } finally {
      await store.close();
    }
  });

  it('the same changes whatever the batch size (1, a few, one batch for all), also from a later sinceVersion', async () => {
    const store = await openStore(temporaryDirectory(), { ...OPTIONS, maxVersionsPerKey: 1000 });
    try {
      await writeHistory(store);
      const untilVersion = store.version;
      const whole = await collect(store, untilVersion, { catchUpBatchChanges: 65_536 });
      for (const batchChanges of [1, 3, 7]) {
        catchUpMemory.changesHeldMax = 0;
        expect(await collect(store, untilVersion, { catchUpBatchChanges: batchChanges })).toEqual(whole);
        expect(catchUpMemory.changesHeldMax).toBeLessThanOrEqual(2 * batchChanges);
      }
      const since = whole[50]!.version;
      expect(await collect(store, untilVersion, { catchUpBatchChanges: 5, sinceVersion: since })).toEqual(whole.filter((change) => change.version > since));
    } finally {
      await store.close();
    }
  });

  it('live commits made during a long catch-up follow it, none twice, none skipped', async () => {
    const store = await openStore(temporaryDirectory(), { ...OPTIONS, maxVersionsPerKey: 1000 });
    try {
      const expected = await writeHistory(store);
      const feed = store.watch({ gte: 'k/', lt: 'k0', sinceVersion: 0, catchUpBatchChanges: 4 });
      const seen: Change[] = [];
      for (let index = 0; index < 5; index++) seen.push((await feed.next()).value as Change);
      const { version } = await store.put('k/live', 'late'); // mid catch-up: after the start version
      for (;;) {
        const next = await feed.next();
        seen.push(next.value as Change);
        if (seen.at(-1)!.version === version) break;
      }
      await feed.return(undefined);
      expect(seen.map((change) => [change.version, change.key])).toEqual([
        ...expected.map((change) => [change.version, change.key]),
        [version, 'k/live'],
      ]);
    } finally {
      await store.close();
    }
  });

  it('catch-up stops at untilVersion (no change above it is delivered)', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    try {
      for (const key of ['k/a', 'k/b', 'k/c', 'k/d', 'k/e']) await store.put(key, key);
      const changes: Change[] = [];
      for await (const change of store.watch({ sinceVersion: 1, untilVersion: 3, catchUpBatchChanges: 2 })) changes.push(change);
      expect(changes.map((change) => [change.version, change.key])).toEqual([[2, 'k/b'], [3, 'k/c']]);
    } finally {
      await store.close();
    }
  });

  it('refuses a batch size out of bounds with InvalidOptionError', async () => {
    const store = await openStore(temporaryDirectory(), OPTIONS);
    try {
      for (const catchUpBatchChanges of [0, 1.5, 65_537, '8']) {
        let error: unknown;
        try {
          store.watch({ catchUpBatchChanges: catchUpBatchChanges as number }); // refused at the call
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
      }
    } finally {
      await store.close();
    }
  });
});
