/**
 * A merge thread that dies mid-merge (src/compaction/merge-thread.ts, merge-output.ts;
 * issue 7): the merge nobody cancelled is done again in process under a new run id,
 * compact() resolves, the store reads exactly what a Map model and a twin store
 * compacted in process hold, and reopens so; the dead thread's temporary file is gone.
 * The next merge starts a fresh thread; past MERGE_THREAD_RESTARTS_MAX exits merges stay
 * in process. A thread ended by close() with a merge in flight rejects with
 * StoreClosedError (a stable code), the exit as its cause.
 *
 * No timing: the thread's merge is held after its first progress message
 * (mergeThreadTestHooks.holdNextMerge) and the thread is terminated from compact()'s
 * progress callback (terminateMergeThreads), as a crash or an out-of-memory ends it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import {
  MERGE_THREAD_RESTARTS_MAX, MergeThread, MergeThreadExited, mergeThreadsRunning, mergeThreadTestHooks, terminateMergeThreads,
} from '../src/compaction/merge-thread.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Keys per flushed run: three runs hold several thread yields, so the merge is held mid-way. */
const KEYS_PER_RUN = 3000;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  mergeThreadTestHooks.holdNextMerge = false;
  mergeThreadTestHooks.ignoreCancel = false;
  mergeThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number): unknown => ({ index, round, text: 'thread exit '.repeat(1 + (index % 4)) });

/** Round `round`: every key written again, every 7th deleted (rounds > 0), flushed to a run; the model follows. */
async function writeRound(store: Store, round: number, model: Map<string, unknown>): Promise<void> {
  for (let start = 0; start < KEYS_PER_RUN; start += 500) {
    const operations = [];
    for (let index = start; index < start + 500; index++) {
      if (round > 0 && index % 7 === round % 7) {
        operations.push({ type: 'del' as const, key: key(index) });
        model.delete(key(index));
      } else {
        operations.push({ type: 'put' as const, key: key(index), value: value(index, round) });
        model.set(key(index), value(index, round));
      }
    }
    await store.batch(operations);
  }
  await store.checkpoint();
}

/** Every key's history, then the whole scan. */
async function readEverything(store: Store): Promise<unknown[]> {
  const everything: unknown[] = [];
  for (let index = 0; index < KEYS_PER_RUN; index++) everything.push(await store.history(key(index)));
  for await (const entry of store.scan()) everything.push(entry);
  return everything;
}

/** The store holds exactly the model's keys and values (gets and a scan). */
async function expectModel(store: Store, model: Map<string, unknown>): Promise<void> {
  for (let index = 0; index < KEYS_PER_RUN; index++) expect(await store.get(key(index))).toEqual(model.get(key(index)));
  const scanned: [string, unknown][] = [];
  for await (const [entryKey, entryValue] of store.scan()) scanned.push([entryKey as string, entryValue]);
  expect(scanned).toEqual([...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function runFiles(directory: string): string[] {
  return readdirSync(join(directory, 'runs')).sort();
}

/**
 * compact() with the thread's merge held and the thread terminated at its first progress
 * message; returns the result and the temporary file the dead thread was writing.
 */
async function compactKillingTheThread(store: Store, directory: string): Promise<{ result: Awaited<ReturnType<Store['compact']>>; deadTemporary: string }> {
  mergeThreadTestHooks.holdNextMerge = true;
  let deadTemporary: string | undefined;
  let threadsAtKill = 0;
  const result = await store.compact({
    onProgress: () => {
      if (deadTemporary !== undefined) return; // the in-process merge's progress afterwards
      deadTemporary = runFiles(directory).find((name) => name.endsWith('.tmp')) ?? '';
      threadsAtKill = mergeThreadsRunning();
      void terminateMergeThreads();
    },
  });
  expect(threadsAtKill).toBe(1); // a thread held the merge, its output open
  expect(deadTemporary).toMatch(/\.run\.tmp$/);
  expect(mergeThreadTestHooks.holdNextMerge).toBe(false); // consumed by that thread's merge
  return { result, deadTemporary: deadTemporary! };
}

describe('a merge thread that dies mid-merge', () => {
  it('the merge is done in process under a new run id: compact() resolves, reads and reopen are exact', async () => {
    const directory = temporaryDirectory();
    const twinDirectory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const twinModel = new Map<string, unknown>();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(store, round, model);
    const inputs = runFiles(directory);
    expect(inputs).toHaveLength(3);

    const { result, deadTemporary } = await compactKillingTheThread(store, directory);
    expect(result.outcome).toBe('compacted');
    expect(result.runsIn).toBe(3);
    expect(result.entriesIn).toBe(3 * KEYS_PER_RUN);
    const files = runFiles(directory);
    expect(files).toHaveLength(1); // the output only: no temporary of the dead thread, inputs unlinked
    const deadRunFile = deadTemporary.replace(/\.tmp$/, '');
    expect(files[0]).not.toBe(deadRunFile); // a new run id, never the dead thread's
    expect(files[0]! > deadRunFile).toBe(true);
    expect(mergeThreadsRunning()).toBe(0); // merged in process: no fresh thread did it
    await expectModel(store, model);

    // A twin store with the same writes, compacted in process: the same histories and scan.
    compactionSettings.mergeThread = 'main';
    const twin = await openStore(twinDirectory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(twin, round, twinModel);
    const twinResult = await twin.compact();
    const { durationMs: _a, ...resultRest } = result;
    const { durationMs: _b, ...twinRest } = twinResult;
    expect(resultRest).toEqual(twinRest);
    expect(await readEverything(store)).toEqual(await readEverything(twin));
    await twin.close();

    await store.close();
    const reopened = await openStore(directory, OPTIONS);
    expect(runFiles(directory)).toEqual(files);
    await expectModel(reopened, model);
    const reopenedTwin = await openStore(twinDirectory, OPTIONS);
    expect(await readEverything(reopened)).toEqual(await readEverything(reopenedTwin));
    await reopenedTwin.close();
    await reopened.close();
  }, 120_000);

  it('a background merge whose thread dies completes in process: no failure, no lastError, exact reads and reopen', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(store, round, model);
    let threadsAtKill = 0;
    mergeThreadTestHooks.holdNextMerge = true;
    mergeThreadTestHooks.onHeld = () => {
      threadsAtKill = mergeThreadsRunning();
      void terminateMergeThreads();
    };
    await writeRound(store, 3, model); // the 4th run: the policy's background merge starts in the thread
    // Ended either way: installed, or (before the fallback) failed with the thread's exit.
    await vi.waitFor(() => {
      const { compactions, failures } = store.stats().storage.compaction;
      expect(compactions + failures).toBeGreaterThan(0);
    }, { timeout: 60_000, interval: 20 });
    expect(threadsAtKill).toBe(1);
    const compaction = store.stats().storage.compaction;
    expect(compaction.failures).toBe(0);
    expect(compaction.compactions).toBe(1);
    expect(compaction.lastError).toBeUndefined();
    expect(runFiles(directory).some((name) => name.endsWith('.tmp'))).toBe(false);
    await expectModel(store, model);
    await store.close();
    compactionSettings.mergeThread = 'main';
    const reopened = await openStore(directory, OPTIONS);
    await expectModel(reopened, model);
    expect(runFiles(directory)).toHaveLength(reopened.stats().storage.runs); // no orphan
    await reopened.close();
  }, 120_000);

  it('the next merge starts a fresh thread; past MERGE_THREAD_RESTARTS_MAX exits merges stay in process', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 2; round++) await writeRound(store, round, model);
    // Each compaction below merges two runs in a thread that is killed; every one completes.
    for (let exit = 0; exit <= MERGE_THREAD_RESTARTS_MAX; exit++) {
      await writeRound(store, 2 + exit, model);
      const { result } = await compactKillingTheThread(store, directory); // held: a fresh thread took it
      expect(result.outcome).toBe('compacted');
      expect(runFiles(directory)).toHaveLength(1);
      await expectModel(store, model);
    }
    // The thread died MERGE_THREAD_RESTARTS_MAX + 1 times: the next merge runs in process
    // (a thread merge would leave the store's thread running: it is kept while the store is open).
    await writeRound(store, 3 + MERGE_THREAD_RESTARTS_MAX, model);
    const result = await store.compact();
    expect(result.outcome).toBe('compacted');
    expect(mergeThreadsRunning()).toBe(0);
    await expectModel(store, model);
    await store.close();
    compactionSettings.mergeThread = 'main';
    const reopened = await openStore(directory, OPTIONS);
    await expectModel(reopened, model);
    await reopened.close();
  }, 180_000);
});

describe('a merge thread closed with a merge in flight', () => {
  it('store.close() while the thread merges and the thread dies then: compact() rejects StoreClosedError, nothing installed', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(store, round, model);
    const filesBefore = runFiles(directory);
    mergeThreadTestHooks.holdNextMerge = true;
    mergeThreadTestHooks.ignoreCancel = true; // the thread does not answer close()'s cancel
    let reached = (): void => undefined;
    const progressed = new Promise<void>((resolve) => (reached = resolve));
    const compacting = store.compact({ onProgress: () => reached() });
    const settled = compacting.catch((caught: unknown) => caught);
    await progressed;
    const closing = store.close();
    await terminateMergeThreads(); // dies while the store closes
    await closing;
    const error = await settled;
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(error).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    expect(mergeThreadsRunning()).toBe(0);
    expect(runFiles(directory)).toEqual(filesBefore); // no temporary, no output
    compactionSettings.mergeThread = 'main';
    const reopened = await openStore(directory, OPTIONS);
    expect(reopened.stats().storage.runs).toBe(3);
    await expectModel(reopened, model);
    await reopened.close();
  }, 60_000);

  it('the merge rejects with StoreClosedError (its code), the thread exit as its cause; no output left', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await openStore(directory, OPTIONS);
    for (let round = 0; round < 3; round++) await writeRound(store, round, model);
    await store.close();
    const filesBefore = runFiles(directory);
    const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
    const inputs = manifest.state.runs.slice().reverse();
    await manifest.close();

    const thread = new MergeThread();
    mergeThreadTestHooks.holdNextMerge = true;
    let reached = (): void => undefined;
    const progressed = new Promise<void>((resolve) => (reached = resolve));
    const merging = thread.merge({
      runsDirectory: join(directory, 'runs'), inputs, rule: { maxVersionsPerKey: 2, horizon: Infinity, includesOldest: true, retentionFloor: 0 },
      runId: 999, generation: 7, level: 1, compression: 'none',
    }, new AbortController().signal, () => reached());
    const settled = merging.catch((caught: unknown) => caught);
    await progressed; // held mid-merge, its temporary output open
    await thread.close(); // not cancelled: the store is closing under it
    const error = await settled;
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(error).toMatchObject({ code: 'LADYBUG_STORE_CLOSED' });
    expect((error as Error).cause).toBeInstanceOf(MergeThreadExited);
    expect(mergeThreadsRunning()).toBe(0);
    // The thread was not the one to remove its temporary output (MergeOutput does it): only inputs and that file.
    expect(runFiles(directory).filter((name) => !filesBefore.includes(name)).every((name) => name.startsWith('0000000999'))).toBe(true);
  }, 60_000);
});
