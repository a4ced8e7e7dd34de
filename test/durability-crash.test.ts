/**
 * Crash at every file-system operation.
 *
 * A deterministic workload (concurrent writers doing puts, deletes and batches, with
 * small WAL segments so it rotates and pre-creates segments) is run once to count
 * its file-system operations. Then, for every operation index k, it is run again on
 * a fresh FaultFileSystem that dies after k operations; the handle is abandoned (a
 * dead process) and the store reopened:
 * - after a power loss in each of the four crash modes;
 * - after a kill -9 (same file system, page cache kept), then writes through the
 *   recovered handle, then a power loss;
 * - and for a crash at every operation of openStore itself, on a log whose torn
 *   tail recovery has to zero.
 * What was acknowledged must be there, nothing may be half applied, and the store
 * must open and keep working. Sweeps report each kind of problem once, with the
 * crash points that showed it.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { abandonStore } from '../src/store/store.js';
import {
  abandon,
  checkRecovered,
  openOn,
  type PlannedOp,
  segmentPath,
  planWorkload,
  runWorkload,
  scanAll,
  settle,
  SMALL_SEGMENTS,
  snapshot,
  STORE_DIR,
  type StoreSnapshot,
} from './workload.js';

const PLAN = planWorkload();

/** File-system operations of one uninterrupted run of the workload (open + all writes). */
async function countWorkloadOperations(plan: PlannedOp[][] = PLAN): Promise<{ operations: number; segments: number; version: number }> {
  const fileSystem = new FaultFileSystem(1);
  const record = await runWorkload(fileSystem, plan);
  const store = record.store!;
  const result = { operations: fileSystem.operationCount, segments: store.stats().walSegment, version: store.version };
  abandon(record);
  return result;
}

const AFTER_CRASH_KEY = 'after-crash';

/**
 * Crash after `k` operations in `mode`, reopen, check; then write, close cleanly,
 * reopen and check again. Returns the problems found.
 */
async function crashAndCheck(plan: PlannedOp[][], k: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  fileSystem.crashAfterOperations(k);
  const record = await runWorkload(fileSystem, plan);
  abandon(record);
  const rebooted = fileSystem.crash(mode);

  let reopened: Store;
  try {
    reopened = await openOn(rebooted);
  } catch (error) {
    return [`reopen after the crash failed: ${String(error)}`];
  }
  const problems = await checkRecovered(reopened, plan, record);
  const versionBefore = reopened.version;
  try {
    const { version } = await reopened.put(AFTER_CRASH_KEY, { k });
    if (version <= versionBefore) problems.push(`new write got version ${version}, not above ${versionBefore}`);
    await reopened.close();
  } catch (error) {
    return [...problems, `the reopened store did not accept a write and close: ${String(error)}`];
  }

  let again: Store;
  try {
    again = await openOn(rebooted);
  } catch (error) {
    return [...problems, `reopen after a clean close failed: ${String(error)}`];
  }
  problems.push(...(await checkRecovered(again, plan, record, [AFTER_CRASH_KEY])).map((problem) => `after clean reopen: ${problem}`));
  if (JSON.stringify(await again.get(AFTER_CRASH_KEY)) !== JSON.stringify({ k })) problems.push('the write made after the crash is lost');
  if (again.version <= versionBefore) problems.push(`version went back to ${again.version} after a clean reopen`);
  await again.close();
  return problems;
}

interface ProblemKind {
  /** Up to three distinct instances of this kind of problem. */
  examples: string[];
  crashPoints: string[];
}

/**
 * Runs `check` at every crash point 0..operations (the last lets the whole workload
 * through) with every seed; returns the problems grouped by kind (numbers blanked),
 * each with a few instances and every crash point that showed it.
 */
async function sweepCrashPoints(
  operations: number,
  seeds: number[],
  check: (k: number, seed: number) => Promise<string[]>,
): Promise<ProblemKind[]> {
  const byKind = new Map<string, ProblemKind>();
  for (let k = 0; k <= operations; k++) {
    for (const seed of seeds) {
      for (const problem of await check(k, seed * 100_000 + k)) {
        const kind = problem.replace(/\d+/g, '#');
        const entry = byKind.get(kind) ?? { examples: [], crashPoints: [] };
        if (entry.examples.length < 3 && !entry.examples.includes(problem)) entry.examples.push(problem);
        entry.crashPoints.push(`k=${k} seed=${seed}`);
        byKind.set(kind, entry);
      }
    }
  }
  return [...byKind.values()];
}

const CRASH_MODES: Array<{ mode: CrashMode; seeds: number[] }> = [
  { mode: 'drop-unsynced', seeds: [1] },
  { mode: 'torn-last-write', seeds: [1, 2] },
  { mode: 'random-subset', seeds: [1, 2] },
  { mode: 'keep-all', seeds: [1] },
];

const SHAPES: Array<{ name: string; plan: PlannedOp[][] }> = [
  { name: '8 writers x 19 operations (large groups)', plan: PLAN },
  { name: '3 writers x 50 operations (small groups)', plan: planWorkload({ writers: 3, opsPerWriter: 50 }) },
];

describe('crash at every file-system operation of a multi-writer workload', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: the workload is deterministic and crosses at least two segment rotations`, async () => {
      const first = await countWorkloadOperations(shape.plan);
      const second = await countWorkloadOperations(shape.plan);
      expect(second).toEqual(first);
      expect(first.segments).toBeGreaterThanOrEqual(3);
      expect(first.version).toBe(shape.plan.flat().length);
    });

    for (const { mode, seeds } of CRASH_MODES) {
      it(`${shape.name}, ${mode}: every crash point reopens with every acknowledged write and no half batch`, async () => {
        const { operations } = await countWorkloadOperations(shape.plan);
        expect(await sweepCrashPoints(operations, seeds, (k, seed) => crashAndCheck(shape.plan, k, mode, seed))).toEqual([]);
      });
    }
  }
});

// ---------------------------------------------------------------------------
// Kill -9, recover, write, then power loss

const PHASE_TWO_WRITES = 6;

/**
 * The process dies after `k` operations but the machine keeps running (kill -9: the
 * page cache, with every unsynced write, survives). A new handle recovers on the same
 * file system and acknowledges a few more writes; then the power fails in `mode`.
 * What the recovered handle served, and what it acknowledged since, must all be there:
 * it acknowledged writes on top of it.
 */
async function killRecoverPowerLoss(k: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  fileSystem.crashAfterOperations(k);
  const record = await runWorkload(fileSystem, PLAN);
  abandon(record);
  // The process is gone; the machine is not: calls work again, unsynced data stays unsynced.
  fileSystem.crashAfterOperations(1e12);

  let recovered: Store;
  try {
    recovered = await openOn(fileSystem);
  } catch (error) {
    return [`reopen after the kill failed: ${String(error)}`];
  }
  const problems = await checkRecovered(recovered, PLAN, record);
  const seen = await snapshot(recovered);
  let expected = seen;
  for (let index = 0; index < PHASE_TWO_WRITES; index++) {
    const key = `phase-two-${index}`;
    const value = `${index}:${'q'.repeat(1500)}`;
    try {
      await recovered.put(key, value);
    } catch (error) {
      return [...problems, `the recovered handle refused a write: ${String(error)}`];
    }
    expected = withEntry(expected, key, value);
  }
  recovered[abandonStore]();

  let afterPowerLoss: Store;
  try {
    afterPowerLoss = await openOn(fileSystem.crash(mode));
  } catch (error) {
    return [...problems, `reopen after the power loss failed: ${String(error)}`];
  }
  const content = await snapshot(afterPowerLoss);
  const missing = expected.entries.filter(([key]) => !content.entries.some(([other]) => other === key)).map(([key]) => key);
  if (JSON.stringify(content) !== JSON.stringify(expected)) {
    problems.push(
      `after the power loss: version ${content.version} (expected ${expected.version}), missing ${JSON.stringify(missing.slice(0, 4))}` +
        `${missing.length > 4 ? ` and ${missing.length - 4} more` : ''}`,
    );
  }
  await afterPowerLoss.close();
  return problems;
}

describe('kill -9 at every file-system operation, recover and write, then power loss', () => {
  const modes: Array<{ mode: CrashMode; seeds: number[] }> = [
    { mode: 'drop-unsynced', seeds: [1] },
    { mode: 'torn-last-write', seeds: [1, 2] },
    { mode: 'random-subset', seeds: [1, 2] },
  ];
  for (const { mode, seeds } of modes) {
    it(`${mode}: what the recovered handle served and acknowledged survives the power loss`, async () => {
      const { operations } = await countWorkloadOperations();
      expect(await sweepCrashPoints(operations, seeds, (k, seed) => killRecoverPowerLoss(k, mode, seed))).toEqual([]);
    });
  }
});

describe('kill -9, then power loss: focused cases', () => {
  it('an open killed before it fsynced the directories it created: the next open makes them durable', async () => {
    // A new store's open starts with the backup marks' checks (a backup directory is
    // refused), then exists(/db/wal), exists(/db), exists(/), mkdir(/db), fsync /,
    // mkdir(/db/wal), fsync /db. Killed right after mkdir(/db/wal): the fewest operations
    // after which /db/wal exists (counted, not hard-coded: the checks before it change).
    let fileSystem = new FaultFileSystem(31);
    let operations = 1;
    for (; operations < 64; operations++) {
      fileSystem = new FaultFileSystem(31);
      fileSystem.crashAfterOperations(operations);
      await expect(openOn(fileSystem)).rejects.toThrow();
      fileSystem.crashAfterOperations(1e12);
      if (await fileSystem.exists('/db/wal')) break;
    }
    expect(operations).toBeLessThan(64);

    const store = await openOn(fileSystem);
    const { version } = await store.put('k', 1);
    await store.close();
    const afterPowerLoss = await openOn(fileSystem.crash('drop-unsynced'));
    expect(await afterPowerLoss.get('k')).toBe(1);
    expect(afterPowerLoss.version).toBe(version);
    await afterPowerLoss.close();
  });

  it('an open killed while creating the first WAL segment: the next open makes that segment durable before writing into it', async () => {
    const probe = new FaultFileSystem(32);
    (await openOn(probe))[abandonStore]();
    const openOperations = probe.operationCount;
    const fileSystem = new FaultFileSystem(32);
    // The open ends by creating segment 1: open, zero fill, header, sync, directory sync.
    // Kill it after the header is written, before the sync.
    fileSystem.crashAfterOperations(openOperations - 2);
    await expect(openOn(fileSystem)).rejects.toThrow();
    fileSystem.crashAfterOperations(1e12);
    expect(fileSystem.listPaths()).toContain(segmentPath(1));
    expect(fileSystem.durableContent(segmentPath(1))).toBeUndefined();

    const store = await openOn(fileSystem);
    const { version } = await store.put('k', 1);
    await store.close();
    const afterPowerLoss = await openOn(fileSystem.crash('drop-unsynced'));
    expect(await afterPowerLoss.get('k')).toBe(1);
    expect(afterPowerLoss.version).toBe(version);
    await afterPowerLoss.close();
  });
});

// ---------------------------------------------------------------------------
// Crash during openStore

/**
 * A crashed store whose WAL ends in a torn record: the workload crashed right
 * after the write of a group record, and the power loss tore that write. Built
 * deterministically from (seed, k), so it can be rebuilt for every crash point of
 * the open.
 */
async function tornImage(seed: number, k: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(seed);
  fileSystem.crashAfterOperations(k);
  const record = await runWorkload(fileSystem, PLAN);
  abandon(record);
  return fileSystem.crash('torn-last-write');
}

interface TornBase {
  seed: number;
  k: number;
  /** What an uninterrupted open of the image holds. */
  content: StoreSnapshot;
  /** File-system operations of that open. */
  openOperations: number;
}

/** The first crash point past the middle of the workload whose image has a torn tail to zero. */
async function findTornBase(seed: number): Promise<TornBase> {
  const { operations } = await countWorkloadOperations();
  for (let k = Math.floor(operations / 2); k < operations; k++) {
    const image = await tornImage(seed, k);
    const store = await openOn(image);
    const torn = store.stats().recovery.tornTail;
    const content = await snapshot(store);
    store[abandonStore]();
    if (torn !== undefined && torn.zeroedBytes > 0) return { seed, k, content, openOperations: image.operationCount };
  }
  throw new Error('no crash point leaves a torn tail');
}

function withEntry(content: StoreSnapshot, key: string, value: unknown): StoreSnapshot {
  const entries = [...content.entries, [key, value] as [string, unknown]].sort(([left], [right]) => (left < right ? -1 : 1));
  return { version: content.version + 1, entries };
}

/** Crashes the open of `base` after `j` operations, in `mode`; returns the problems found. */
async function crashOpenAndCheck(base: TornBase, j: number, mode: CrashMode): Promise<string[]> {
  const image = await tornImage(base.seed, base.k);
  image.crashAfterOperations(j);
  try {
    (await openOn(image))[abandonStore]();
  } catch {
    // The open died with the machine; what matters is the next one.
  }
  await settle();
  const rebooted = image.crash(mode);
  try {
    const reopened = await openOn(rebooted);
    const problems: string[] = [];
    const content = await snapshot(reopened);
    if (JSON.stringify(content) !== JSON.stringify(base.content)) {
      problems.push(`content differs: version ${content.version} (expected ${base.content.version}), ${content.entries.length} keys (expected ${base.content.entries.length})`);
    }
    await reopened.put('after-open-crash', j);
    await reopened.close();
    const again = await openOn(rebooted);
    if (JSON.stringify(await snapshot(again)) !== JSON.stringify(withEntry(base.content, 'after-open-crash', j))) {
      problems.push('content differs after a write and a clean reopen');
    }
    await again.close();
    return problems;
  } catch (error) {
    return [`reopen failed: ${String(error)}`];
  }
}

describe('crash during openStore (recovery included)', () => {
  for (const { mode, seeds } of CRASH_MODES) {
    it(`${mode}: a crash at any operation of an open that zeroes a torn tail loses nothing`, async () => {
      const failures: Array<{ seed: number; j: number; problem: string }> = [];
      for (const seed of seeds.map((seed) => 4241 + seed)) {
        const base = await findTornBase(seed);
        expect(base.content.entries.length).toBeGreaterThan(0);
        for (let j = 0; j <= base.openOperations; j++) {
          for (const problem of await crashOpenAndCheck(base, j, mode)) failures.push({ seed, j, problem });
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
    });
  }
});

// ---------------------------------------------------------------------------
// The simulated dead process itself

/** Delegates to a FaultFileSystem; while held, file writes wait until release(). */
class GatedWrites implements FileSystem {
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;

  constructor(private readonly inner: FaultFileSystem) {}

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  release(): void {
    this.#open();
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    const gate = (): Promise<void> => this.#gate;
    return {
      path: handle.path,
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: async (data, position) => {
        await gate();
        return handle.write(data, position);
      },
      datasync: () => handle.datasync(),
      sync: () => handle.sync(),
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }
  readdir(dir: string): Promise<string[]> {
    return this.inner.readdir(dir);
  }
  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  link(existingPath: string, newPath: string): Promise<void> {
    return this.inner.link(existingPath, newPath);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  syncDirectory(dir: string): Promise<void> {
    return this.inner.syncDirectory(dir);
  }
}

describe('an abandoned handle behaves like a dead process', () => {
  it('does no more file-system I/O and acknowledges nothing once abandoned', async () => {
    const fileSystem = new FaultFileSystem(5);
    const store = await openOn(fileSystem);
    await store.put('before', 1);
    const acknowledged: string[] = [];
    const inFlight = [0, 1, 2, 3, 4].map((index) =>
      store.put(`in-flight-${index}`, index).then(
        () => acknowledged.push(`in-flight-${index}`),
        () => undefined,
      ),
    );
    const operations = fileSystem.operationCount;
    store[abandonStore]();
    await settle();
    expect(fileSystem.operationCount - operations).toBe(0);
    expect(acknowledged).toEqual([]);
    void inFlight;
  });

  it('reopened on the same disk (kill -9: the page cache survives), nothing the old handle acknowledged is lost', async () => {
    // The old handle's file system holds its WAL writes until the new handle has
    // opened, so the old pipeline (if it still runs after abandon) writes after the
    // new handle's recovery, whatever the commit scheduling.
    const fileSystem = new FaultFileSystem(6);
    const gated = new GatedWrites(fileSystem);
    const store = await openStore(STORE_DIR, { fileSystem: gated, ...SMALL_SEGMENTS });
    await store.put('before', 1);
    gated.hold();
    const acknowledged: string[] = [];
    const inFlight = [0, 1, 2, 3, 4].map((index) =>
      store.put(`in-flight-${index}`, 'v'.repeat(100)).then(
        () => acknowledged.push(`in-flight-${index}`),
        () => undefined,
      ),
    );
    store[abandonStore]();
    const reopened = await openOn(fileSystem);
    gated.release();
    // A dead process's commits may stay pending forever: wait for the event loop, not for them.
    await settle();
    void inFlight;
    await reopened.put('after', 1);
    await reopened.close();

    const again = await openOn(fileSystem);
    const content = await scanAll(again);
    expect(acknowledged.filter((key) => !content.has(key))).toEqual([]);
    expect(content.get('before')).toBe(1);
    expect(content.get('after')).toBe(1);
    expect(again.stats().recovery.tornTail).toBeUndefined();
    await again.close();
  });
});
