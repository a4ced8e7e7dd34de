/**
 * A watch catch-up over a long history can be stopped in the middle of a pass. Each batch of a
 * catch-up is one pass over the range's whole retained history (src/watch/catch-up.ts), and a pass
 * over history in memory or in cached blocks ran without giving the event loop a turn: an abort,
 * a close() or a return() asked for while it ran waited for the whole pass (and the process's
 * other work with it), then the feed dropped the batch it had read. Here the stop is asked for at
 * the first turn of the event loop after the step begins; the pass must stop within two turns'
 * worth of entries (4,096 a turn) and let go of its pin. A return() asked for while the feed waits
 * for a commit ends the pending step too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreClosedError, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { catchUpReads } from '../src/watch/catch-up.js';
import { settle, track } from './transaction-support.js';

const HISTORY = 40_000;
const ENTRIES_AFTER_STOP_MAX = 2 * 4096;
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

/** HISTORY versions of distinct keys, in memtables or (`inRuns`) in runs only after a reopen. */
async function storeWithHistory(inRuns: boolean): Promise<Store> {
  const fileSystem = new FaultFileSystem(inRuns ? 41 : 42);
  const options = { fileSystem, memoryBudgetBytes: inRuns ? 4 * 1024 * 1024 : 256 * 1024 * 1024, walCheckpointBytes: 256 * 1024 * 1024 };
  let store = await openStore('/db', options);
  for (let from = 0; from < HISTORY; from += 1000) {
    // Keys written in descending order: every pass goes over every key for the smallest versions.
    await store.batch(Array.from({ length: 1000 }, (_, index) => ({ type: 'put' as const, key: `k/${String(HISTORY - from - index).padStart(6, '0')}`, value: from + index })));
  }
  if (inRuns) {
    await store.close();
    store = await openStore('/db', { ...options, checkpointOnClose: false });
  }
  stores.push(store);
  return store;
}

/** Starts `step`, then runs `stop` at the next turn of the event loop: how many entries were read before it and after it. */
async function stopDuringStep<T>(step: () => Promise<T>, stop: () => unknown): Promise<{ before: number; after: number; outcome: ReturnType<typeof track<T>> }> {
  const start = catchUpReads.entries;
  let before = -1;
  const stopped = new Promise<void>((resolve) => setImmediate(() => {
    before = catchUpReads.entries - start;
    stop();
    resolve();
  }));
  const outcome = track(step());
  await stopped;
  const atStop = catchUpReads.entries;
  for (let turn = 0; turn < 200 && !outcome.settled; turn++) await settle();
  return { before, after: catchUpReads.entries - atStop, outcome };
}

describe.each([
  ['memtables', false],
  ['runs', true],
])('a watch catch-up over %s', (_, inRuns) => {
  it('an abort during a pass ends the step within a turn and lets go of the pin', async () => {
    const store = await storeWithHistory(inRuns);
    const controller = new AbortController();
    const feed = store.watch({ sinceVersion: 0, signal: controller.signal });
    const { before, after, outcome } = await stopDuringStep(() => feed.next(), () => controller.abort());
    expect(outcome.settled).toBe(true);
    expect((outcome.error as Error).name).toBe('AbortError');
    expect(before).toBeLessThan(HISTORY / 2);
    expect(after).toBeLessThanOrEqual(ENTRIES_AFTER_STOP_MAX);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('close() during a pass ends the step with StoreClosedError within a turn', async () => {
    const store = await storeWithHistory(inRuns);
    const feed = store.watch({ sinceVersion: 0 });
    let closing: Promise<void> | undefined;
    const { before, after, outcome } = await stopDuringStep(() => feed.next(), () => {
      closing = store.close();
    });
    await closing;
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
    expect(before).toBeLessThan(HISTORY / 2);
    expect(after).toBeLessThanOrEqual(ENTRIES_AFTER_STOP_MAX);
    expect(await feed.next()).toEqual({ done: true, value: undefined });
  });

  it('return() during a pass ends the pending step (done) within a turn and lets go of the pin', async () => {
    const store = await storeWithHistory(inRuns);
    const feed = store.watch({ sinceVersion: 0 });
    let returned: ReturnType<typeof track<IteratorResult<unknown>>> | undefined;
    const { before, after, outcome } = await stopDuringStep(() => feed.next(), () => {
      returned = track(feed.return(undefined));
    });
    expect(outcome.settled).toBe(true);
    expect(outcome.value).toEqual({ done: true, value: undefined });
    expect(returned!.settled).toBe(true);
    expect(returned!.value).toEqual({ done: true, value: undefined });
    expect(before).toBeLessThan(HISTORY / 2);
    expect(after).toBeLessThanOrEqual(ENTRIES_AFTER_STOP_MAX);
    expect(store.stats().pinnedReads).toBe(0);
    // The feed is ended: no change after it, and writes go on.
    await store.put('after', 1);
    expect(await feed.next()).toEqual({ done: true, value: undefined });
  });
});

describe('a watch feed waiting for a commit', () => {
  it('return() ends the pending step (done) without a commit', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(43) });
    stores.push(store);
    await store.put('a', 1);
    const feed = store.watch({ sinceVersion: 0 });
    expect(await feed.next()).toMatchObject({ done: false, value: { version: 1, key: 'a' } });
    const pending = track(feed.next());
    await settle();
    expect(pending.settled).toBe(false);
    const returned = track(feed.return(undefined));
    for (let turn = 0; turn < 10 && !returned.settled; turn++) await settle();
    expect(pending.value).toEqual({ done: true, value: undefined });
    expect(returned.value).toEqual({ done: true, value: undefined });
    // Nothing of the ended feed is left in the hub: a commit after it is not buffered for it.
    await store.put('b', 2);
    expect(await feed.next()).toEqual({ done: true, value: undefined });
  });
});
