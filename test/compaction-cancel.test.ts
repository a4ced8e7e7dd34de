/**
 * close() cancels compaction (issues 7 and 8; RocksDB's CancelAllBackgroundWork is
 * the model): a running merge stops at its next yield, removes its temporary output
 * and installs nothing, so close never waits for a long merge. The inputs stay live,
 * the manifest is unchanged, the cancellation is counted (`cancelled`) and the debt
 * stays for the next open. A store.compact() call that close cancels rejects with
 * StoreClosedError.
 *
 * No timing: close is called from inside the compaction (a file-system wrapper
 * calls it when the compaction opens its temporary output, or at the nth file-system
 * call after that), and the outcome is asserted: close resolved, nothing installed
 * (or, when the manifest edit had begun, everything installed), exact data after
 * reopen, no orphan file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { COMPACTION_STALL_RUNS } from '../src/limits.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store, StoreClosedError } from '../src/index.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: true, maxVersionsPerKey: 1 };
/** Keys per run: several merge yields (MERGE_YIELD_ENTRIES = 256) per compaction. */
const KEYS_PER_RUN = 600;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
  compactionSettings.stallRunCount = COMPACTION_STALL_RUNS;
});

interface Paused {
  fileSystem: FileSystem;
  /** Resolves when the first call `shouldPause` accepts is held (before it runs). */
  reached: Promise<void>;
  /** Lets the held call run. */
  release: () => void;
  /** Every path-taking call made through the wrapper: [method, first path]. */
  calls: Array<[string, string]>;
}

/**
 * `inner` behind a wrapper that holds the first FileSystem call `shouldPause`
 * accepts until release(): the test calls close() from its own async chain (the
 * lock-order checker refuses a close from inside the compaction's chain, which
 * holds store.lifecycle for a compact() call) at exactly that point.
 */
function pausing(inner: FaultFileSystem, shouldPause: (method: string, path: string) => boolean): Paused {
  let reachedResolve = (): void => undefined;
  let releaseResolve = (): void => undefined;
  const reached = new Promise<void>((resolve) => {
    reachedResolve = resolve;
  });
  const released = new Promise<void>((resolve) => {
    releaseResolve = resolve;
  });
  let paused = false;
  const calls: Array<[string, string]> = [];
  const fileSystem = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const call = value as (...parameters: unknown[]) => unknown;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string') calls.push([String(property), args[0]]);
        if (paused || typeof args[0] !== 'string' || !shouldPause(String(property), args[0])) return call.apply(target, args);
        paused = true;
        reachedResolve();
        return released.then(() => call.apply(target, args));
      };
    },
  });
  return { fileSystem, reached, release: releaseResolve, calls };
}

/** Writes `runCount` runs of overlapping keys (overwrites) with checkpoints; returns the newest value per key. */
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

/** Reopens: exact data, and runs/ holds exactly the manifest's runs (no orphan, no temporary file). */
async function expectReopenExact(fileSystem: FaultFileSystem, model: Map<string, unknown>): Promise<Store> {
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  expect(runFiles(fileSystem)).toEqual(await listedRuns(fileSystem));
  const seen = new Map<string, unknown>();
  for await (const [key, value] of store.scan()) seen.set(String(key), value);
  expect(seen).toEqual(model);
  return store;
}

describe('close() cancels a running compaction', () => {
  it('a background merge stops, removes its temporary output, installs nothing; close resolves; the debt stays', async () => {
    const fileSystem = new FaultFileSystem(1);
    const model = new Map<string, unknown>();
    const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    await writeRuns(first, 3, model); // one short of COMPACTION_FANOUT: no merge yet
    await first.close();
    const runsBefore = [...await listedRuns(fileSystem)];

    let compactionStarted = false;
    let temporaryOpened = '';
    compactionTestHooks.onHorizon = () => {
      compactionStarted = true;
    };
    // Held when the compaction creates its output: its merge has begun (the first entry is out).
    const paused = pausing(fileSystem, (method, path) => {
      if (!compactionStarted || method !== 'open' || !path.endsWith('.tmp') || !path.startsWith(RUNS)) return false;
      temporaryOpened = path;
      return true;
    });
    const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
    await writeRuns(store, 1, model); // the fourth run: the tiered policy merges in the background
    expect(compactionStarted).toBe(true);
    await paused.reached;
    const runsWhileRunning = await listedRuns(fileSystem);
    expect(store.stats().storage.compaction.running).toBe(true);
    const closing = store.close();
    paused.release();
    await closing;

    const compaction = store.stats().storage.compaction;
    expect(compaction).toMatchObject({ cancelled: 1, compactions: 0, failures: 0, running: false, lastError: undefined });
    expect(temporaryOpened.startsWith(`${RUNS}/`)).toBe(true);
    // The merge stopped part-way: its temporary output was never completed and renamed.
    expect(paused.calls.filter(([method, path]) => method === 'rename' && path === temporaryOpened)).toEqual([]);
    // Nothing installed: the manifest lists the four inputs, as while the merge ran; no temporary file left.
    expect(await listedRuns(fileSystem)).toEqual(runsWhileRunning);
    expect(runsWhileRunning.length).toBe(runsBefore.length + 1);
    expect(fileSystem.listPaths()).not.toContain(temporaryOpened);
    expect(runFiles(fileSystem)).toEqual(runsWhileRunning);

    compactionTestHooks.onHorizon = undefined;
    const reopened = await expectReopenExact(fileSystem, model);
    // The debt stays: the next open has the same merge to do, and does it.
    expect(reopened.stats().storage.compaction.debtBytes).toBeGreaterThan(0);
    const result = await reopened.compact();
    expect(result.outcome).toBe('compacted');
    expect(result.runsIn).toBe(4);
    await reopened.close();
    await (await expectReopenExact(fileSystem, model)).close();
  });

  it('a compact() call that close() cancels rejects with StoreClosedError and changes nothing', async () => {
    const fileSystem = new FaultFileSystem(2);
    const model = new Map<string, unknown>();
    const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    await writeRuns(first, 3, model);
    await first.close();
    const runsBefore = await listedRuns(fileSystem);

    const paused = pausing(fileSystem, (method, path) => method === 'open' && path.endsWith('.tmp') && path.startsWith(RUNS));
    const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
    const compacting = store.compact();
    await paused.reached;
    const closing = store.close();
    paused.release();
    await expect(compacting).rejects.toBeInstanceOf(StoreClosedError);
    await closing;
    expect(store.stats().storage.compaction).toMatchObject({ cancelled: 1, compactions: 0, failures: 0 });
    expect(await listedRuns(fileSystem)).toEqual(runsBefore);
    await (await expectReopenExact(fileSystem, model)).close();
  });
});

describe('close() and the write stall', () => {
  it('a write stalled on the compaction backlog is let through by close(), before the held compaction moves', async () => {
    compactionSettings.stallRunCount = 6;
    const fileSystem = new FaultFileSystem(31);
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    let reached = (): void => undefined;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    compactionTestHooks.onHorizon = async () => {
      compactionTestHooks.onHorizon = undefined;
      reached();
      await gate;
    };
    for (let run = 0; run < 7; run++) {
      await store.put(`r${run}`, run);
      await store.checkpoint(); // the fourth starts the merge, held at its horizon; 7 runs: backlog
      if (run === 3) await held;
    }
    const write = store.put('stalled', 1);
    const closing = store.close();
    // close() cancels compaction first: the backlog no longer stalls, the write is
    // acknowledged while the compaction is still held (before: it waited for the merge).
    await write;
    release();
    await closing;
    expect(store.stats().storage.compaction).toMatchObject({ cancelled: 1, compactions: 0 });
    const reopened = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    expect(await reopened.get('stalled')).toBe(1);
    for (let run = 0; run < 7; run++) expect(await reopened.get(`r${run}`)).toBe(run);
    await reopened.close();
  });
});

describe('a cancellation racing the output rename installs fully or leaves the inputs', () => {
  /**
   * close() is called right before the nth path-taking file-system call after the
   * compaction created its temporary output (n = 0: that open; then the rename, the
   * directory fsync, the manifest edit's calls, the inputs' unlinks...), then the
   * machine crashes in each mode (or not): the store reopens exact, with either the
   * inputs or the output live, never both or neither, and no orphan.
   */
  async function raceAt(callIndex: number, mode: CrashMode | 'none'): Promise<{ triggered: boolean; installed: boolean }> {
    const fileSystem = new FaultFileSystem(100 + callIndex);
    const model = new Map<string, unknown>();
    const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    await writeRuns(first, 3, model);
    await first.close();
    const runsBefore = await listedRuns(fileSystem);

    let counting = false;
    let compactionEnded = false;
    let callsSeen = 0;
    const paused = pausing(fileSystem, (method, path) => {
      if (compactionEnded) return false;
      if (!counting && method === 'open' && path.endsWith('.tmp') && path.startsWith(RUNS)) counting = true;
      return counting && callsSeen++ === callIndex;
    });
    const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
    const compacting = store.compact().then(() => 'compacted' as const, (error: unknown) => {
      expect(error).toBeInstanceOf(StoreClosedError);
      return 'cancelled' as const;
    }).finally(() => {
      compactionEnded = true;
    });
    const triggered = await Promise.race([paused.reached.then(() => true), compacting.then(() => false)]);
    const closing = store.close();
    paused.release();
    const outcome = await compacting;
    await closing;
    const listed = await listedRuns(fileSystem);
    const installed = outcome === 'compacted';
    if (installed) expect(listed.length).toBe(1);
    else expect(listed).toEqual(runsBefore);
    const image = mode === 'none' ? fileSystem : fileSystem.crash(mode);
    const reopened = await expectReopenExact(image, model);
    // Inputs or output, never a mix: the manifest after the crash is the one the close left.
    expect(await listedRuns(image)).toEqual(listed);
    await reopened.close();
    return { triggered, installed };
  }

  it('every call from the output creation to the end of the compaction, every crash mode', async () => {
    const outcomes: string[] = [];
    for (let callIndex = 0; ; callIndex++) {
      let triggeredAny = false;
      for (const mode of ['none', ...MODES] as const) {
        const { triggered, installed } = await raceAt(callIndex, mode);
        triggeredAny ||= triggered;
        if (mode === 'none') outcomes.push(installed ? 'installed' : 'cancelled');
      }
      // Past the compaction's last call the trigger lands in close itself: stop there.
      if (!triggeredAny || outcomes.at(-1) === 'installed') break;
    }
    // Both outcomes happen: cancelled at the first calls (before and right after the
    // rename), installed once the manifest edit had begun.
    expect(outcomes[0]).toBe('cancelled');
    expect(outcomes.at(-1)).toBe('installed');
  });

  it('a cancelled output whose unlink fails is an orphan that reopen removes', async () => {
    const fileSystem = new FaultFileSystem(7);
    const model = new Map<string, unknown>();
    const first = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    await writeRuns(first, 3, model);
    await first.close();
    const runsBefore = await listedRuns(fileSystem);

    let finalName = '';
    // Held when the output is renamed into place and its directory fsync is next.
    const paused = pausing(fileSystem, (method, path) => {
      if (method !== 'syncDirectory' || path !== RUNS) return false;
      const created = runFiles(fileSystem).filter((name) => !runsBefore.includes(name) && !name.endsWith('.tmp'));
      if (created.length !== 1) return false;
      finalName = created[0]!;
      return true;
    });
    const store = await openStore(DIRECTORY, { fileSystem: paused.fileSystem, ...OPTIONS });
    const compacting = store.compact();
    await paused.reached;
    // Cancel now, and let the cancelled output's unlink fail.
    fileSystem.injectFault({ operation: 'unlink', error: 'EIO', path: `${RUNS}/${finalName}` });
    const closing = store.close();
    paused.release();
    await expect(compacting).rejects.toBeInstanceOf(StoreClosedError);
    await closing;
    expect(finalName).not.toBe('');
    expect(await listedRuns(fileSystem)).toEqual(runsBefore);
    expect(runFiles(fileSystem)).toContain(finalName); // the orphan
    const reopened = await expectReopenExact(fileSystem, model);
    expect(runFiles(fileSystem)).not.toContain(finalName);
    await reopened.close();
  });
});
