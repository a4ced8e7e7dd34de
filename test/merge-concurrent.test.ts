/**
 * Two compactions at once (src/compaction/compactor.ts, Compactor#schedule): while a
 * background merge of a deeper tier (4 x tier 1 -> tier 2) runs in the merge thread,
 * a tier-0 -> tier-1 merge of newer runs runs in a second thread. Both install, in
 * either completion order, with exactly the data a Map model holds; cancel and close
 * with both in flight leave the debt and no thread; a process killed with both in
 * flight reopens with exactly what it acknowledged.
 *
 * No timing: merges are held in their thread (mergeThreadTestHooks.holdNextMerge,
 * resumeHeldMerges) or before it (compactionTestHooks.onHorizon, which sees the pick).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { mergeThreadsRunning, mergeThreadTestHooks, resumeHeldMerges } from '../src/compaction/merge-thread.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const root = join(import.meta.dirname, '..');
const OPTIONS = { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 };
/** Keys per round: a tier-1 run holds ~2 versions of each, so the deep merge reads past its first progress. */
const KEYS_PER_ROUND = 2500;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

/** Stores a test opened: closed after it, so a failed test leaves no thread to the next one. */
const opened: Store[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
  compactionSettings.mergeThread = 'worker';
  mergeThreadTestHooks.holdNextMerge = false;
  mergeThreadTestHooks.ignoreCancel = false;
  compactionTestHooks.onHorizon = undefined;
  removeTemporaryDirectories();
});

const key = (index: number): string => `key-${String(index).padStart(6, '0')}`;

/** Round `round`: every key written (a few deleted), then flushed to one tier-0 run; the model follows. */
async function writeRound(store: Store, model: Map<string, unknown>, round: number): Promise<void> {
  const operations = [];
  for (let index = 0; index < KEYS_PER_ROUND; index++) {
    if (index % 11 === round % 11) {
      operations.push({ type: 'del' as const, key: key(index) });
      model.delete(key(index));
    } else {
      const value = { round, index };
      operations.push({ type: 'put' as const, key: key(index), value });
      model.set(key(index), value);
    }
  }
  await store.batch(operations);
  await store.checkpoint();
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const compactionOf = (store: Store) => store.stats().storage.compaction;

/** Writes 16 rounds (4 tier-1 runs once each merge is done) with background compaction; the deep merge is `onDeep`'s to hold. */
async function storeWithDeepMerge(directory: string, model: Map<string, unknown>, onDeep: () => void | Promise<void>): Promise<Store> {
  const store = await openStore(directory, OPTIONS);
  opened.push(store);
  let deepStarted = false;
  compactionTestHooks.onHorizon = async (_horizon, pick) => {
    if (pick.outputLevel !== 2) return;
    deepStarted = true;
    await onDeep();
  };
  for (let round = 0; round < 16; round++) {
    await writeRound(store, model, round);
    await until(() => compactionOf(store).runningCount === 0 || compactionOf(store).runsPerLevel[1] === 4);
  }
  // The fourth tier-0 merge has ended (it counted) and the deep one has begun.
  await until(() => deepStarted && compactionOf(store).runningCount === 1 && compactionOf(store).compactions === 4);
  return store;
}

async function expectModel(store: Store, model: Map<string, unknown>): Promise<void> {
  const scanned: [string, unknown][] = [];
  for await (const [entryKey, entryValue] of store.scan()) scanned.push([entryKey as string, entryValue]);
  expect(scanned).toEqual([...model.entries()].sort(([left], [right]) => (left < right ? -1 : 1)));
  for (let index = 0; index < KEYS_PER_ROUND; index += 97) expect(await store.get(key(index))).toEqual(model.get(key(index)));
}

function runFiles(directory: string): string[] {
  return readdirSync(join(directory, 'runs')).sort();
}

describe('a shallow merge beside a deep one', () => {
  it('both install when the shallow one finishes first, with the model\'s data', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await storeWithDeepMerge(directory, model, () => {
      mergeThreadTestHooks.holdNextMerge = true; // the deep merge waits in its thread
    });
    await until(() => !mergeThreadTestHooks.holdNextMerge);
    const compactionsBefore = compactionOf(store).compactions;
    for (let round = 16; round < 20; round++) await writeRound(store, model, round);
    // The fourth tier-0 run starts the shallow merge in the second thread; it installs while the deep one is held.
    await until(() => compactionOf(store).compactions === compactionsBefore + 1);
    expect(compactionOf(store)).toMatchObject({ runningCount: 1, runsPerLevel: [0, 5] });
    expect(mergeThreadsRunning()).toBe(1); // the second thread ended with its merge
    await expectModel(store, model);
    resumeHeldMerges();
    await until(() => compactionOf(store).runningCount === 0);
    expect(compactionOf(store)).toMatchObject({ compactions: compactionsBefore + 2, failures: 0, runsPerLevel: [0, 1, 1] });
    await expectModel(store, model);
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
    const reopened = await openStore(directory, OPTIONS);
    opened.push(reopened);
    await expectModel(reopened, model);
    expect(runFiles(directory)).toHaveLength(reopened.stats().storage.runs);
    await reopened.close();
  }, 120_000);

  it('both install when the deep one finishes first, with the model\'s data', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    let releaseDeep!: () => void;
    const deepGate = new Promise<void>((resolve) => (releaseDeep = resolve));
    const store = await storeWithDeepMerge(directory, model, () => deepGate); // held before its thread merge
    const compactionsBefore = compactionOf(store).compactions;
    compactionTestHooks.onHorizon = async (_horizon, pick) => {
      if (pick.outputLevel === 1) mergeThreadTestHooks.holdNextMerge = true; // the shallow merge waits in the second thread
    };
    for (let round = 16; round < 20; round++) await writeRound(store, model, round);
    await until(() => compactionOf(store).runningCount === 2 && !mergeThreadTestHooks.holdNextMerge);
    releaseDeep();
    await until(() => compactionOf(store).compactions === compactionsBefore + 1);
    expect(compactionOf(store)).toMatchObject({ runningCount: 1, runsPerLevel: [4, 0, 1] });
    await expectModel(store, model);
    resumeHeldMerges();
    await until(() => compactionOf(store).runningCount === 0);
    expect(compactionOf(store)).toMatchObject({ compactions: compactionsBefore + 2, failures: 0, runsPerLevel: [0, 1, 1] });
    await expectModel(store, model);
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
    const reopened = await openStore(directory, OPTIONS);
    opened.push(reopened);
    await expectModel(reopened, model);
    await reopened.close();
  }, 120_000);

  it('close() with both in flight cancels both: nothing installed, no thread left, the data exact after reopen', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await storeWithDeepMerge(directory, model, () => {
      mergeThreadTestHooks.holdNextMerge = true;
    });
    await until(() => !mergeThreadTestHooks.holdNextMerge);
    compactionTestHooks.onHorizon = (_horizon, pick) => {
      if (pick.outputLevel === 1) mergeThreadTestHooks.holdNextMerge = true;
    };
    for (let round = 16; round < 20; round++) await writeRound(store, model, round);
    await until(() => compactionOf(store).runningCount === 2 && !mergeThreadTestHooks.holdNextMerge);
    expect(mergeThreadsRunning()).toBe(2);
    const { compactions, cancelled } = compactionOf(store);
    const runsBefore = runFiles(directory).filter((name) => name.endsWith('.run'));
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
    expect(runFiles(directory)).toEqual(runsBefore); // both outputs (and .tmp) removed, inputs kept
    compactionSettings.mergeThread = 'main'; // no merge at open: the runs are what close left
    const reopened = await openStore(directory, OPTIONS);
    opened.push(reopened);
    expect(compactionOf(reopened).runsPerLevel).toEqual([4, 4]);
    await expectModel(reopened, model);
    await reopened.close();
    expect({ compactions, cancelled }).toEqual({ compactions: 4, cancelled: 0 }); // the four tier-0 merges of the 16 rounds
  }, 120_000);

  it('a full compact() cancels both background merges and merges every run once', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await storeWithDeepMerge(directory, model, () => {
      mergeThreadTestHooks.holdNextMerge = true;
    });
    await until(() => !mergeThreadTestHooks.holdNextMerge);
    compactionTestHooks.onHorizon = (_horizon, pick) => {
      if (pick.outputLevel === 1) mergeThreadTestHooks.holdNextMerge = true;
    };
    for (let round = 16; round < 20; round++) await writeRound(store, model, round);
    await until(() => compactionOf(store).runningCount === 2 && !mergeThreadTestHooks.holdNextMerge);
    compactionTestHooks.onHorizon = undefined;
    const { cancelled } = compactionOf(store);
    const result = await store.compact();
    expect(result).toMatchObject({ outcome: 'compacted', runsIn: 8, runsOut: 1 });
    expect(compactionOf(store)).toMatchObject({ cancelled: cancelled + 2, runningCount: 0, runsPerLevel: [0, 0, 1] });
    expect(mergeThreadsRunning()).toBe(1); // slot 0's thread stays while the store is open
    await expectModel(store, model);
    await store.close();
    expect(mergeThreadsRunning()).toBe(0);
  }, 120_000);

  it('a compact() call rejected by close() with both background merges in flight', async () => {
    const directory = temporaryDirectory();
    const model = new Map<string, unknown>();
    const store = await storeWithDeepMerge(directory, model, () => {
      mergeThreadTestHooks.holdNextMerge = true;
    });
    await until(() => !mergeThreadTestHooks.holdNextMerge);
    compactionTestHooks.onHorizon = (_horizon, pick) => {
      if (pick.outputLevel === 1) mergeThreadTestHooks.holdNextMerge = true;
    };
    for (let round = 16; round < 20; round++) await writeRound(store, model, round);
    await until(() => compactionOf(store).runningCount === 2 && !mergeThreadTestHooks.holdNextMerge);
    const ranged = store.compact({ gte: key(0), lt: key(10) }); // waits for both
    const closed = store.close();
    await expect(ranged).rejects.toBeInstanceOf(StoreClosedError);
    await closed;
    expect(mergeThreadsRunning()).toBe(0);
    compactionSettings.mergeThread = 'main';
    const reopened = await openStore(directory, OPTIONS);
    opened.push(reopened);
    await expectModel(reopened, model);
    await reopened.close();
  }, 120_000);
});

const CHILD_SCRIPT = `
const [indexPath, threadPath, compactorPath, directory, keysText] = process.argv.slice(1);
const keys = Number(keysText);
const { openStore } = await import(indexPath);
const { mergeThreadTestHooks, mergeThreadsRunning } = await import(threadPath);
const { compactionTestHooks } = await import(compactorPath);
const store = await openStore(directory, { memoryBudgetBytes: 32 * 1024 * 1024, maxVersionsPerKey: 2 });
const until = async (condition) => { while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5)); };
const compaction = () => store.stats().storage.compaction;
// The deep merge (4 x tier 1 -> tier 2) and the shallow one beside it are held in their threads.
compactionTestHooks.onHorizon = (horizon, pick) => {
  if (pick.outputLevel === 2 || compaction().runningCount === 2) mergeThreadTestHooks.holdNextMerge = true;
};
for (let round = 0; round < 20; round++) {
  const operations = [];
  for (let index = 0; index < keys; index++) operations.push({ type: 'put', key: 'key-' + index, value: round });
  await store.batch(operations);
  await store.checkpoint();
  await until(() => compaction().runningCount === 0 || compaction().runsPerLevel[1] === 4);
}
await until(() => compaction().runningCount === 2 && mergeThreadsRunning() === 2 && !mergeThreadTestHooks.holdNextMerge);
for (let extra = 0; extra < 50; extra++) {
  await store.put('extra-' + extra, extra);
  process.stdout.write('ACK ' + extra + '\\n');
}
process.stdout.write('MERGING ' + JSON.stringify(compaction().runsPerLevel) + '\\n');
setInterval(() => undefined, 1000); // alive until killed
`;

describe('a process killed during two thread merges', () => {
  it('reopens with exactly the acknowledged data and no orphan file', async () => {
    const directory = temporaryDirectory();
    const child = spawn(process.execPath, [
      '--input-type=module', '--eval', CHILD_SCRIPT,
      join(root, 'dist', 'src', 'index.js'), join(root, 'dist', 'src', 'compaction', 'merge-thread.js'),
      join(root, 'dist', 'src', 'compaction', 'compactor.js'), directory, String(KEYS_PER_ROUND),
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acknowledged = -1;
    let merging = '';
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        for (const line of buffered.split('\n').slice(0, -1)) {
          if (line.startsWith('ACK ')) acknowledged = Number(line.slice(4));
          if (line.startsWith('MERGING')) {
            merging = line;
            resolve();
          }
        }
        buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      });
      child.on('exit', (code) => reject(new Error(`child exited with ${code} before the merges`)));
    });
    expect(merging).toBe('MERGING [4,4]');
    // Both threads hold their merge with a temporary output open: kill the process there.
    // (The second may open its .tmp just after the ACKs: wait for it, bounded by the test's timeout.)
    await until(() => runFiles(directory).filter((name) => name.endsWith('.tmp')).length === 2);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(acknowledged).toBe(49);

    compactionSettings.mergeThread = 'main'; // no merge at open: the files seen are what open left
    const reopened = await openStore(directory, OPTIONS);
    opened.push(reopened);
    for (let index = 0; index < KEYS_PER_ROUND; index += 7) expect(await reopened.get(`key-${index}`)).toBe(19);
    for (let extra = 0; extra < 50; extra++) expect(await reopened.get(`extra-${extra}`)).toBe(extra);
    expect(runFiles(directory)).toHaveLength(reopened.stats().storage.runs);
    expect(runFiles(directory).every((name) => name.endsWith('.run'))).toBe(true);
    await reopened.close();
  }, 120_000);
});
