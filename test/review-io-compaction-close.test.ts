/**
 * Review of 309d632 (close() cancels a running compaction). The existing sweep
 * (test/compaction-cancel.test.ts) starts at the output's creation, stops at the first
 * race that installs, and closes with an empty memtable. This one races close()
 * against every path-taking file-system call of a store.compact() from its start to
 * its end (input cursors, merge, output rename and directory sync, the manifest edit,
 * the inputs' unlinks) while the memtable holds unflushed writes, so close's own
 * checkpoint (a flush and its manifest edit) runs beside the compaction's tail. After
 * close resolves: the manifest lists either the inputs or the output, the store
 * reopens exact (also after a power loss that drops anything unsynced), and runs/
 * holds exactly the manifest's runs (no orphan, no lost run).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: true, maxVersionsPerKey: 1 };
const KEYS_PER_RUN = 600;

/** Holds the first path-taking FileSystem call `shouldPause` accepts until release(). */
function pausing(inner: FaultFileSystem, shouldPause: (method: string, path: string) => boolean) {
  let reachedResolve = (): void => undefined;
  let releaseResolve = (): void => undefined;
  const reached = new Promise<void>((resolve) => (reachedResolve = resolve));
  const released = new Promise<void>((resolve) => (releaseResolve = resolve));
  let paused = false;
  const fileSystem = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const call = value as (...parameters: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (paused || typeof args[0] !== 'string' || !shouldPause(String(property), args[0])) return call.apply(target, args);
        paused = true;
        reachedResolve();
        return released.then(() => call.apply(target, args));
      };
    },
  }) as FileSystem;
  return { fileSystem, reached, release: releaseResolve };
}

async function writeRuns(store: Store, runCount: number, model: Map<string, unknown>): Promise<void> {
  for (let run = 0; run < runCount; run++) {
    await store.batch(Array.from({ length: KEYS_PER_RUN }, (_, index) => {
      const key = `k${String(index * 2 + (run % 2)).padStart(5, '0')}`;
      const value = { run, index, padding: 'x'.repeat(40) };
      model.set(key, value);
      return { type: 'put' as const, key, value };
    }));
    await store.checkpoint();
  }
}

async function listedRuns(fileSystem: FaultFileSystem): Promise<string[]> {
  const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
  return manifest.state.runs.map((run) => run.fileName).sort();
}

function runFiles(fileSystem: FaultFileSystem): string[] {
  return fileSystem.listPaths().filter((path) => path.startsWith(`${RUNS}/`)).map((path) => path.slice(RUNS.length + 1)).sort();
}

async function expectReopenExact(fileSystem: FaultFileSystem, model: Map<string, unknown>): Promise<void> {
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  try {
    expect(runFiles(fileSystem)).toEqual(await listedRuns(fileSystem));
    const seen = new Map<string, unknown>();
    for await (const [key, value] of store.scan()) seen.set(String(key), value);
    expect(seen).toEqual(model);
  } finally {
    await store.close();
  }
}

/** close() right before the nth path-taking call after compact() began; false when the compaction ended first. */
async function raceAt(callIndex: number): Promise<{ triggered: boolean; outcome: 'compacted' | 'cancelled' }> {
  const fileSystem = new FaultFileSystem(300 + callIndex);
  const model = new Map<string, unknown>();
  const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  await writeRuns(first, 3, model);
  await first.close();
  const runsBefore = await listedRuns(fileSystem);

  let counting = false;
  let compactionEnded = false;
  let callsSeen = 0;
  const paused = pausing(fileSystem, () => !compactionEnded && counting && callsSeen++ === callIndex);
  const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
  // Unflushed writes: close() checkpoints them beside the compaction's tail.
  await store.batch(Array.from({ length: 50 }, (_, index) => {
    const key = `k${String(index * 4).padStart(5, '0')}`;
    const value = { dirty: index };
    model.set(key, value);
    return { type: 'put' as const, key, value };
  }));
  counting = true;
  const compacting = store.compact().then(
    () => 'compacted' as const,
    (error: unknown) => {
      expect(error).toBeInstanceOf(StoreClosedError);
      return 'cancelled' as const;
    },
  ).finally(() => {
    compactionEnded = true;
  });
  const triggered = await Promise.race([paused.reached.then(() => true), compacting.then(() => false)]);
  const closing = store.close();
  paused.release();
  const outcome = await compacting;
  await closing;
  const listed = await listedRuns(fileSystem);
  const inputsListed = runsBefore.filter((run) => listed.includes(run));
  // Inputs or output, never a mix (the checkpoint's flush adds one more run either way).
  if (outcome === 'compacted') expect(inputsListed).toEqual([]);
  else expect(inputsListed).toEqual(runsBefore);
  await expectReopenExact(fileSystem, model);
  // What a clean close left is durable: a power loss after it loses nothing.
  await expectReopenExact(fileSystem.crash('drop-unsynced'), model);
  return { triggered, outcome };
}

describe('close() racing every step of a compaction, with unflushed writes', () => {
  it('every path-taking call from compact() to its end: close resolves, inputs or output, exact reopen, no orphan', async () => {
    const outcomes: string[] = [];
    for (let callIndex = 0; callIndex < 200; callIndex++) {
      const { triggered, outcome } = await raceAt(callIndex);
      if (!triggered) break;
      outcomes.push(outcome);
    }
    expect(outcomes).toContain('cancelled');
    expect(outcomes).toContain('compacted');
    if (process.env.REVIEW_IO_PRINT) console.log(outcomes.join(' '));
  }, 120_000);
});

describe('reads racing a compaction that unlinks its inputs', () => {
  it('gets (synchronous block reads, small cache) and a snapshot taken before, while and after the inputs are unlinked: exact', async () => {
    const fileSystem = new FaultFileSystem(7);
    const model = new Map<string, unknown>();
    const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    await writeRuns(first, 3, model);
    await first.close();
    let compacting = false;
    const paused = pausing(fileSystem, (method, path) => compacting && method === 'unlink' && path.startsWith(RUNS) && path.endsWith('.run'));
    const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
    const snapshot = await store.snapshot();
    const expectAll = async (read: (key: string) => Promise<unknown>) => {
      for (const [key, value] of model) expect(await read(key), key).toEqual(value);
    };
    compacting = true;
    const compaction = store.compact();
    await paused.reached; // the manifest no longer lists the inputs; the first unlink is held
    await expectAll((key) => store.get(key));
    await expectAll((key) => snapshot.get(key));
    paused.release();
    await compaction;
    await expectAll((key) => store.get(key));
    await expectAll((key) => snapshot.get(key));
    await snapshot.release();
    await store.close();
    await expectReopenExact(fileSystem, model);
  });
});
