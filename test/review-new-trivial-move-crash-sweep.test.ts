/**
 * Crash sweeps over trivial moves, merges and retention floor edits (review of the
 * session's trivial moves, 65b5635, and floor changes, 2b81277/b2ca6cd/f6583e4): for
 * every file-system operation of a workload and every crash mode, the machine dies after
 * that many operations; the store reopens with every acknowledged write (lost = 0), the
 * newest value of every key exact, every as-of read exact or refused (never a wrong value
 * or a wrong "absent"), every read below the floor on disk refused, a floor the workload
 * set (never lower than one a reader saw), and runs/ holding exactly the manifest's runs.
 *
 * Two workloads, each on a base of three flushed runs of ascending, disjoint keys:
 * - 'move, then a merge raising the floor': a fourth such run (the background pick of the
 *   four is moved: a tier in memory, no manifest edit), a batch overwriting and deleting
 *   keys of the moved runs, flushed, then compact({ retainFrom }) of every run (the floor's
 *   edit, then the merge over the moved runs) and close();
 * - 'floor, then the pick at the oldest run': compact({ gte past every key, retainFrom })
 *   (the floor's edit alone), then the fourth disjoint run: the background pick of the four
 *   starts at the oldest run with entries at or below the floor, so it is merged, not moved
 *   (trivial-move.ts), then close().
 * Runs are small: compactionSettings.trivialMoveMinRunBytes is lowered for the sweep.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionSettings, TRIVIAL_MOVE_MIN_RUN_BYTES } from '../src/compaction/compaction-policy.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { turnTaker } from './helpers.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 2, checkpointOnClose: true };
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const KEYS_PER_RUN = 4;
const SEED = 7;

const keyOf = (index: number): string => `k${String(index).padStart(3, '0')}`;

afterEach(() => {
  compactionSettings.trivialMoveMinRunBytes = TRIVIAL_MOVE_MIN_RUN_BYTES;
});

interface World {
  fileSystem: FaultFileSystem;
  /** Every version's store contents (index = version), a write's before it is acknowledged. */
  model: Array<Map<string, string>>;
  /** The newest version a resolved write returned. */
  acknowledged: number;
  /** Floors the workload set (0 first). */
  floors: number[];
}

async function write(store: Store, world: World, operations: Array<{ key: string; value?: string }>): Promise<void> {
  const next = new Map(world.model.at(-1)!);
  for (const { key, value } of operations) {
    if (value === undefined) next.delete(key);
    else next.set(key, value);
  }
  // In the model before it is acknowledged: a crash may keep a write whose promise rejected.
  world.model.push(next);
  await store.batch(operations.map(({ key, value }) => (value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value })));
  world.acknowledged = store.version;
  expect(store.version).toBe(world.model.length - 1);
}

/** One run of ascending keys above the last, flushed. */
async function disjointRun(store: Store, world: World, run: number): Promise<void> {
  const operations = [];
  for (let offset = 0; offset < KEYS_PER_RUN; offset++) operations.push({ key: keyOf(run * KEYS_PER_RUN + offset), value: `r${run}:${offset}` });
  await write(store, world, operations);
  await store.checkpoint();
}

async function base(): Promise<World> {
  const world: World = { fileSystem: new FaultFileSystem(SEED), model: [new Map()], acknowledged: 0, floors: [0] };
  const store = await openStore(DIRECTORY, { fileSystem: world.fileSystem, ...OPTIONS });
  for (let run = 0; run < 3; run++) await disjointRun(store, world, run);
  await store.close();
  return world;
}

type Workload = (store: Store, world: World) => Promise<void>;

const WORKLOADS: Record<string, { workload: Workload; moves: number; compactions: number }> = {
  'move, then a merge raising the floor': {
    workload: async (store, world) => {
      await disjointRun(store, world, 3);
      await write(store, world, [{ key: keyOf(1), value: 'o1' }, { key: keyOf(6), value: 'o6' }, { key: keyOf(9) }, { key: keyOf(14), value: 'o14' }]);
      await store.checkpoint();
      world.floors.push((await store.compact({ retainFrom: world.acknowledged - 1 })).retentionFloor);
      await store.close();
    },
    moves: 1,
    compactions: 1,
  },
  'floor, then the pick at the oldest run': {
    workload: async (store, world) => {
      world.floors.push((await store.compact({ gte: 'zzz', retainFrom: world.acknowledged - 1 })).retentionFloor);
      await disjointRun(store, world, 3);
      await settle(store);
      await store.close();
    },
    moves: 0,
    compactions: 1,
  },
};

/** Until no compaction runs (bounded; the in-memory file system settles in microtasks and turns). */
async function settle(store: Store): Promise<void> {
  for (let wait = 0; wait < 1000 && store.stats().storage.compaction.running; wait++) await new Promise((resolve) => setImmediate(resolve));
}

async function problemsAfterReopen(fileSystem: FaultFileSystem, world: World, floorsAllowed: readonly number[]): Promise<string[]> {
  const problems: string[] = [];
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
  const listed = manifest.state.runs.map((run) => run.fileName).sort();
  const files = fileSystem.listPaths().filter((path) => path.startsWith(`${RUNS}/`)).map((path) => path.slice(RUNS.length + 1)).sort();
  if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`runs/ holds ${files.join(',')}, the manifest lists ${listed.join(',')}`);
  const floor = manifest.state.retentionFloor ?? 0;
  if (!floorsAllowed.includes(floor)) problems.push(`floor ${floor}, not one of ${floorsAllowed.join(', ')}`);
  const newest = store.version;
  if (newest < world.acknowledged) problems.push(`version ${newest}: acknowledged writes up to ${world.acknowledged} lost`);
  if (newest >= world.model.length) problems.push(`version ${newest} past the last write ${world.model.length - 1}`);
  const keys = [...new Set(world.model.flatMap((state) => [...state.keys()]))].sort();
  for (const key of keys) {
    const got = await store.get(key);
    if (got !== world.model[newest]?.get(key)) problems.push(`${key}: ${String(got)}, expected ${String(world.model[newest]?.get(key))}`);
    for (let version = 0; version <= newest; version++) {
      try {
        const old = await store.get(key, { asOf: version });
        if (version < floor) problems.push(`${key} as of ${version} answered below the floor ${floor}`);
        else if (old !== world.model[version]?.get(key)) problems.push(`${key} as of ${version}: ${String(old)}, expected ${String(world.model[version]?.get(key))}`);
      } catch (error) {
        if (!(error instanceof VersionNotRetainedError)) throw error;
        if (version === newest) problems.push(`${key} refused at the newest version`);
      }
    }
  }
  await store.put('after', 'x');
  await store.close();
  return problems;
}

/** The workload once, uninterrupted: its operation count and floors; it moved and merged as said. */
async function measure(name: string): Promise<{ operations: number; floors: number[] }> {
  const { workload, moves, compactions } = WORKLOADS[name]!;
  const world = await base();
  const store = await openStore(DIRECTORY, { fileSystem: world.fileSystem, ...OPTIONS });
  const before = world.fileSystem.operationCount;
  const close = store.close.bind(store);
  store.close = async () => {
    const { compaction } = store.stats().storage;
    expect(compaction.trivialMoves, `${name}: moves`).toBe(moves);
    expect(compaction.compactions, `${name}: merges`).toBe(compactions);
    await close();
  };
  await workload(store, world);
  const operations = world.fileSystem.operationCount - before;
  expect(world.floors.at(-1)).toBeGreaterThan(0);
  expect(await problemsAfterReopen(world.fileSystem, world, world.floors)).toEqual([]);
  return { operations, floors: world.floors };
}

describe('crash sweep: trivial moves, merges and retention floor edits', () => {
  for (const name of Object.keys(WORKLOADS)) {
    for (const mode of MODES) {
      it(`${name}: every operation, ${mode}`, async () => {
        compactionSettings.trivialMoveMinRunBytes = 0;
        const { operations, floors } = await measure(name);
        const turn = turnTaker();
        for (let k = 0; k <= operations; k++) {
          const world = await base();
          const victim = await openStore(DIRECTORY, { fileSystem: world.fileSystem, ...OPTIONS });
          world.fileSystem.crashAfterOperations(k);
          await WORKLOADS[name]!.workload(victim, world).catch(() => undefined);
          await victim.close().catch(() => undefined);
          victim[abandonStore]();
          const rebooted = world.fileSystem.crash(mode);
          expect(await problemsAfterReopen(rebooted, world, floors), `crash after ${k} of ${operations} operations (${mode})`).toEqual([]);
          await turn();
        }
      }, 60_000);
    }
  }
});
