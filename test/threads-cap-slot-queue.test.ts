/**
 * The process-wide bound on merge threads (src/compaction/merge-thread-slots.ts) with
 * several stores in one process: a merge that finds every slot held waits its turn with
 * no thread; its store's close() ends that wait at once and never waits on the other
 * store's merge, which goes on unaffected; when the holder's merge ends, its thread
 * gives the slot to the next waiter, whose merge then runs in a thread.
 *
 * No timing: the holder's merge is held in its thread (mergeThreadTestHooks.holdNextMerge);
 * the waits are observed through mergeThreadSlotCounts(), stepping the event loop.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mergeThreadSlotCounts, mergeThreadSlotSettings } from '../src/compaction/merge-thread-slots.js';
import { MergeThread, mergeThreadsRunning, mergeThreadTestHooks, resumeHeldMerges } from '../src/compaction/merge-thread.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024 };
/** Keys per flushed run: three runs give a merge several progress messages (it is held at the first). */
const KEYS_PER_RUN = 3000;
const DEFAULT_MAX = mergeThreadSlotSettings.max;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

const opened: Store[] = [];

afterEach(async () => {
  resumeHeldMerges();
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
  mergeThreadSlotSettings.max = DEFAULT_MAX;
  mergeThreadTestHooks.holdNextMerge = false;
  mergeThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;

/** A store of three flushed runs (no background merge: the policy merges four), every key's last value `name:2`. */
async function storeOfThreeRuns(name: string): Promise<Store> {
  const store = await openStore(temporaryDirectory(), OPTIONS);
  opened.push(store);
  for (let round = 0; round < 3; round++) {
    for (let start = 0; start < KEYS_PER_RUN; start += 500) {
      const operations = [];
      for (let index = start; index < start + 500; index++) operations.push({ type: 'put' as const, key: key(index), value: `${name}:${round}` });
      await store.batch(operations);
    }
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(3);
  return store;
}

/** Turns the event loop until `condition` holds (at most `turns` turns: a merge's start takes a few). */
async function until(condition: () => boolean, turns = 100_000): Promise<void> {
  for (let turn = 0; turn < turns && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

/** Arms holdNextMerge; resolves once that merge is held in its thread. */
function holdNext(): Promise<void> {
  mergeThreadTestHooks.holdNextMerge = true;
  return new Promise<void>((resolve) => (mergeThreadTestHooks.onHeld = resolve));
}

describe('merge threads bounded across stores', () => {
  it('a waiting merge ends with its store\'s close(); the holder is unaffected; its end starts the next waiter', async () => {
    const a = await storeOfThreeRuns('a');
    const b = await storeOfThreeRuns('b');
    const c = await storeOfThreeRuns('c');
    expect(mergeThreadsRunning()).toBe(0);
    mergeThreadSlotSettings.max = 1;

    const aHeld = holdNext();
    const aCompact = a.compact();
    await aHeld; // A's merge holds the last slot, mid-merge in its thread
    expect(mergeThreadSlotCounts()).toEqual({ held: 1, waiting: 0 });

    const bCompact = b.compact();
    const bOutcome = bCompact.then(() => 'resolved', (error: unknown) => error);
    await until(() => mergeThreadSlotCounts().waiting === 1);
    const cCompact = c.compact();
    await until(() => mergeThreadSlotCounts().waiting === 2);
    expect(mergeThreadsRunning()).toBe(1);

    // B closes while its merge waits: close() resolves with A's merge still held.
    await b.close();
    expect(await bOutcome).toBeInstanceOf(StoreClosedError);
    expect(mergeThreadSlotCounts()).toEqual({ held: 1, waiting: 1 });
    expect(mergeThreadsRunning()).toBe(1);
    expect(a.stats().storage.compaction.runningCount).toBe(1);
    expect(a.stats().storage.runs).toBe(3);

    // A's merge ends: its thread gives the slot to C, whose merge runs in a thread (held there).
    const cHeld = holdNext();
    resumeHeldMerges();
    const aResult = await aCompact;
    expect(aResult.runsIn).toBe(3);
    expect(a.stats().storage.runs).toBe(1);
    for (let index = 0; index < KEYS_PER_RUN; index += 97) expect(await a.get(key(index))).toBe('a:2');
    await cHeld;
    expect(mergeThreadsRunning()).toBe(1);
    expect(mergeThreadSlotCounts()).toEqual({ held: 1, waiting: 0 });
    resumeHeldMerges();
    await cCompact;
    expect(c.stats().storage.runs).toBe(1);
    for (let index = 0; index < KEYS_PER_RUN; index += 97) expect(await c.get(key(index))).toBe('c:2');

    // B's runs are as they were: its merge never started.
    const reopenedB = await openStore(b.directory, OPTIONS);
    opened.push(reopenedB);
    expect(reopenedB.stats().storage.runs).toBe(3);
    for (let index = 0; index < KEYS_PER_RUN; index += 97) expect(await reopenedB.get(key(index))).toBe('b:2');
    for (const store of opened.splice(0)) await store.close();
    expect(mergeThreadsRunning()).toBe(0);
    expect(mergeThreadSlotCounts()).toEqual({ held: 0, waiting: 0 });
  }, 60_000);

  it('a thread\'s wait for a slot ends with its abort signal or its close(), holding nothing', async () => {
    const a = await storeOfThreeRuns('a');
    mergeThreadSlotSettings.max = 1;
    const aHeld = holdNext();
    const aCompact = a.compact();
    await aHeld;
    // The job is never sent: no slot is granted before each wait ends.
    const job = { runsDirectory: '/nonexistent', inputs: [], rule: { kind: 'none' } as never, runId: 1, generation: 1, level: 1, compression: 'none' as const };
    const aborted = new AbortController();
    const first = new MergeThread();
    const firstMerge = first.merge(job, aborted.signal, undefined);
    await until(() => mergeThreadSlotCounts().waiting === 1);
    aborted.abort(new Error('stop waiting'));
    await expect(firstMerge).rejects.toThrow('stop waiting');
    expect(mergeThreadSlotCounts()).toEqual({ held: 1, waiting: 0 });

    const second = new MergeThread();
    const secondMerge = second.merge(job, new AbortController().signal, undefined);
    await until(() => mergeThreadSlotCounts().waiting === 1);
    await second.close();
    await expect(secondMerge).rejects.toBeInstanceOf(StoreClosedError);
    expect(mergeThreadSlotCounts()).toEqual({ held: 1, waiting: 0 });
    expect(first.running || second.running).toBe(false);
    expect(mergeThreadsRunning()).toBe(1);

    resumeHeldMerges();
    expect((await aCompact).runsIn).toBe(3);
    await a.close();
    expect(mergeThreadsRunning()).toBe(0);
    expect(mergeThreadSlotCounts()).toEqual({ held: 0, waiting: 0 });
  }, 60_000);
});
