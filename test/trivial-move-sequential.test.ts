/**
 * Trivial moves (src/compaction/trivial-move.ts): flushed runs whose key ranges do not
 * overlap (ascending keys, one checkpoint per run) are kept as they are at the next
 * tier instead of merged into their concatenation. Observable: the run files keep their
 * names, compaction writes no byte, stats count the moves; every read stays exact, runs
 * that overlap still merge, the cold tier (compressed) is still written by a merge, so is
 * every pick above trivialMoveRunsMax live runs, and a reopen or a crash after the moves
 * (nothing on disk changed) finds the same runs.
 */
import { describe, expect, it } from 'vitest';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';
import { TRIVIAL_MOVE_MIN_RUN_BYTES } from '../src/compaction/trivial-move.js';
import { compactionSettings, TRIVIAL_MOVE_RUNS_MAX } from '../src/compaction/compaction-policy.js';
import { abandonStore } from '../src/store/store.js';

const DIRECTORY = '/db';
const OPTIONS = { memoryBudgetBytes: 64 * 1024 * 1024, checkpointOnClose: true };
/** Keys per run: with ~900 B values a run is over TRIVIAL_MOVE_MIN_RUN_BYTES. */
const KEYS_PER_RUN = 1400;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

const keyOf = (index: number): string => `k${String(index).padStart(7, '0')}`;
const valueOf = (index: number, round = 0): string => `${round}:${index}:`.padEnd(900, String.fromCharCode(97 + (index % 26)));

type Model = Map<string, string>;

/** Writes run `run` of ascending keys (or, `spread`, keys strided over every run written so far) and flushes it. */
async function writeRun(store: Store, model: Model, run: number, options: { spread?: number; round?: number } = {}): Promise<void> {
  const round = options.round ?? 0;
  for (let start = 0; start < KEYS_PER_RUN; start += 200) {
    const operations = [];
    for (let offset = start; offset < Math.min(KEYS_PER_RUN, start + 200); offset++) {
      const index = options.spread === undefined ? run * KEYS_PER_RUN + offset : offset * options.spread + run;
      operations.push({ type: 'put' as const, key: keyOf(index), value: valueOf(index, round) });
      model.set(keyOf(index), valueOf(index, round));
    }
    await store.batch(operations);
  }
  await store.checkpoint();
}

/** Until no compaction runs and the policy has none to start (bounded). */
async function settle(store: Store): Promise<void> {
  for (let wait = 0; wait < 20_000; wait++) {
    if (!store.stats().storage.compaction.running) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (!store.stats().storage.compaction.running) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error('compaction did not settle');
}

function runFiles(fileSystem: FaultFileSystem): string[] {
  return fileSystem.listPaths().filter((path) => path.startsWith(`${DIRECTORY}/runs/`) && path.endsWith('.run')).sort();
}

async function expectExact(store: Store, model: Model): Promise<void> {
  for (const [key, value] of model) expect(await store.get(key), key).toBe(value);
  expect(await store.get('k'), 'below every key').toBeUndefined();
  expect(await store.get(`${keyOf(KEYS_PER_RUN)}x`), 'between two keys').toBeUndefined();
  const scanned: string[] = [];
  for await (const [key, value] of store.scan()) {
    expect(value, key as string).toBe(model.get(key as string));
    scanned.push(key as string);
  }
  expect(scanned).toEqual([...model.keys()].sort());
}

describe('trivial moves of disjoint runs', () => {
  it('a sequential load: the runs rise a tier as they are, no byte rewritten; reads exact; overlapping runs still merge', async () => {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    const model: Model = new Map();
    for (let run = 0; run < 8; run++) await writeRun(store, model, run);
    await settle(store);
    const storage = store.stats().storage;
    expect(storage.runBytes / storage.runs).toBeGreaterThanOrEqual(TRIVIAL_MOVE_MIN_RUN_BYTES);
    expect(storage.runs).toBe(8);
    expect(storage.compaction).toMatchObject({ compactedBytesWritten: 0, trivialMoves: 2, runsMoved: 8, runsPerLevel: [0, 8], writeAmplification: 1 });
    const moved = runFiles(fileSystem);
    expect(moved).toHaveLength(8);
    await expectExact(store, model);

    // Four runs whose keys interleave over the whole range overlap each other: merged (one tier-1 run).
    for (let run = 0; run < 4; run++) await writeRun(store, model, run, { spread: 8, round: 1 });
    await settle(store);
    const after = store.stats().storage;
    expect(after.compaction.compactedBytesWritten).toBeGreaterThan(0);
    expect(after.compaction.trivialMoves).toBe(2);
    expect(after.compaction.runsPerLevel).toEqual([0, 9]);
    expect(runFiles(fileSystem).filter((path) => moved.includes(path))).toEqual(moved);
    await expectExact(store, model);

    // Reopen: the same runs, each at the tier it was written at until the policy moves it again.
    await store.close();
    const reopened = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    expect(reopened.stats().storage.runs).toBe(9);
    await expectExact(reopened, model);
    await reopened.close();
  });

  it('a crash after the moves (every mode): nothing on disk changed, the same runs and exact data after reopen', async () => {
    for (const mode of MODES) {
      const fileSystem = new FaultFileSystem(23);
      const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
      const model: Model = new Map();
      for (let run = 0; run < 4; run++) await writeRun(store, model, run);
      await settle(store);
      expect(store.stats().storage.compaction, mode).toMatchObject({ trivialMoves: 1, runsMoved: 4, compactedBytesWritten: 0 });
      const files = runFiles(fileSystem);
      store[abandonStore]();
      const crashed = fileSystem.crash(mode);
      const reopened = await openStore(DIRECTORY, { fileSystem: crashed, ...OPTIONS });
      expect(runFiles(crashed), mode).toEqual(files);
      expect(reopened.stats().storage.compaction.runsPerLevel, mode).toEqual([4]);
      await expectExact(reopened, model);
      // The next flush lets the policy decide again: the five tier-0 runs move together.
      await writeRun(reopened, model, 4);
      await settle(reopened);
      expect(reopened.stats().storage.compaction, mode).toMatchObject({ trivialMoves: 1, runsMoved: 5, compactedBytesWritten: 0, runsPerLevel: [0, 5] });
      await expectExact(reopened, model);
      await reopened.close();
    }
  });

  it('above trivialMoveRunsMax live runs a pick is merged, not moved', async () => {
    compactionSettings.trivialMoveRunsMax = 6;
    try {
      const fileSystem = new FaultFileSystem(41);
      const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
      const model: Model = new Map();
      for (let run = 0; run < 8; run++) await writeRun(store, model, run);
      await settle(store);
      const { compaction } = store.stats().storage;
      // The first four moved (4 live runs), the next four merged (8 live runs): one tier-1 run beside the moved unit.
      expect(compaction).toMatchObject({ trivialMoves: 1, runsMoved: 4, runsPerLevel: [0, 5] });
      expect(compaction.compactedBytesWritten).toBeGreaterThan(0);
      await expectExact(store, model);
      await store.close();
    } finally {
      compactionSettings.trivialMoveRunsMax = TRIVIAL_MOVE_RUNS_MAX;
    }
  });

  it('four moved units merge into the cold tier (compressed: a move would not copy them unchanged)', async () => {
    const fileSystem = new FaultFileSystem(31);
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    const model: Model = new Map();
    for (let run = 0; run < 16; run++) await writeRun(store, model, run);
    await settle(store);
    const { compaction } = store.stats().storage;
    expect(compaction).toMatchObject({ trivialMoves: 4, runsMoved: 16, runsPerLevel: [0, 0, 1] });
    expect(compaction.compactedBytesWritten).toBeGreaterThan(0);
    await expectExact(store, model);
    await store.close();
  }, 30_000);
});
