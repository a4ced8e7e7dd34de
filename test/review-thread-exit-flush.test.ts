/**
 * Review of the flush thread dying (src/engine/flush-thread.ts, flusher.ts): the
 * worker crashes (an uncaught throw), runs out of its heap (ERR_WORKER_OUT_OF_MEMORY
 * under FLUSH_THREAD_OLD_GENERATION_MB) or exits, at each moment of a flush:
 *
 * - 'mid-write': held after its writer took the first chunk, its temporary file open;
 * - 'written': it wrote and synced the run's temporary file (a thread renames nothing
 *   since aad72c3: the main thread installs it, run-install.ts), and died before its
 *   answer reached the main thread (the answer is swallowed, then the thread is killed);
 * - 'installing': its answer arrived and it dies while the main thread records and
 *   installs the run;
 * - 'idle': between two flushes.
 *
 * What the user must see (docs/ARCHITECTURE.md, flush thread: the memtable is written
 * again in process under a new run id): checkpoint() resolves, commits during the
 * flush are acknowledged, gets served (the memtable stays readable until its run is
 * installed), nothing acknowledged is lost, no temporary or unlisted run file is left,
 * no run id is listed twice, the next flush starts a fresh thread, stats() counts the
 * exit, and the reopened store reads the same.
 *
 * No timing: deaths land where the worker waits (test/support/worker-death.ts).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import {
  FLUSH_THREAD_OLD_GENERATION_MB, flushThreadCounters, flushThreadsRunning, flushThreadTestHooks, flushWorkerBuilt,
} from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, FLUSH_THREAD_RESTARTS_MAX, flushSettings } from '../src/engine/flusher.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_TEMPORARY_SUFFIX } from '../src/run/run-writer.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { type Death, killWorker, WorkerSpy } from './support/worker-death.js';

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Keys per round: several flush chunks, so a flush held after its first chunk is mid-write. */
const KEYS = 4000;

const spy = new WorkerSpy(['begin']);

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
  expect(flushWorkerBuilt()).toBe(true);
}, 180_000);

beforeEach(() => {
  flushSettings.threadMinMemtableBytes = 0; // every flush of these small stores goes through the thread
  spy.install();
});

afterEach(() => {
  spy.restore();
  flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
  flushSettings.flushThread = 'worker';
  flushThreadTestHooks.holdNextFlush = false;
  flushThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number): unknown => ({ index, round, text: 'flush thread exit '.repeat(4 + (index % 7)) });

/** Every key written again (every 7th deleted after round 0); the model follows. */
async function writeRound(store: Store, round: number, model: Map<string, unknown>): Promise<void> {
  for (let start = 0; start < KEYS; start += 500) {
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
}

async function expectModel(store: Store, model: Map<string, unknown>): Promise<void> {
  const scanned = new Map<string, unknown>();
  for await (const [entryKey, entryValue] of store.scan()) scanned.set(entryKey as string, entryValue);
  expect(scanned).toEqual(model);
  for (const [entryKey, entryValue] of model) if (entryKey.endsWith('7')) expect(await store.get(entryKey)).toEqual(entryValue);
}

const runFiles = (directory: string): string[] => readdirSync(join(directory, 'runs')).sort();

/** The runs the durable manifest lists (the store closed). */
async function listedRuns(directory: string): Promise<RunDescriptor[]> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  try {
    return [...manifest.state.runs];
  } finally {
    await manifest.close();
  }
}

/** A store whose flush thread runs (one thread flush done) with a second memtable's writes waiting. */
async function storeWithThread(): Promise<{ store: Store; directory: string; model: Map<string, unknown> }> {
  const directory = temporaryDirectory();
  const model = new Map<string, unknown>();
  const store = await openStore(directory, OPTIONS);
  await writeRound(store, 0, model);
  const before = flushThreadCounters.threadFlushes;
  await store.checkpoint();
  expect(flushThreadCounters.threadFlushes - before).toBe(1);
  await writeRound(store, 1, model);
  return { store, directory, model };
}

/** After the death: exact reads, only listed run files, a fresh thread for the next flush, the reopen exact. */
async function expectRecovered(store: Store, directory: string, model: Map<string, unknown>, deadThread: unknown): Promise<void> {
  await expectModel(store, model);
  expect(runFiles(directory).filter((name) => !name.endsWith('.run'))).toEqual([]);
  expect(runFiles(directory)).toHaveLength(store.stats().storage.runs);
  // The next flush runs in a new thread.
  const before = flushThreadCounters.threadFlushes;
  await store.put('after', 'the next flush');
  model.set('after', 'the next flush');
  await store.checkpoint();
  expect(flushThreadCounters.threadFlushes - before).toBe(1);
  expect(spy.last('begin')).not.toBe(deadThread);
  await store.close();
  expect(flushThreadsRunning()).toBe(0);
  const runs = await listedRuns(directory);
  expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
  expect(runFiles(directory)).toEqual(runs.map((run) => run.fileName).sort());
  const reopened = await openStore(directory, OPTIONS);
  await expectModel(reopened, model);
  await reopened.close();
}

const DEATHS: Death[] = ['throw', 'oom', 'exit'];

describe('the flush thread dies mid-write (its temporary file open)', () => {
  for (const death of DEATHS) {
    it(`${death}: checkpoint() resolves, commits and gets go on meanwhile, the memtable is written in process under a new run id, stats() counts the exit`, async () => {
      const { store, directory, model } = await storeWithThread();
      const exitsBefore = flushThreadCounters.threadExits;
      flushThreadTestHooks.holdNextFlush = true;
      let atKill: string[] = [];
      let dead: Promise<unknown> | undefined;
      let thread: unknown;
      const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
      const checkpointing = store.checkpoint();
      await held;
      // While the thread holds the flush: a get needs the sealed memtable, a commit the active one.
      expect(await store.get(key(1))).toEqual(model.get(key(1)));
      await store.put('during', 'the held flush');
      model.set('during', 'the held flush');
      atKill = runFiles(directory);
      thread = spy.last('begin');
      dead = killWorker(spy.last('begin'), death, FLUSH_THREAD_OLD_GENERATION_MB);
      await checkpointing;
      const seen = (await dead) as { exitCode: number; error: Error | undefined };
      if (death === 'oom') expect(seen.error).toMatchObject({ code: 'ERR_WORKER_OUT_OF_MEMORY' });
      if (death === 'throw') expect(seen.error).toBeInstanceOf(TypeError);
      expect(atKill.filter((name) => name.endsWith('.run.tmp'))).toHaveLength(1);
      expect(flushThreadCounters.threadExits - exitsBefore).toBe(1);
      expect(store.stats().storage.flushThreadExits).toBe(1);
      expect(store.stats().storage.flushes).toBe(2);
      const deadRun = atKill.find((name) => name.endsWith('.run.tmp'))!.replace(/\.tmp$/, '');
      expect(runFiles(directory)).not.toContain(deadRun);
      await expectRecovered(store, directory, model, thread);
    }, 120_000);
  }
});

describe('the flush thread dies after writing its run, before its answer arrives', () => {
  for (const death of DEATHS) {
    it(`${death}: the written temporary file is removed, the memtable written again under a new run id, nothing listed twice`, async () => {
      const { store, directory, model } = await storeWithThread();
      let renamed: string | undefined;
      let filesAtKill: string[] = [];
      let dead: Promise<unknown> | undefined;
      let thread: unknown;
      spy.swallowNext('done', (worker, message) => {
        renamed = (message as { descriptor: RunDescriptor }).descriptor.fileName;
        filesAtKill = runFiles(directory);
        thread = worker;
        dead = killWorker(worker, death, FLUSH_THREAD_OLD_GENERATION_MB);
      });
      await store.checkpoint();
      await dead;
      expect(renamed).toBeDefined();
      // Durable under its temporary name: a thread renames nothing, the main thread installs (run-install.ts).
      expect(filesAtKill).toContain(renamed! + RUN_TEMPORARY_SUFFIX);
      expect(filesAtKill).not.toContain(renamed);
      expect(runFiles(directory)).not.toContain(renamed);
      expect(runFiles(directory)).not.toContain(renamed! + RUN_TEMPORARY_SUFFIX);
      expect(store.stats().storage.flushThreadExits).toBe(1);
      expect(store.stats().storage.runs).toBe(2);
      await expectRecovered(store, directory, model, thread);
    }, 120_000);
  }
});

describe('the flush thread dies after its answer, while the main thread installs the run', () => {
  for (const death of ['throw', 'oom'] as const) {
    it(`${death}: the thread's run is installed as answered, no exit counted, the next flush starts a fresh thread`, async () => {
      const { store, directory, model } = await storeWithThread();
      let answered: string | undefined;
      let dead: Promise<unknown> | undefined;
      let thread: unknown;
      spy.swallowNext('done', (worker, message) => {
        answered = (message as { descriptor: RunDescriptor }).descriptor.fileName;
        thread = worker;
        worker.emit('message', message); // delivered; the death follows at once
        dead = killWorker(worker, death, FLUSH_THREAD_OLD_GENERATION_MB);
      });
      await store.checkpoint();
      await dead;
      expect(runFiles(directory)).toContain(answered);
      expect(store.stats().storage.flushThreadExits).toBe(0);
      await expectRecovered(store, directory, model, thread);
    }, 120_000);
  }
});

describe('the flush thread dies while idle', () => {
  for (const death of ['throw', 'oom'] as const) {
    it(`${death}: the next checkpoint() flushes through a fresh thread`, async () => {
      const { store, directory, model } = await storeWithThread();
      const thread = spy.last('begin');
      await killWorker(thread, death, FLUSH_THREAD_OLD_GENERATION_MB);
      await store.checkpoint();
      expect(spy.last('begin')).not.toBe(thread);
      expect(store.stats().storage.flushThreadExits).toBe(0); // no flush was in flight
      await expectRecovered(store, directory, model, thread);
    }, 120_000);
  }
});

describe('a flush thread that keeps dying', () => {
  it(`past FLUSH_THREAD_RESTARTS_MAX exits the store flushes in process for good (as merges do), every write kept`, async () => {
    const { store, directory, model } = await storeWithThread();
    const deaths = 3;
    for (let death = 1; death <= deaths; death++) {
      flushThreadTestHooks.holdNextFlush = true;
      const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
      const checkpointing = store.checkpoint();
      await held;
      const thread = spy.last('begin');
      await killWorker(thread, 'throw', FLUSH_THREAD_OLD_GENERATION_MB);
      await checkpointing;
      expect(store.stats().storage.flushThreadExits).toBe(death);
      await writeRound(store, 1 + death, model);
    }
    // The next flushes start no thread: written in process.
    const threadsSeen = spy.seen.get('begin')!.length;
    const flushesBefore = flushThreadCounters.threadFlushes;
    await store.checkpoint();
    await writeRound(store, 9, model);
    await store.checkpoint();
    expect(spy.seen.get('begin')!.length).toBe(threadsSeen);
    expect(flushThreadCounters.threadFlushes).toBe(flushesBefore);
    expect(flushThreadsRunning()).toBe(0);
    expect(store.stats().storage.flushes).toBe(1 + deaths + 2);
    expect(FLUSH_THREAD_RESTARTS_MAX).toBe(deaths - 1);
    await expectModel(store, model);
    await store.close();
    const reopened = await openStore(directory, OPTIONS);
    await expectModel(reopened, model);
    await reopened.close();
  }, 120_000);
});
