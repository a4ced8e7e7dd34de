/**
 * Adversarial review of the retention floor (issue 8): durability holes the first
 * crash sweep (test/compaction-retention-floor.test.ts) does not reach.
 * - The second raise: the floor is already above 0, so its edit is appended to a
 *   format-2 chain (no rewrite). A crash at every operation of it must leave the
 *   floor at the old or the new value, never 0 or anything else, reads exact at or
 *   above it, refused below it.
 * - A second crash during the open that repairs the first crash's damage (a torn
 *   copy is rewritten as a new generation from the state holding the floor).
 * - A damaged manifest copy (one bit) after a raise: open repairs it from the other
 *   copy, the floor survives.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';

const DIRECTORY = '/db';
const OPTIONS = { memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1 };
const KEYS = 10;
const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

interface Base {
  fileSystem: FaultFileSystem;
  /** The store as of each version. */
  values: Array<Map<string, unknown>>;
  firstFloor: number;
}

/** Three rounds of puts and deletes, each checkpointed; the floor raised (durably) after the second. */
async function buildBase(seed: number): Promise<Base> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  const values: Array<Map<string, unknown>> = [new Map()];
  const record = (key: string, value: unknown) => {
    const next = new Map(values.at(-1)!);
    if (value === undefined) next.delete(key);
    else next.set(key, value);
    values.push(next);
    expect(values.length - 1).toBe(store.version);
  };
  let firstFloor = 0;
  for (let round = 0; round < 3; round++) {
    for (let index = 0; index < KEYS; index++) {
      await store.put(`k${index}`, { round, index });
      record(`k${index}`, { round, index });
    }
    for (let index = round; index < KEYS; index += 3) {
      await store.delete(`k${index}`);
      record(`k${index}`, undefined);
    }
    await store.checkpoint();
    if (round === 1) {
      firstFloor = (await store.compact({ retainFrom: store.version - 4 })).retentionFloor;
      expect(firstFloor).toBe(store.version - 4);
    }
  }
  await store.close();
  return { fileSystem, values, firstFloor };
}

async function floorOnDisk(fileSystem: FaultFileSystem): Promise<number> {
  return (await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64())).state.retentionFloor ?? 0;
}

/** What is wrong with the store on `fileSystem` (opened cleanly), given the floors it may hold. */
async function problemsOf(fileSystem: FaultFileSystem, base: Base, allowedFloors: readonly number[]): Promise<string[]> {
  const problems: string[] = [];
  const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
  const floor = await floorOnDisk(fileSystem);
  if (!allowedFloors.includes(floor)) problems.push(`floor ${floor}, not one of ${allowedFloors.join(', ')}`);
  if (store.version !== base.values.length - 1) problems.push(`version ${store.version}, not ${base.values.length - 1}`);
  for (let version = 0; version <= store.version; version++) {
    for (let index = 0; index < KEYS; index++) {
      const key = `k${index}`;
      try {
        const got = await store.get(key, { asOf: version });
        if (version < floor) problems.push(`${key} as of ${version} answered below the floor ${floor}`);
        else if (JSON.stringify(got) !== JSON.stringify(base.values[version]!.get(key))) {
          problems.push(`${key} as of ${version}: ${JSON.stringify(got)}, expected ${JSON.stringify(base.values[version]!.get(key))}`);
        }
      } catch (error) {
        if (!(error instanceof VersionNotRetainedError)) throw error;
        if (version === store.version) problems.push(`${key} refused at the newest version`);
      }
    }
  }
  await store.close();
  return problems;
}

describe('retention floor review: crash sweeps the first sweep does not reach', () => {
  it('the second raise (an appended edit on a format-2 chain): every operation, every mode', async () => {
    const measured = await buildBase(31);
    const store = await openStore(DIRECTORY, { fileSystem: measured.fileSystem, ...OPTIONS });
    const raisedTo = store.version;
    const before = measured.fileSystem.operationCount;
    expect((await store.compact({ retainFrom: raisedTo })).retentionFloor).toBe(raisedTo);
    await store.close();
    const operations = measured.fileSystem.operationCount - before;
    let raisedSeen = 0;
    for (const mode of MODES) {
      for (let k = 0; k <= operations; k++) {
        const base = await buildBase(31);
        const victim = await openStore(DIRECTORY, { fileSystem: base.fileSystem, ...OPTIONS });
        base.fileSystem.crashAfterOperations(k);
        await victim.compact({ retainFrom: raisedTo }).catch(() => undefined);
        await victim.close().catch(() => undefined);
        victim[abandonStore]();
        const rebooted = base.fileSystem.crash(mode);
        expect(await problemsOf(rebooted, base, [base.firstFloor, raisedTo]), `crash after ${k} operations (${mode})`).toEqual([]);
        if ((await floorOnDisk(rebooted)) === raisedTo) raisedSeen++;
      }
    }
    expect(raisedSeen).toBeGreaterThan(0);
  }, 300_000);

  it('a crash during the open that repairs a crash inside the raise keeps a floor and exact data', async () => {
    const measured = await buildBase(32);
    const raisedTo = measured.values.length - 1;
    /** The store after a crash after `k` operations of the raise (deterministic: same seed, same steps). */
    const crashedInRaise = async (k: number, mode: CrashMode): Promise<{ base: Base; rebooted: FaultFileSystem }> => {
      const base = await buildBase(32);
      const victim = await openStore(DIRECTORY, { fileSystem: base.fileSystem, ...OPTIONS });
      base.fileSystem.crashAfterOperations(k);
      await victim.compact({ retainFrom: raisedTo }).catch(() => undefined);
      await victim.close().catch(() => undefined);
      victim[abandonStore]();
      return { base, rebooted: base.fileSystem.crash(mode) };
    };
    let sweeps = 0;
    for (let k = 1; k < 40; k += 6) {
      for (const mode of ['torn-last-write', 'random-subset'] as const) {
        const probe = await crashedInRaise(k, mode);
        const probeStore = await openStore(DIRECTORY, { fileSystem: probe.rebooted, ...OPTIONS });
        const openOperations = probe.rebooted.operationCount;
        probeStore[abandonStore]();
        for (let j = 0; j < openOperations; j += 4) {
          const { base, rebooted } = await crashedInRaise(k, mode);
          rebooted.crashAfterOperations(j);
          const reopened = await openStore(DIRECTORY, { fileSystem: rebooted, ...OPTIONS }).catch(() => undefined);
          if (reopened !== undefined) reopened[abandonStore]();
          const secondReboot = rebooted.crash('drop-unsynced');
          expect(await problemsOf(secondReboot, base, [base.firstFloor, raisedTo]), `crash after ${k} (${mode}), then after ${j} of the reopen`).toEqual([]);
          sweeps++;
        }
      }
    }
    expect(sweeps).toBeGreaterThan(20);
  }, 300_000);

  it('one damaged manifest copy after a raise: open repairs it and keeps the floor', async () => {
    const base = await buildBase(33);
    for (const copy of ['a', 'b']) {
      const names = base.fileSystem.listPaths().filter((path) => path.startsWith(`${DIRECTORY}/manifest/`) && path.endsWith(`.${copy}`));
      expect(names.length, `manifest copy ${copy}`).toBe(1);
      const size = base.fileSystem.durableContent(names[0]!)!.length;
      base.fileSystem.flipBit(names[0]!, Math.floor(size / 2), 3);
      expect(await problemsOf(base.fileSystem, base, [base.firstFloor]), `copy ${copy} damaged`).toEqual([]);
      expect(await floorOnDisk(base.fileSystem)).toBe(base.firstFloor);
    }
  });
});
