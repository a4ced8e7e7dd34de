/**
 * A watch that catches up from far behind reads history in time linear in how far, not
 * quadratic. Each catch-up batch used to be one pass over the range's whole retained
 * history (the batch's smallest changes, values included), so a catch-up over C changes
 * read about C x C / batchChanges entries: a consumer reconnecting after downtime (etcd's
 * watch from an old revision) could not help it. An index pass now keeps the next changes
 * without their values and the batches read each value back (src/watch/catch-up.ts).
 *
 * Counted, not timed: catchUpReads.entries (history entries passes and reads went through)
 * per change delivered, for catch-ups of 50,000 and 200,000 changes over runs and a
 * memtable, at the default batch. And the index stays bounded: with its budget lowered the
 * catch-up makes several index passes, holds at most about twice the budget, and delivers
 * the same changes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT, WATCH_CATCH_UP_INDEX_BYTES_MAX } from '../src/limits.js';
import { CATCH_UP_INDEX_ENTRY_BYTES, catchUpIndexLimit, catchUpMemory, catchUpReads } from '../src/watch/catch-up.js';

const KEYS = 2_000;
const CHANGES_PER_COMMIT = 1_000;
/**
 * Entries read per change delivered, whatever the distance: one for the index pass, one a
 * change read from a memtable, and for a change in a run its key's entries in the blocks
 * its read goes through (this key's 12 or so versions in a run, read about once a batch).
 * Measured: 4.5 and 6.6 (a catch-up that made one pass a batch read 10 and 28).
 */
const ENTRIES_PER_CHANGE_MAX = 8;
const stores: Store[] = [];

afterEach(async () => {
  catchUpIndexLimit.bytes = WATCH_CATCH_UP_INDEX_BYTES_MAX;
  for (const store of stores.splice(0)) await store.close();
});

const keyOf = (index: number): string => `k/${String(index).padStart(5, '0')}`;

/** `changes` changes (a delete every 10th) of KEYS keys, a run every 25,000 of them, the rest in the memtable. */
async function storeWithHistory(changes: number): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(changes), memoryBudgetBytes: 256 * 1024 * 1024, walCheckpointBytes: 1024 * 1024 * 1024 });
  stores.push(store);
  for (let commit = 0; commit * CHANGES_PER_COMMIT < changes; commit++) {
    await store.batch(Array.from({ length: CHANGES_PER_COMMIT }, (_, index) => {
      const key = keyOf((commit * 389 + index) % KEYS);
      return index % 10 === 9 ? { type: 'del' as const, key } : { type: 'put' as const, key, value: commit * CHANGES_PER_COMMIT + index };
    }));
    if ((commit + 1) % 25 === 0 && (commit + 1) * CHANGES_PER_COMMIT < changes) await store.checkpoint();
  }
  await store.put('outside', 1); // outside the watched range
  return store;
}

/** Catches up over the whole history: changes delivered (checked in order, each once) and entries read. */
async function catchUp(store: Store, options: { catchUpBatchChanges?: number } = {}): Promise<{ delivered: number; entries: number; indexPasses: number; seen: string[] }> {
  const entriesBefore = catchUpReads.entries;
  const passesBefore = catchUpReads.indexPasses;
  let delivered = 0;
  const seen: string[] = [];
  let previous = { version: 0, key: '' };
  for await (const change of store.watch({ gte: 'k/', lt: 'k0', sinceVersion: 0, untilVersion: store.version, ...options })) {
    const key = change.key as string;
    if (change.version < previous.version || (change.version === previous.version && key <= previous.key)) throw new Error(`out of order: ${change.version} ${key} after ${previous.version} ${previous.key}`);
    if (change.deleted !== (change.value === undefined)) throw new Error('a delete has no value');
    previous = { version: change.version, key };
    delivered++;
    if (delivered <= 20_000) seen.push(`${change.version} ${key} ${String(change.value)}`);
  }
  return { delivered, entries: catchUpReads.entries - entriesBefore, indexPasses: catchUpReads.indexPasses - passesBefore, seen };
}

describe('a watch catching up from far behind', () => {
  it.each([50_000, 200_000])('reads a bounded number of history entries per change over %i changes', async (changes) => {
    const store = await storeWithHistory(changes);
    catchUpMemory.changesHeldMax = 0;
    const { delivered, entries } = await catchUp(store);
    expect(delivered).toBe(changes);
    const perChange = entries / delivered;
    console.log(`catch-up over ${changes} changes: ${entries} entries read, ${perChange.toFixed(2)} per change`);
    expect(perChange).toBeLessThanOrEqual(ENTRIES_PER_CHANGE_MAX);
    expect(catchUpReads.indexPasses).toBeGreaterThan(0);
    expect(catchUpMemory.changesHeldMax).toBeLessThanOrEqual(WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT);
  }, 60_000);

  it('keeps its index within the budget, in several index passes, delivering the same changes', async () => {
    const store = await storeWithHistory(20_000);
    const whole = await catchUp(store, { catchUpBatchChanges: 500 });
    expect(whole).toMatchObject({ delivered: 20_000, indexPasses: 1 });
    // About 2,000 indexed changes (of 7-byte keys) a pass.
    catchUpIndexLimit.bytes = 2_000 * (CATCH_UP_INDEX_ENTRY_BYTES + 7);
    catchUpMemory.indexBytesHeldMax = 0;
    catchUpMemory.indexHeldMax = 0;
    const cut = await catchUp(store, { catchUpBatchChanges: 500 });
    expect(cut.delivered).toBe(20_000);
    expect(cut.seen).toEqual(whole.seen);
    expect(cut.indexPasses).toBe(10);
    expect(catchUpMemory.indexHeldMax).toBeLessThanOrEqual(2 * 2_000);
    expect(catchUpMemory.indexBytesHeldMax).toBeLessThanOrEqual(2 * catchUpIndexLimit.bytes);
  }, 60_000);
});
