/**
 * After another process took a store's directory lock over, the old holder's flush and
 * merge threads must not put a run file into place in the directory the new holder owns.
 *
 * The takeover is simulated in one process: the old holder A's lock file is rewritten as
 * if A ran on another host and had missed its heartbeats, so a second handle B judges it
 * stale and takes the lock over (src/store/lock-liveness.ts). B opens from the manifest,
 * where the run id A is about to write was never installed, so B hands out that same id
 * for its own run. A's thread write is held (test hooks) until A's heartbeat found the
 * newer generation (DirectoryLock#onLost: the fence is up, the store failed); then it
 * runs on. Before, the thread renamed `<id>.tmp` over `<id>.run` itself, with its own
 * file system, past the fence: B's installed run was replaced by A's (B's committed key
 * gone, another key in its place). Now the thread only writes the temporary file and the
 * main thread renames it through the fenced file system, which refuses.
 *
 * Real file system and the built workers (the threads write only there); no timing: the
 * old holder's heartbeat is called by the test, and the tests poll for states.
 */
import { Buffer } from 'node:buffer';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mergeThreadTestHooks, resumeHeldMerges } from '../src/compaction/merge-thread.js';
import { flushThreadTestHooks, flushWorkerBuilt, resumeHeldFlushes } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { openStore, type Store } from '../src/index.js';
import { DirectoryLock } from '../src/store/directory-lock.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { makeLockStale } from './support/lock-takeover.js';

const stores: Store[] = [];
/** The directory locks the stores took, in order (the old holder's first). */
const locks: DirectoryLock[] = [];
const KEYS = 3000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
});

beforeEach(() => {
  flushSettings.threadMinMemtableBytes = 0; // every flush in the flush thread
  locks.splice(0);
  const acquire = DirectoryLock.acquire.bind(DirectoryLock);
  vi.spyOn(DirectoryLock, 'acquire').mockImplementation(async (...args) => {
    const lock = await acquire(...args);
    locks.push(lock);
    return lock;
  });
});

afterEach(async () => {
  resumeHeldFlushes();
  resumeHeldMerges();
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  flushThreadTestHooks.failNextFlush = undefined;
  mergeThreadTestHooks.holdNextMerge = false;
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

/** A's heartbeat (as its interval timer runs it) finds B's generation and gives the lock up: A's fence is up. */
async function heartbeatFindsTakeover(old: Store): Promise<void> {
  expect(old.stats().failed).toBe(false);
  await locks[0]!.heartbeat();
  expect(old.stats().failed, 'the old holder learned that its lock was taken over').toBe(true);
}

/** `rounds` runs of KEYS keys each (enough for a merge's progress messages, which the merge hold waits for). */
async function writeRuns(store: Store, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let start = 0; start < KEYS; start += 500) {
      const operations = [];
      for (let index = start; index < start + 500; index++) operations.push({ type: 'put' as const, key: `key-${String(index).padStart(6, '0')}`, value: { round, index } });
      await store.batch(operations);
    }
    await store.checkpoint();
  }
}

/**
 * B, the new holder, commits `mine` and checkpoints it; its flush thread holds after it
 * began writing its run (the same run id as the old holder's output). Returns the
 * checkpoint's outcome, once the flush is let go.
 */
async function newHolderFlushHeld(newHolder: Store): Promise<{ checkpoint: Promise<unknown> }> {
  await newHolder.put('mine', Buffer.alloc(64, 7));
  let held = false;
  flushThreadTestHooks.onHeld = () => (held = true);
  flushThreadTestHooks.holdNextFlush = true;
  const checkpoint = newHolder.checkpoint().then(() => 'resolved', (error: unknown) => error);
  expect(await eventually(() => held), 'the new holder\'s flush is held in its thread').toBe(true);
  return { checkpoint }; // wrapped: an async function returning the promise would wait for it
}

/** B's flush goes on: its run is installed, B reads it, and so does B reopened. */
async function expectNewHolderIntact(directory: string, newHolder: Store, checkpoint: Promise<unknown>): Promise<void> {
  resumeHeldFlushes();
  expect(await checkpoint, 'the new holder\'s checkpoint').toBe('resolved');
  expect(newHolder.stats().failed).toBe(false);
  expect(await newHolder.get('mine')).toEqual(Buffer.alloc(64, 7));
  await newHolder.close();
  const reopened = await open(directory);
  expect(await reopened.get('mine')).toEqual(Buffer.alloc(64, 7));
}

describe('a takeover fences the old holder\'s threads', () => {
  it('the old holder\'s flush thread renames nothing into place once the lock is lost', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('first', Buffer.alloc(64, 1));
    await old.checkpoint();
    // A flushes its memtable; its thread holds once it began writing the run.
    await old.put('late', Buffer.alloc(64, 2));
    let held = false;
    flushThreadTestHooks.onHeld = () => (held = true);
    flushThreadTestHooks.holdNextFlush = true;
    const oldCheckpoint = old.checkpoint().then(() => 'resolved', (error: unknown) => error);
    expect(await eventually(() => held), 'the old holder\'s flush is held in its thread').toBe(true);
    // B takes over (replaying 'late' from the WAL) and flushes under the same run id.
    makeLockStale(directory);
    const newHolder = await open(directory);
    const { checkpoint: newCheckpoint } = await newHolderFlushHeld(newHolder);
    await heartbeatFindsTakeover(old);
    resumeHeldFlushes(1); // A's flush only
    expect(await oldCheckpoint, 'the old holder\'s flush fails').toBeInstanceOf(Error);
    await expectNewHolderIntact(directory, newHolder, newCheckpoint);
    expect(await stores[stores.length - 1]!.get('late')).toEqual(Buffer.alloc(64, 2));
  });

  it('the old holder\'s flush thread that fails removes nothing once the lock is lost', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const directory = temporaryDirectory();
    const old = await open(directory);
    await old.put('first', Buffer.alloc(64, 1));
    await old.checkpoint();
    await old.put('late', Buffer.alloc(64, 2));
    // A's flush fails at its datasync, once let go: its clean-up must not remove B's file of that name.
    let held = false;
    flushThreadTestHooks.onHeld = () => (held = true);
    flushThreadTestHooks.holdNextFlush = true;
    flushThreadTestHooks.failNextFlush = { syscall: 'datasync', code: 'EIO' };
    const oldCheckpoint = old.checkpoint().then(() => 'resolved', (error: unknown) => error);
    expect(await eventually(() => held), 'the old holder\'s flush is held in its thread').toBe(true);
    makeLockStale(directory);
    const newHolder = await open(directory);
    const { checkpoint: newCheckpoint } = await newHolderFlushHeld(newHolder);
    await heartbeatFindsTakeover(old);
    resumeHeldFlushes(1); // A's flush only
    expect(await oldCheckpoint, 'the old holder\'s flush fails').toBeInstanceOf(Error);
    await expectNewHolderIntact(directory, newHolder, newCheckpoint);
  });

  it('the old holder\'s merge thread renames nothing into place once the lock is lost', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const directory = temporaryDirectory();
    const old = await open(directory);
    await writeRuns(old, 2);
    let held = false;
    mergeThreadTestHooks.onHeld = () => (held = true);
    mergeThreadTestHooks.holdNextMerge = true;
    const compaction = old.compact().then(() => 'resolved', (error: unknown) => error);
    expect(await eventually(() => held), 'the old holder\'s merge is held in its thread').toBe(true);
    makeLockStale(directory);
    const newHolder = await open(directory);
    const { checkpoint: newCheckpoint } = await newHolderFlushHeld(newHolder);
    await heartbeatFindsTakeover(old);
    resumeHeldMerges();
    expect(await compaction, 'the old holder\'s compaction fails').toBeInstanceOf(Error);
    await expectNewHolderIntact(directory, newHolder, newCheckpoint);
    expect(await stores[stores.length - 1]!.get('key-000123')).toEqual({ round: 1, index: 123 });
  });
});
