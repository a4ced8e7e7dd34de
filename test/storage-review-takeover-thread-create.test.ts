/**
 * After another process took a store's directory lock over, the old holder's flush or
 * merge thread must not create a run's temporary file: the new holder, which opened from
 * the manifest where the old holder's run id was never installed, hands out that same
 * id, and its own thread creates `<id>.tmp` exclusively. An old holder's thread that
 * created the name between the new holder's clearing of it and its thread's create
 * failed the new holder's flush with EEXIST, a final flush failure (StoreFailedError,
 * every later commit refused until reopened).
 *
 * The takeover is simulated in one process, as in takeover-thread-fence: the old holder
 * A's lock file is rewritten as another host's that missed its heartbeats, and B takes it
 * over. A's thread is held before it creates its file (a thread stalled across the
 * takeover), B's flush is held the same way after B cleared the name; A's thread goes on
 * first, then B's. Real file system and the built workers (the threads write only
 * there); the tests poll for states, no timing.
 */
import { Buffer } from 'node:buffer';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mergeThreadTestHooks, resumeHeldMerges } from '../src/compaction/merge-thread.js';
import { flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { makeLockStale } from './support/lock-takeover.js';

const stores: Store[] = [];

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
});

beforeEach(() => {
  flushSettings.threadMinMemtableBytes = 0; // every flush in the flush thread
  vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
});

afterEach(async () => {
  resumeHeldFlushes();
  resumeHeldMerges();
  flushThreadTestHooks.holdNextFlushBeforeCreate = false;
  flushThreadTestHooks.onHeld = undefined;
  mergeThreadTestHooks.holdNextMergeBeforeCreate = false;
  mergeThreadTestHooks.onHeld = undefined;
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  vi.restoreAllMocks();
  removeTemporaryDirectories();
});

const pause = (delayMs: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delayMs));

/** Polls `condition` every 10 ms, at most `rounds` times (a liveness bound, not a timing assertion). */
async function eventually(condition: () => boolean, rounds = 1000): Promise<boolean> {
  for (let round = 0; round < rounds && !condition(); round++) await pause(10);
  return condition();
}

async function open(directory: string): Promise<Store> {
  const store = await openStore(directory);
  stores.push(store);
  return store;
}

let flushesHeld = 0;
/** The next flush's thread holds before it creates its file; resolves once it holds. */
async function checkpointHeldBeforeCreate(store: Store): Promise<{ checkpoint: Promise<unknown> }> {
  const before = flushesHeld;
  flushThreadTestHooks.onHeld = () => flushesHeld++;
  flushThreadTestHooks.holdNextFlushBeforeCreate = true;
  const checkpoint = store.checkpoint().then(() => 'resolved', (error: unknown) => error);
  expect(await eventually(() => flushesHeld > before), 'the flush is held in its thread before its create').toBe(true);
  return { checkpoint }; // wrapped: an async function returning the promise would wait for it
}

/** B's flush goes on: its run is installed, B reads `keys`, and so does B reopened. */
async function expectNewHolderIntact(directory: string, newHolder: Store, checkpoint: Promise<unknown>, keys: Record<string, unknown>): Promise<void> {
  resumeHeldFlushes();
  expect(await checkpoint, 'the new holder\'s checkpoint').toBe('resolved');
  expect(newHolder.stats().failed).toBe(false);
  await newHolder.put('after', 'still writable');
  for (const [key, value] of Object.entries(keys)) expect(await newHolder.get(key), key).toEqual(value);
  await newHolder.close();
  const reopened = await open(directory);
  for (const [key, value] of Object.entries(keys)) expect(await reopened.get(key), key).toEqual(value);
  expect(await reopened.get('after')).toBe('still writable');
}

describe('a thread of a holder taken over creates no run file', () => {
  it('the old holder\'s flush thread, stalled before its create, does not fail the new holder\'s flush of the same run id', async () => {
    flushesHeld = 0;
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('first', Buffer.alloc(64, 1));
    await old.checkpoint();
    await old.put('late', Buffer.alloc(64, 2));
    const { checkpoint: oldCheckpoint } = await checkpointHeldBeforeCreate(old);
    // B takes over (replaying 'late') and flushes under the id A's thread is about to create.
    makeLockStale(directory);
    const newHolder = await open(directory);
    await newHolder.put('mine', Buffer.alloc(64, 7));
    const { checkpoint: newCheckpoint } = await checkpointHeldBeforeCreate(newHolder);
    resumeHeldFlushes(1); // A's thread only
    expect(await oldCheckpoint, 'the old holder\'s flush fails').toBeInstanceOf(Error);
    expect(readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.tmp')), 'no temporary file of the old holder').toEqual([]);
    await expectNewHolderIntact(directory, newHolder, newCheckpoint, { first: Buffer.alloc(64, 1), late: Buffer.alloc(64, 2), mine: Buffer.alloc(64, 7) });
  });

  it('the old holder\'s merge thread, stalled before its create, does not fail the new holder\'s flush of the same run id', async () => {
    flushesHeld = 0;
    const directory = temporaryDirectory();
    const old = await open(directory);
    for (let round = 0; round < 2; round++) {
      await old.batch(Array.from({ length: 200 }, (_, index) => ({ type: 'put' as const, key: `key-${String(index).padStart(4, '0')}`, value: { round, index } })));
      await old.checkpoint();
    }
    let mergeHeld = false;
    mergeThreadTestHooks.onHeld = () => (mergeHeld = true);
    mergeThreadTestHooks.holdNextMergeBeforeCreate = true;
    const compaction = old.compact().then(() => 'resolved', (error: unknown) => error);
    expect(await eventually(() => mergeHeld), 'the old holder\'s merge is held before its create').toBe(true);
    makeLockStale(directory);
    const newHolder = await open(directory);
    await newHolder.put('mine', Buffer.alloc(64, 7));
    const { checkpoint: newCheckpoint } = await checkpointHeldBeforeCreate(newHolder);
    resumeHeldMerges();
    expect(await compaction, 'the old holder\'s compaction fails').toBeInstanceOf(Error);
    expect(readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.tmp')), 'no temporary file of the old holder').toEqual([]);
    await expectNewHolderIntact(directory, newHolder, newCheckpoint, { mine: Buffer.alloc(64, 7), 'key-0123': { round: 1, index: 123 } });
  });
});
