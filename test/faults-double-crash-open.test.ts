/**
 * Fault review: a second power loss during the open that recovers from the first.
 *
 * The first crash hits a compaction of every run into one packed cold run that also
 * raises the retention floor (compact({ retainFrom })), at several points: the output
 * written but not installed (an orphan run or temporary file), the manifest edit
 * appended to one copy, the inputs not yet unlinked (orphans once the edit is durable).
 * The store also holds acknowledged commits only in the WAL (written after the last
 * checkpoint). The open after it removes orphan runs, repairs the manifest copies,
 * replays the WAL; then the workload writes more, checkpoints (a flush, the covered
 * segments removed) and closes. A crash in that second life (two first crashes, at
 * 55% and 90% of the compaction's operations; every third operation of the second
 * life from a different offset for each, the modes by turn), then a third open: it opens, every acknowledged
 * put reads exact at and above the floor, as-of reads below it are refused, and runs/
 * lists exactly the manifest's runs with no temporary file.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, segmentSizeBytes: 32 * 1024, checkpointOnClose: true } as const;
const KEYS = 40;
/** Every STRIDE-th operation of the second life, each in the next mode: with two first crashes at other offsets. */
const STRIDE = 3;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const keyOf = (index: number) => `k${String(index).padStart(3, '0')}`;
const valueOf = (index: number, round: number) => ({ index, round, pad: 'p'.repeat(150 + (index % 7) * 20) });

/** key -> [version, value | undefined (delete)] in version order; only acknowledged writes. */
type History = Map<string, Array<[number, unknown]>>;

interface Base {
  fileSystem: FaultFileSystem;
  history: History;
  /** Puts in flight at a crash: may be there or not. */
  maybe: Map<string, unknown[]>;
  floorAsked: number;
  /** File-system operations the compaction made (all of them when it was not crashed). */
  compactionOperations: number;
}

function note(history: History, key: string, version: number, value: unknown): void {
  history.set(key, [...(history.get(key) ?? []), [version, value]]);
}

async function putAll(store: Store, base: Base, round: number, step: number): Promise<void> {
  for (let index = round % step; index < KEYS; index += step) {
    const key = keyOf(index);
    const value = valueOf(index, round);
    try {
      const { version } = await store.put(key, value);
      note(base.history, key, version, value);
    } catch {
      base.maybe.set(key, [...(base.maybe.get(key) ?? []), value]);
      return;
    }
  }
}

/** Three checkpointed rounds and a delete per 7 keys, then a compaction crashed after `k` operations, then a power loss. */
async function firstCrash(k: number, mode: CrashMode, seed: number): Promise<Base> {
  const base: Base = { fileSystem: new FaultFileSystem(seed), history: new Map(), maybe: new Map(), floorAsked: 0, compactionOperations: 0 };
  const store = await openStore(DIRECTORY, { fileSystem: base.fileSystem, ...OPTIONS });
  for (let round = 0; round < 3; round++) {
    await putAll(store, base, round, 1 + round);
    for (let index = round; index < KEYS; index += 7) {
      const { version } = await store.delete(keyOf(index));
      note(base.history, keyOf(index), version, undefined);
    }
    await store.checkpoint();
  }
  base.floorAsked = store.version - 10;
  // Acknowledged commits only in the WAL at the crash.
  await putAll(store, base, 3, 3);
  const before = base.fileSystem.operationCount;
  base.fileSystem.crashAfterOperations(k);
  await store.compact({ retainFrom: base.floorAsked }).catch(() => undefined);
  base.compactionOperations = base.fileSystem.operationCount - before;
  store[abandonStore]();
  base.fileSystem = base.fileSystem.crash(mode);
  return base;
}

/** The second life: open (recovery), writes, a checkpoint, more writes, close. */
async function secondLife(base: Base): Promise<void> {
  const store = await openStore(DIRECTORY, { fileSystem: base.fileSystem, ...OPTIONS });
  try {
    await putAll(store, base, 4, 2);
    await store.checkpoint();
    await putAll(store, base, 5, 5);
    await store.close();
  } finally {
    store[abandonStore]();
  }
}

function valueAt(history: Array<[number, unknown]> | undefined, version: number): unknown {
  let found: unknown;
  for (const [at, value] of history ?? []) if (at <= version) found = value;
  return found;
}

async function problemsAfterReopen(base: Base): Promise<string[]> {
  const { fileSystem } = base;
  const problems: string[] = [];
  let store: Store;
  try {
    store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  } catch (error) {
    return [`open failed: ${String(error)}`];
  }
  try {
    const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
    const listed = manifest.state.runs.map((run) => run.fileName).sort();
    const files = fileSystem.listPaths().filter((path) => path.startsWith(`${RUNS}/`)).map((path) => path.slice(RUNS.length + 1)).sort();
    if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`runs/ holds ${files.join(',')}, the manifest lists ${listed.join(',')}`);
    const floor = manifest.state.retentionFloor ?? 0;
    if (floor > base.floorAsked) problems.push(`floor ${floor} above the ${base.floorAsked} asked for`);
    for (let index = 0; index < KEYS; index++) {
      const key = keyOf(index);
      const history = base.history.get(key);
      const got = await store.get(key);
      const newest = valueAt(history, Infinity);
      const allowed = [newest, ...(base.maybe.get(key) ?? [])].map((value) => JSON.stringify(value));
      if (!allowed.includes(JSON.stringify(got))) problems.push(`${key}: ${JSON.stringify(got)?.slice(0, 50)} instead of ${JSON.stringify(newest)?.slice(0, 50)}`);
      // As of each acknowledged version of the first life: exact at or above the floor, refused below.
      for (const [version] of history ?? []) {
        if (base.maybe.has(key)) break;
        try {
          const old = await store.get(key, { asOf: version });
          if (version < floor) problems.push(`${key} as of ${version} below the floor ${floor} answered`);
          else if (JSON.stringify(old) !== JSON.stringify(valueAt(history, version))) problems.push(`${key} as of ${version}: ${JSON.stringify(old)?.slice(0, 50)}`);
        } catch (error) {
          if (!(error instanceof VersionNotRetainedError) || version >= floor) problems.push(`${key} as of ${version} (floor ${floor}): ${String(error)}`);
        }
      }
    }
    await store.put('after', 1);
  } finally {
    await store.close().catch((error: unknown) => problems.push(`close: ${String(error)}`));
  }
  return problems;
}

describe('a second power loss during the recovery from a crashed cold compaction', () => {
  it('at every operation of the second life, in every mode: opens, exact, floor honoured, no orphan', async () => {
    // How many operations the compaction takes on this base.
    const probe = await firstCrash(1_000_000, "keep-all", 1);
    expect(await problemsAfterReopen(probe)).toEqual([]);
    const operations = probe.compactionOperations;
    expect(operations).toBeGreaterThan(10);
    const problems: string[] = [];
    let sweeps = 0;
    // First crashes at a few points of the compaction (early, output written, edit half done, inputs not unlinked).
    for (const [firstIndex, share] of [0.55, 0.9].entries()) {
      const k = Math.floor(operations * share);
      const firstMode = MODES[firstIndex % MODES.length]!;
      const counted = await firstCrash(k, firstMode, 10 + firstIndex);
      const before = counted.fileSystem.operationCount;
      await secondLife(counted).catch(() => undefined);
      const secondOperations = counted.fileSystem.operationCount - before;
      for (let k2 = firstIndex; k2 <= secondOperations && problems.length < 10; k2 += STRIDE) {
        const mode = MODES[Math.floor(k2 / STRIDE) % MODES.length]!;
        const base = await firstCrash(k, firstMode, 10 + firstIndex);
        base.fileSystem.crashAfterOperations(k2);
        await secondLife(base).catch(() => undefined);
        base.fileSystem = base.fileSystem.crash(mode);
        for (const problem of await problemsAfterReopen(base)) problems.push(`first crash after ${k} (${firstMode}), second after ${k2} (${mode}): ${problem}`);
        sweeps++;
      }
    }
    expect(problems).toEqual([]);
    expect(sweeps).toBeGreaterThan(40);
  }, 900_000);
});
