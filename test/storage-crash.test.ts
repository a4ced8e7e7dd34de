/**
 * Crash sweeps over the storage engine's durability boundaries: flushes of sealed
 * memtables to run files, run installs through manifest edits, a full manifest
 * rewrite (the edit chain passes MANIFEST_EDITS_MAX), and the deletion of WAL
 * segments the runs cover.
 *
 * The workload is test/workload.ts's deterministic multi-writer plan, run with a
 * tiny memory budget (memtables sealed every few dozen commits), 16 KiB segments,
 * and writer 0 calling store.checkpoint() every few operations. Before the store
 * is first opened, the manifest is created with an edit chain a few edits short of
 * MANIFEST_EDITS_MAX, so the workload's own installs cross the bound and rewrite it
 * (the store has no option to lower the bound; building the chain directly is the
 * test-only way in).
 *
 * For each sampled crash point k (the run dies after k file-system operations) and
 * each crash mode: reopen, then
 * - exactly the acknowledged data (checkRecovered: every acknowledged operation at
 *   its version, no half batch, each writer's keys a prefix of its plan);
 * - no orphan: the run directory lists exactly the manifest's runs, no temporary
 *   file anywhere, no WAL segment below the manifest's WAL start;
 * - the store takes a write, closes (a checkpoint), and reopens with everything.
 * Crash points are sampled with a fixed stride and a different offset per mode
 * (deterministic), to keep the file's runtime near 20 s of CPU.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MANIFEST_EDITS_MAX } from '../src/limits.js';
import { Manifest } from '../src/manifest/manifest.js';
import { abandonStore, type Store } from '../src/store/store.js';
import type { StoreOptions } from '../src/store/options.js';
import {
  abandon,
  applyOp,
  checkRecovered,
  openOn,
  type PlannedOp,
  planWorkload,
  settle,
  STORE_DIR,
  WAL_DIR,
  type WorkloadRecord,
  type WriterRecord,
} from './workload.js';

const RUNS_DIR = `${STORE_DIR}/runs`;
const MANIFEST_DIR = `${STORE_DIR}/manifest`;

/** Tiny budget (memtable share 32 KiB), checkpoints on close, background checkpoints at the minimum WAL growth. */
const ENGINE_OPTIONS: StoreOptions = { memoryBudgetBytes: 256 * 1024, walCheckpointBytes: 64 * 1024, checkpointOnClose: true };
/**
 * The first reopen after a crash, whose leftovers the orphan check reads: a budget and
 * WAL bound large enough that the replayed commits start no background flush. With
 * ENGINE_OPTIONS a loaded machine let one start, install its run and move the
 * manifest's WAL start before abandonStore stopped it short of deleting the segments
 * now covered: a state a crash may leave (the next open removes them, checked below),
 * but not what the open left.
 */
const CHECK_REOPEN_OPTIONS: StoreOptions = { ...ENGINE_OPTIONS, memoryBudgetBytes: 64 * 1024 * 1024, walCheckpointBytes: 64 * 1024 * 1024 };

const PLAN = planWorkload({ writers: 4, opsPerWriter: 70 });
/** Writer 0 checkpoints after every CHECKPOINT_EVERY-th operation of its own. */
const CHECKPOINT_EVERY = 15;
/** Edits already in the manifest's chain when the store first opens: the workload's installs cross the bound. */
const PRELUDE_EDITS = MANIFEST_EDITS_MAX - 3;

/**
 * Creates the store's manifest on `fileSystem` with PRELUDE_EDITS edits in its chain
 * (each only raises nextRunId), as a store that installed that many runs since its
 * last rewrite would have. Durable: a crash of the workload keeps it.
 */
async function writePrelude(fileSystem: FaultFileSystem): Promise<void> {
  await fileSystem.mkdir(STORE_DIR);
  await fileSystem.syncDirectory('/');
  // wal/ first, as a store makes it before its first manifest (an open refuses a manifest without it).
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory(STORE_DIR);
  const manifest = await Manifest.open(fileSystem, STORE_DIR, await loadHash64(), {
    create: true,
    initial: { walStartSegment: 1, flushedVersion: 0, versionHighWater: 0, nextRunId: 1, runs: [] },
  });
  for (let edit = 0; edit < PRELUDE_EDITS; edit++) await manifest.apply({ nextRunId: edit + 2 });
  await manifest.close();
}

/**
 * test/workload.ts's runWorkload with checkpoints: writer 0 awaits store.checkpoint()
 * after every CHECKPOINT_EVERY-th of its operations (a rejected checkpoint, as in a
 * crash, stops nothing: the writer goes on and finds the store failed).
 */
async function runCheckpointingWorkload(fileSystem: FaultFileSystem, plan: readonly PlannedOp[][]): Promise<WorkloadRecord & { checkpoints: number }> {
  const writers: WriterRecord[] = plan.map(() => ({ ackedVersions: [], inFlightSubmitted: false }));
  let store: Store;
  try {
    store = await openOn(fileSystem, ENGINE_OPTIONS);
  } catch (error) {
    return { store: undefined, openError: error, writers, maxAckedVersion: 0, checkpoints: 0 };
  }
  let checkpoints = 0;
  await Promise.all(
    plan.map(async (ops, writer) => {
      const record = writers[writer]!;
      for (const [index, op] of ops.entries()) {
        try {
          const { version } = await applyOp(store, op);
          record.ackedVersions.push(version);
        } catch (error) {
          record.inFlightSubmitted = true;
          record.rejection = error;
          return;
        }
        if (writer === 0 && index % CHECKPOINT_EVERY === CHECKPOINT_EVERY - 1) {
          const done = await store.checkpoint().then(() => true, () => false);
          if (done) checkpoints++;
        }
      }
    }),
  );
  await settle();
  const maxAckedVersion = Math.max(0, ...writers.flatMap((writer) => writer.ackedVersions));
  return { store, openError: undefined, writers, maxAckedVersion, checkpoints };
}

interface ManifestView {
  runFileNames: string[];
  walStartSegment: number;
}

/** The manifest's live runs and WAL start, read on `fileSystem` (the store must not be running). */
async function readManifest(fileSystem: FaultFileSystem): Promise<ManifestView> {
  const manifest = await Manifest.open(fileSystem, STORE_DIR, await loadHash64(), { create: false });
  const view = { runFileNames: manifest.state.runs.map((run) => run.fileName).sort(), walStartSegment: manifest.state.walStartSegment };
  await manifest.close();
  return view;
}

/** Files an open store left that nothing refers to (run orphans, temporary files, covered WAL segments). */
async function orphanProblems(fileSystem: FaultFileSystem): Promise<string[]> {
  const problems: string[] = [];
  const paths = fileSystem.listPaths();
  // Read before Manifest.open, which itself removes the manifest directory's orphans.
  const manifestFiles = paths.filter((path) => path.startsWith(`${MANIFEST_DIR}/`));
  // The engine's directories only: a crash inside DirectoryLock.acquire can leave /db/LOCK.tmp-* (not the engine's).
  const engineDirectories = [RUNS_DIR, MANIFEST_DIR, WAL_DIR].map((directory) => `${directory}/`);
  const temporary = paths
    .filter((path) => engineDirectories.some((directory) => path.startsWith(directory)))
    .filter((path) => /tmp/i.test(path.slice(path.lastIndexOf('/') + 1)));
  if (temporary.length > 0) problems.push(`temporary files left after reopen: ${temporary.join(', ')}`);
  const manifest = await readManifest(fileSystem);
  const runFiles = paths.filter((path) => path.startsWith(`${RUNS_DIR}/`)).map((path) => path.slice(RUNS_DIR.length + 1)).sort();
  if (JSON.stringify(runFiles) !== JSON.stringify(manifest.runFileNames)) {
    problems.push(`runs/ holds ${JSON.stringify(runFiles)} but the manifest lists ${JSON.stringify(manifest.runFileNames)}`);
  }
  const generations = new Set(manifestFiles.map((path) => /MANIFEST-(\d+)\./.exec(path)?.[1] ?? path));
  if (generations.size > 1) problems.push(`manifest files of several generations left: ${manifestFiles.join(', ')}`);
  // Recycled files (WAL format 2: recycled-<number>-<size>.log) are not segments and never replayed.
  const segments = paths.filter((path) => path.startsWith(`${WAL_DIR}/`) && !/\/recycled-\d+-\d+\.log$/.test(path))
    .map((path) => Number(/wal-(\d+)\.log$/.exec(path)?.[1] ?? NaN));
  const covered = segments.filter((segment) => !(segment >= manifest.walStartSegment));
  if (covered.length > 0) problems.push(`WAL segments ${covered.join(', ')} left below the WAL start ${manifest.walStartSegment}`);
  return problems;
}

interface WorkloadFacts {
  operations: number;
  flushes: number;
  runsWritten: number;
  walSegmentsDeleted: number;
  manifestRewrites: number;
  checkpoints: number;
  version: number;
}

async function preludeImage(seed: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  await writePrelude(fileSystem);
  return fileSystem;
}

/** One uninterrupted run: how many file-system operations it makes after the prelude, and what it did. */
async function measureWorkload(): Promise<WorkloadFacts> {
  const fileSystem = await preludeImage(1);
  const before = fileSystem.operationCount;
  const record = await runCheckpointingWorkload(fileSystem, PLAN);
  const store = record.store!;
  const stats = store.stats();
  const rewrites = (await fileSystem.readdir(MANIFEST_DIR)).filter((name) => /MANIFEST-0*1\./.test(name)).length === 0 ? 1 : 0;
  const facts: WorkloadFacts = {
    operations: fileSystem.operationCount - before,
    flushes: stats.storage.flushes,
    runsWritten: stats.storage.runs,
    walSegmentsDeleted: stats.storage.walSegmentsDeleted,
    manifestRewrites: rewrites,
    checkpoints: record.checkpoints,
    version: store.version,
  };
  abandon(record);
  return facts;
}

const AFTER_CRASH_KEY = 'after-crash';

/** Crash after `k` operations in `mode`, reopen and check; then write, close, reopen and check again. */
async function crashAndCheck(k: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = await preludeImage(seed);
  fileSystem.crashAfterOperations(k);
  const record = await runCheckpointingWorkload(fileSystem, PLAN);
  abandon(record);
  const rebooted = fileSystem.crash(mode);

  let reopened: Store;
  try {
    reopened = await openOn(rebooted, CHECK_REOPEN_OPTIONS);
  } catch (error) {
    return [`reopen after the crash failed: ${String(error)}`];
  }
  const problems = await checkRecovered(reopened, PLAN, record);
  // The open removed what the crash left behind; look before anything else writes.
  const versionBefore = reopened.version;
  if (reopened.stats().storage.flushes !== 0) problems.push('the check reopen flushed: its leftovers are not only the open\'s');
  reopened[abandonStore]();
  problems.push(...(await orphanProblems(rebooted)));

  try {
    const store = await openOn(rebooted, ENGINE_OPTIONS);
    await store.put(AFTER_CRASH_KEY, { k });
    await store.close();
  } catch (error) {
    return [...problems, `the reopened store did not accept a write and close: ${String(error)}`];
  }
  let again: Store;
  try {
    again = await openOn(rebooted, ENGINE_OPTIONS);
  } catch (error) {
    return [...problems, `reopen after a clean close failed: ${String(error)}`];
  }
  problems.push(...(await checkRecovered(again, PLAN, record, [AFTER_CRASH_KEY])).map((problem) => `after clean reopen: ${problem}`));
  if (JSON.stringify(await again.get(AFTER_CRASH_KEY)) !== JSON.stringify({ k })) problems.push('the write made after the crash is lost');
  if (again.version <= versionBefore) problems.push(`version went back to ${again.version} after a clean reopen`);
  if (again.stats().recovery.commits !== 0) problems.push(`a clean reopen replayed ${again.stats().recovery.commits} commits`);
  await again.close();
  return problems;
}


/** Deterministic sample of 0..operations: every `stride`-th point from `offset`, plus both ends. */
function samplePoints(operations: number, stride: number, offset: number): number[] {
  const points = new Set<number>([0, operations]);
  for (let k = offset % stride; k <= operations; k += stride) points.add(k);
  return [...points].sort((left, right) => left - right);
}

async function sweep(points: number[], mode: CrashMode, seed: number): Promise<Array<{ kind: string; examples: string[]; crashPoints: number[] }>> {
  const byKind = new Map<string, { kind: string; examples: string[]; crashPoints: number[] }>();
  for (const k of points) {
    for (const problem of await crashAndCheck(k, mode, seed * 100_000 + k)) {
      const kind = problem.replace(/\d+/g, '#');
      const entry = byKind.get(kind) ?? { kind, examples: [], crashPoints: [] };
      if (entry.examples.length < 2) entry.examples.push(problem);
      entry.crashPoints.push(k);
      byKind.set(kind, entry);
    }
  }
  return [...byKind.values()];
}

/** Every STRIDE-th crash point per mode, each mode from its own offset (about 4 in 6 points get some mode). */
const STRIDE = 6;

const MODES: Array<{ mode: CrashMode; seed: number; offset: number }> = [
  { mode: 'drop-unsynced', seed: 1, offset: 0 },
  { mode: 'torn-last-write', seed: 2, offset: 1 },
  { mode: 'random-subset', seed: 3, offset: 2 },
  { mode: 'keep-all', seed: 4, offset: 3 },
];

describe('crash during flushes, installs, a manifest rewrite and WAL deletion', () => {
  it('the workload is deterministic and reaches every durability boundary', async () => {
    // The sweeps below run the workload warm. A process's first run is JIT-cold, and under load its commits group
    // differently (one group commit's write + datasync more or less: 703 against 705 operations in CI at load 10+;
    // every later run the same), so the comparison is of two warm runs.
    // Even warm, a busy machine (load 18+) regroups a commit now and then: 606 against 604
    // operations in 3 of 15 runs, on the code before and after the WAL's rate-sized cuts.
    // A regrouped commit can also seal a memtable a commit earlier or later, so one flush
    // (its run and a WAL segment it covers) more or less: 13 against 14 flushes once in CI
    // while other processes loaded the machine. The sweeps sample points by stride and
    // check whatever each point reaches, so they need the same kinds of durability
    // boundary (checkpoints, background flushes, WAL deletions, the manifest rewrite) at
    // about the same counts, not the same count to the operation.
    await measureWorkload();
    const first = await measureWorkload();
    const second = await measureWorkload();
    const counted = ['operations', 'flushes', 'runsWritten', 'walSegmentsDeleted'] as const;
    const exact = (facts: WorkloadFacts): Partial<WorkloadFacts> => {
      const rest: Partial<WorkloadFacts> = { ...facts };
      for (const name of counted) delete rest[name];
      return rest;
    };
    expect(exact(second)).toEqual(exact(first));
    expect(Math.abs(second.operations - first.operations)).toBeLessThanOrEqual(Math.ceil(first.operations / 100));
    for (const name of ['flushes', 'runsWritten', 'walSegmentsDeleted'] as const) {
      expect(Math.abs(second[name] - first[name]), name).toBeLessThanOrEqual(Math.max(1, Math.ceil(first[name] / 10)));
    }
    expect(first.checkpoints).toBeGreaterThanOrEqual(3);
    // Background flushes too (the memtable's share of the budget, or the WAL's growth), not only checkpoints.
    expect(first.flushes).toBeGreaterThan(first.checkpoints);
    expect(first.walSegmentsDeleted).toBeGreaterThanOrEqual(2);
    expect(first.manifestRewrites).toBe(1);
    expect(first.version).toBe(PLAN.flat().length);
  });

  /** A sweep's work is fixed; keep-all took 49-53 s under load (load 10-16), near the suite's 60 s default. */
  const SWEEP_TIMEOUT_MS = 180_000;
  for (const { mode, seed, offset } of MODES) {
    it(`${mode}: every sampled crash point reopens with exactly the acknowledged data and no orphan`, async () => {
      const { operations } = await measureWorkload();
      expect(await sweep(samplePoints(operations, STRIDE, offset), mode, seed)).toEqual([]);
    }, SWEEP_TIMEOUT_MS);
  }
});
