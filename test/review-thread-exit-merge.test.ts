/**
 * Review of the merge thread dying (src/compaction/merge-thread.ts, merge-output.ts):
 * the worker crashes (an uncaught throw), runs out of its heap
 * (ERR_WORKER_OUT_OF_MEMORY under MERGE_THREAD_OLD_GENERATION_MB) or exits, at each
 * moment of a compaction:
 *
 * - 'mid-merge': held after its first progress, its temporary output open;
 * - 'written': its output is durable under its temporary name (a thread renames
 *   nothing since aad72c3: the main thread installs it, run-install.ts) and its answer
 *   never reached the main thread (swallowed, then the thread is killed);
 * - 'installing': its answer arrived; it dies while the main thread edits the
 *   manifest and installs.
 *
 * What the user must see (docs/ARCHITECTURE.md, the merge thread): compact() resolves
 * 'compacted', no failure and no lastError, stats() counts the exit, reads exact
 * meanwhile and after, no temporary or unlisted file, no run id listed twice, the
 * reopen exact. And the in-process merge done after the death writes the same bytes
 * the thread writes from the same inputs, rule (pin, retention floor, version limit)
 * and run identity, cold-tier compression included (differential: a twin store whose
 * thread lives; generations made equal by a fixed randomInt).
 *
 * No timing: deaths land where the worker waits (test/support/worker-death.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MERGE_THREAD_OLD_GENERATION_MB, mergeThreadsRunning, mergeThreadTestHooks } from '../src/compaction/merge-thread.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_TEMPORARY_SUFFIX } from '../src/run/run-writer.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { type Death, killWorker, WorkerSpy } from './support/worker-death.js';

// Every run's generation is the same number, so two stores that write the same runs under
// the same ids write the same bytes (the differential below compares files).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, randomInt: () => 0x5eed };
});

const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Keys per round: several thread yields per merge, so a merge held at its first progress is mid-way. */
const KEYS = 3000;

const spy = new WorkerSpy(['merge']);

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

beforeEach(() => spy.install());

afterEach(() => {
  spy.restore();
  vi.restoreAllMocks();
  compactionSettings.mergeThread = 'worker';
  mergeThreadTestHooks.holdNextMerge = false;
  mergeThreadTestHooks.onHeld = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number): unknown => ({ index, round, text: 'merge thread exit '.repeat(1 + (index % 5)) });

/** Round `round`: every key written again, every 7th deleted (rounds > 0), then a checkpoint (one run). */
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
  await store.checkpoint();
}

async function expectModel(store: Store, model: Map<string, unknown>): Promise<void> {
  const scanned = new Map<string, unknown>();
  for await (const [entryKey, entryValue] of store.scan()) scanned.set(entryKey as string, entryValue);
  expect(scanned).toEqual(model);
  for (let index = 0; index < KEYS; index += 11) expect(await store.get(key(index))).toEqual(model.get(key(index)));
}

const runFiles = (directory: string): string[] => readdirSync(join(directory, 'runs')).sort();

async function listedRuns(directory: string): Promise<{ runs: RunDescriptor[]; nextRunId: number }> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  try {
    return { runs: [...manifest.state.runs], nextRunId: manifest.state.nextRunId };
  } finally {
    await manifest.close();
  }
}

/** Closed, the manifest lists each run once, exactly the files on disk; the reopen reads the model. */
async function expectClosedClean(store: Store, directory: string, model: Map<string, unknown>, deadRunIds: number[]): Promise<void> {
  await store.close();
  expect(mergeThreadsRunning()).toBe(0);
  const { runs, nextRunId } = await listedRuns(directory);
  expect(new Set(runs.map((run) => run.runId)).size).toBe(runs.length);
  for (const dead of deadRunIds) expect(runs.map((run) => run.runId)).not.toContain(dead);
  expect(nextRunId).toBeGreaterThan(Math.max(...runs.map((run) => run.runId), ...deadRunIds));
  expect(runFiles(directory)).toEqual(runs.map((run) => run.fileName).sort());
  const reopened = await openStore(directory, OPTIONS);
  await expectModel(reopened, model);
  await reopened.close();
}

const DEATHS: Death[] = ['throw', 'oom', 'exit'];

describe('the merge thread dies mid-merge (its temporary output open)', () => {
  for (const death of DEATHS) {
    it(`${death}: compact() resolves, merged again in process under a new run id, counted in stats(), no failure`, async () => {
      const directory = temporaryDirectory();
      const model = new Map<string, unknown>();
      const store = await openStore(directory, OPTIONS);
      for (let round = 0; round < 3; round++) await writeRound(store, round, model);
      mergeThreadTestHooks.holdNextMerge = true;
      let atKill: string[] = [];
      let dead: Promise<{ exitCode: number; error: Error | undefined }> | undefined;
      const held = new Promise<void>((resolve) => (mergeThreadTestHooks.onHeld = resolve));
      const compacting = store.compact();
      await held;
      // Reads and commits go on while the thread holds the merge.
      expect(await store.get(key(3))).toEqual(model.get(key(3)));
      await store.put('during', 'the held merge');
      model.set('during', 'the held merge');
      atKill = runFiles(directory);
      dead = killWorker(spy.last('merge'), death, MERGE_THREAD_OLD_GENERATION_MB);
      const result = await compacting;
      const seen = await dead;
      if (death === 'oom') expect(seen.error).toMatchObject({ code: 'ERR_WORKER_OUT_OF_MEMORY' });
      if (death === 'throw') expect(seen.error).toBeInstanceOf(TypeError);
      expect(result.outcome).toBe('compacted');
      expect(result.runsIn).toBe(3);
      const temporary = atKill.filter((name) => name.endsWith('.run.tmp'));
      expect(temporary).toHaveLength(1);
      const deadRunId = Number(temporary[0]!.slice(0, 10));
      const compaction = store.stats().storage.compaction;
      expect(compaction).toMatchObject({ compactions: 1, failures: 0, mergeThreadExits: 1, lastError: undefined });
      expect(runFiles(directory).filter((name) => name.endsWith('.run'))).toHaveLength(store.stats().storage.runs);
      expect(runFiles(directory).some((name) => name.startsWith(temporary[0]!.slice(0, 10)))).toBe(false);
      await expectModel(store, model);
      await expectClosedClean(store, directory, model, [deadRunId]);
    }, 120_000);
  }
});

describe('the merge thread dies after writing its output, before its answer arrives', () => {
  for (const death of DEATHS) {
    it(`${death}: the written temporary output is removed, merged again under a new run id, nothing listed twice`, async () => {
      const directory = temporaryDirectory();
      const model = new Map<string, unknown>();
      const store = await openStore(directory, OPTIONS);
      for (let round = 0; round < 3; round++) await writeRound(store, round, model);
      let renamed: RunDescriptor | undefined;
      let filesAtKill: string[] = [];
      let dead: Promise<unknown> | undefined;
      spy.swallowNext('done', (worker, message) => {
        renamed = (message as { descriptor: RunDescriptor }).descriptor;
        filesAtKill = runFiles(directory);
        dead = killWorker(worker, death, MERGE_THREAD_OLD_GENERATION_MB);
      });
      const result = await store.compact();
      await dead;
      expect(result.outcome).toBe('compacted');
      expect(renamed).toBeDefined();
      // Durable under its temporary name: a thread renames nothing, the main thread installs (run-install.ts).
      expect(filesAtKill).toContain(renamed!.fileName + RUN_TEMPORARY_SUFFIX);
      expect(filesAtKill).not.toContain(renamed!.fileName);
      expect(runFiles(directory)).not.toContain(renamed!.fileName);
      expect(runFiles(directory)).not.toContain(renamed!.fileName + RUN_TEMPORARY_SUFFIX);
      expect(store.stats().storage.compaction).toMatchObject({ compactions: 1, failures: 0, mergeThreadExits: 1, lastError: undefined });
      expect(store.stats().storage.runs).toBe(1);
      await expectModel(store, model);
      await expectClosedClean(store, directory, model, [renamed!.runId]);
    }, 120_000);
  }
});

describe('the merge thread dies after its answer, while the main thread installs', () => {
  for (const death of ['throw', 'oom'] as const) {
    it(`${death}: the thread's output is installed, no exit counted, the next merge starts a fresh thread`, async () => {
      const directory = temporaryDirectory();
      const model = new Map<string, unknown>();
      const store = await openStore(directory, OPTIONS);
      for (let round = 0; round < 3; round++) await writeRound(store, round, model);
      let answered: RunDescriptor | undefined;
      let dead: Promise<unknown> | undefined;
      let thread: unknown;
      spy.swallowNext('done', (worker, message) => {
        answered = (message as { descriptor: RunDescriptor }).descriptor;
        thread = worker;
        worker.emit('message', message);
        dead = killWorker(worker, death, MERGE_THREAD_OLD_GENERATION_MB);
      });
      const result = await store.compact();
      await dead;
      expect(result.outcome).toBe('compacted');
      expect(runFiles(directory)).toEqual([answered!.fileName]);
      expect(store.stats().storage.compaction).toMatchObject({ failures: 0, mergeThreadExits: 0 });
      await writeRound(store, 3, model);
      expect((await store.compact()).outcome).toBe('compacted');
      expect(spy.last('merge')).not.toBe(thread);
      await expectModel(store, model);
      await expectClosedClean(store, directory, model, []);
    }, 120_000);
  }
});

describe('the in-process merge after a thread death writes what the thread writes', () => {
  it('same inputs, pin, retention floor and run id: the same bytes as an in-process merge, and as the thread for a warm output; the same histories for a cold one', async () => {
    const stores = { killed: temporaryDirectory(), thread: temporaryDirectory(), inProcess: temporaryDirectory() };
    const allocate = Manifest.prototype.allocateRunId;
    let burnNext = false;
    // The other stores skip one run id where the killed store's dead thread used one: every output has the same id.
    vi.spyOn(Manifest.prototype, 'allocateRunId').mockImplementation(function (this: Manifest) {
      if (burnNext) {
        burnNext = false;
        allocate.call(this);
      }
      return allocate.call(this);
    });
    type Name = keyof typeof stores;
    const outputs: Record<Name, Buffer[]> = { killed: [], thread: [], inProcess: [] };
    const histories: Record<Name, unknown[]> = { killed: [], thread: [], inProcess: [] };
    for (const [name, directory] of Object.entries(stores) as Array<[Name, string]>) {
      compactionSettings.mergeThread = name === 'inProcess' ? 'main' : 'worker';
      const model = new Map<string, unknown>();
      const store = await openStore(directory, OPTIONS);
      for (let level = 1; level <= 2; level++) {
        // Three tier-0 runs (four would start a background merge, at a different moment in each store).
        for (let round = 0; round < 2; round++) await writeRound(store, 3 * level + round, model);
        await using snapshot = await store.snapshot(); // a pin: the horizon keeps what it may read
        await writeRound(store, 3 * level + 2, model);
        const retainFrom = snapshot.version - 6; // a retention floor below the pin
        if (name === 'killed') {
          mergeThreadTestHooks.holdNextMerge = true;
          mergeThreadTestHooks.onHeld = () => void killWorker(spy.last('merge'), 'throw', MERGE_THREAD_OLD_GENERATION_MB);
        } else {
          burnNext = true;
        }
        const result = await store.compact({ retainFrom });
        expect(result.outcome).toBe('compacted');
        expect(result.entriesDropped).toBeGreaterThan(0);
        expect(result.retentionFloor).toBe(retainFrom);
        expect(store.stats().storage.compaction.mergeThreadExits).toBe(name === 'killed' ? level : 0);
        expect(runFiles(directory)).toHaveLength(1);
        outputs[name].push(readFileSync(join(directory, 'runs', runFiles(directory)[0]!)));
        await expectModel(store, model);
      }
      expect(store.stats().storage.tiers.coldRuns).toBe(1); // the second output is compressed
      const everything: unknown[] = [];
      for (let index = 0; index < KEYS; index++) everything.push(await store.history(key(index)));
      histories[name] = everything;
      await store.close();
    }
    expect(runFiles(stores.killed)).toEqual(runFiles(stores.thread));
    // The merge done again in process is the in-process merge, byte for byte, warm and cold.
    for (let level = 0; level < 2; level++) expect(outputs.killed[level]!.equals(outputs.inProcess[level]!)).toBe(true);
    // Warm: the thread's bytes too. Cold: the same length and histories; the block cuts differ (writeRun
    // packs a compressed run's blocks differently with the pool's batches than with the thread's inline compressor).
    expect(outputs.killed[0]!.equals(outputs.thread[0]!)).toBe(true);
    expect(outputs.killed[1]!.length).toBe(outputs.thread[1]!.length);
    expect(histories.killed).toEqual(histories.thread);
    expect(histories.killed).toEqual(histories.inProcess);
  }, 180_000);
});
