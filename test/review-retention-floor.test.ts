/**
 * Adversarial review of the store-wide retention floor (issue 8, commits
 * 8a96d43..ec33f16): each case tries to get a wrong answer (a wrong value, or a wrong
 * "absent") from a read at or above the floor F, or a lost floor after a copy of the
 * store. An error (VersionNotRetainedError) is an acceptable answer; a wrong value is not.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreBackup } from '../src/backup/restore-backup.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { versionTimeSettings } from '../src/compaction/version-times.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** The read's answer, or 'refused' for VersionNotRetainedError (any other error fails the test). */
async function answer(read: Promise<unknown>): Promise<unknown> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'refused';
    throw error;
  }
}

async function scanAll(store: Store, asOf: number): Promise<unknown[]> {
  const entries: unknown[] = [];
  for await (const entry of store.scan({ asOf })) entries.push(entry);
  return entries;
}

describe('retention floor review: backup and restore', () => {
  it('a restored backup keeps the floor: reads below it are refused, never answered from what compaction dropped', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(join(directory, 'store'), { maxVersionsPerKey: 10 });
    await store.put('k', 'old');
    const oldVersion = store.version;
    await store.put('k', 'new');
    await store.put('gone', 'x');
    await store.delete('gone');
    await store.checkpoint();
    const result = await store.compact({ retainFrom: store.version });
    expect(result.retentionFloor).toBe(store.version);
    expect(await answer(store.get('k', { asOf: oldVersion }))).toBe('refused');
    await store.backup(join(directory, 'backup'));
    await store.close();

    await restoreBackup(new NodeFileSystem(), join(directory, 'backup'), join(directory, 'restored'));
    const restored = await openStore(join(directory, 'restored'), { maxVersionsPerKey: 10 });
    expect(await restored.get('k')).toBe('new');
    // Without the floor the restored store answered 'absent' here: compaction dropped
    // k@old (below the floor, no marker), so an as-of read below the floor must be refused.
    expect(await answer(restored.get('k', { asOf: oldVersion }))).toBe('refused');
    expect(await answer(scanAll(restored, oldVersion))).toBe('refused');
    expect(await answer(restored.compact({})).then((compacted) => (compacted as { retentionFloor: number }).retentionFloor)).toBe(result.retentionFloor);
    await restored.close();
  });
});

describe('retention floor review: verify and repair', () => {
  it('verify finds nothing wrong with a floor-compacted store; an open with repair keeps the floor', async () => {
    const directory = join(temporaryDirectory(), 'store');
    let store = await openStore(directory, { maxVersionsPerKey: 3 });
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 20; index++) await store.put(`k${index}`, round);
      for (let index = round; index < 20; index += 4) await store.delete(`k${index}`);
      await store.checkpoint();
    }
    const floor = (await store.compact({ retainFrom: store.version - 5 })).retentionFloor;
    expect(floor).toBe(store.version - 5);
    await store.put('after', 1); // in the WAL only
    await store.close();
    const report = await verifyStore(directory);
    expect(report.ok).toBe(true);
    expect(report.runs.problems).toEqual([]);
    store = await openStore(directory, { maxVersionsPerKey: 3, repair: true });
    expect(await answer(store.get('k1', { asOf: floor - 1 }))).toBe('refused');
    expect(await answer(store.get('after'))).toBe(1);
    await store.close();
  });
});

describe('retention floor review: the manifest', () => {
  it('refuses a raise above flushedVersion (the state invariant), and keeps the floor across edit-chain rewrites and reopen', async () => {
    const fileSystem = new FaultFileSystem(41);
    const hash = await loadHash64();
    let manifest = await Manifest.open(fileSystem, '/db', hash, { create: true, editsMax: 2 });
    await manifest.apply({ flushedVersion: 10 });
    await expect(manifest.apply({ retentionFloor: 11 })).rejects.toBeInstanceOf(RangeError);
    expect(manifest.state.retentionFloor ?? 0).toBe(0);
    await manifest.apply({ retentionFloor: 7 });
    // Edits past editsMax rewrite the chain from a state record: it must carry the floor.
    for (let version = 11; version <= 16; version++) await manifest.apply({ flushedVersion: version });
    await manifest.apply({ retentionFloor: 12 });
    await manifest.apply({ flushedVersion: 17 });
    await manifest.close();
    manifest = await Manifest.open(fileSystem, '/db', hash, { create: false, editsMax: 2 });
    expect(manifest.state.retentionFloor).toBe(12);
    expect(manifest.state.flushedVersion).toBe(17);
    await manifest.close();
  });
});

describe('retention floor review: watch catch-up while the floor rises', () => {
  it('a catch-up at or above the floor that sees the floor rise past its start mid-way delivers every change exactly once, or is refused', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(51), memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1000 });
    const written: Array<{ version: number; key: string; value: unknown; deleted: boolean }> = [];
    for (let round = 0; round < 4; round++) {
      for (let index = 0; index < 15; index++) {
        const key = `k${index}`;
        if ((index + round) % 5 === 0) written.push({ version: (await store.delete(key)).version, key, value: undefined, deleted: true });
        else written.push({ version: (await store.put(key, round)).version, key, value: round, deleted: false });
      }
      await store.checkpoint();
    }
    const since = 10;
    expect((await store.compact({ retainFrom: since })).retentionFloor).toBe(since);
    const until = store.version;
    const feed = store.watch({ sinceVersion: since, untilVersion: until, catchUpBatchChanges: 4 });
    const delivered: Array<{ version: number; key: string; value: unknown; deleted: boolean }> = [];
    const first = await feed.next();
    expect(first.done).toBe(false);
    const toRecord = (change: { version: number; key: string | Uint8Array; value?: unknown; deleted: boolean }) =>
      ({ version: change.version, key: change.key as string, value: change.value, deleted: change.deleted });
    delivered.push(toRecord(first.value as never));
    // The floor rises past the catch-up's start: compaction drops what lies below the
    // entry visible there; the feed's view keeps the runs it started with.
    const raised = await store.compact({ retainFrom: until - 5 });
    expect(raised.retentionFloor).toBe(until - 5);
    let outcome = 'delivered';
    try {
      for await (const change of feed) delivered.push(toRecord(change));
    } catch (error) {
      if (!(error instanceof VersionNotRetainedError)) throw error;
      outcome = 'refused';
    }
    const expected = written.filter((change) => change.version > since && change.version <= until);
    if (outcome === 'delivered') expect(delivered).toEqual(expected);
    else expect(delivered).toEqual(expected.slice(0, delivered.length));
    await store.close();
  });
});

describe('retention floor review: with retention by age', () => {
  afterEach(() => {
    versionTimeSettings.nowMs = () => Date.now();
  });

  it('compact({ retainFrom }) never raises the floor into the age window: every version current within it answers exactly', async () => {
    let nowMs = 1_000_000;
    versionTimeSettings.nowMs = () => nowMs;
    const fileSystem = new FaultFileSystem(61);
    const options = { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1, retainVersionsMs: 10_000 };
    let store = await openStore('/db', options);
    const states: Array<Map<string, number>> = [new Map()];
    const write = async (key: string, value: number | undefined) => {
      const next = new Map(states.at(-1)!);
      if (value === undefined) {
        await store.delete(key);
        next.delete(key);
      } else {
        await store.put(key, value);
        next.set(key, value);
      }
      states.push(next);
      expect(store.version).toBe(states.length - 1);
    };
    for (let index = 0; index < 10; index++) {
      nowMs += 100; // one commit-time sample each: the age floor lands inside the first round
      await write(`k${index % 4}`, index);
    }
    await store.checkpoint();
    const lastOld = store.version;
    nowMs += 20_000; // the first round falls out of the window
    for (let index = 0; index < 10; index++) await write(`k${index % 4}`, index % 3 === 0 ? undefined : 100 + index);
    await store.checkpoint();
    nowMs += 5_000; // the second round is inside it, and so is lastOld (current until the second round began)
    const result = await store.compact({ retainFrom: store.version });
    expect(result.retentionFloor).toBeLessThanOrEqual(lastOld);
    expect(result.retentionFloor).toBeGreaterThan(0);
    for (let pass = 0; pass < 2; pass++) {
      for (let version = 0; version <= store.version; version++) {
        for (let index = 0; index < 4; index++) {
          const got = await answer(store.get(`k${index}`, { asOf: version }));
          if (version < result.retentionFloor) expect(got, `k${index} as of ${version}`).toBe('refused');
          else if (version >= lastOld) expect(got, `k${index} as of ${version} (inside the age window)`).toBe(states[version]!.get(`k${index}`));
          else if (got !== 'refused') expect(got, `k${index} as of ${version}`).toBe(states[version]!.get(`k${index}`));
        }
      }
      await store.close();
      store = await openStore('/db', options);
    }
    await store.close();
  });
});

describe('retention floor review: background merges that do not include the oldest run', () => {
  it('raised alone (a compact range no run meets), then applied by tiered merges of newer runs: every read at or above it exact', async () => {
    const fileSystem = new FaultFileSystem(71);
    // Per-key retention out of the way: at or above the floor every read must answer, exactly.
    const options = { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1000 };
    let store = await openStore('/db', options);
    const states: Array<Map<string, number>> = [new Map()];
    /** The key each version wrote (a delete of an absent key is still a change). */
    const changesAt: string[] = [''];
    const round = async (seed: number) => {
      for (let index = 0; index < 12; index++) {
        changesAt.push(`k${index}`);
        const next = new Map(states.at(-1)!);
        if ((index * 7 + seed) % 4 === 0) {
          await store.delete(`k${index}`);
          next.delete(`k${index}`);
        } else {
          await store.put(`k${index}`, seed * 100 + index);
          next.set(`k${index}`, seed * 100 + index);
        }
        states.push(next);
      }
      await store.checkpoint(); // one tier-0 run per round
    };
    const check = async (floor: number, label: string) => {
      for (let version = 0; version <= store.version; version++) {
        for (let index = 0; index < 12; index++) {
          const got = await answer(store.get(`k${index}`, { asOf: version }));
          expect(got, `${label}: k${index} as of ${version} (floor ${floor})`).toBe(version < floor ? 'refused' : states[version]!.get(`k${index}`));
        }
        if (version >= floor) {
          const expected = [...states[version]!.entries()].sort(([left], [right]) => (left < right ? -1 : 1));
          expect(await scanAll(store, version), `${label}: scan as of ${version}`).toEqual(expected);
        }
      }
      // history(): every change above the floor, newest first, then the one visible at the floor when it is a value.
      for (let index = 0; index < 12; index++) {
        const key = `k${index}`;
        const expected: Array<{ version: number; value?: number; deleted: boolean }> = [];
        for (let version = store.version; version >= 1; version--) {
          const before = states[version - 1]!;
          const after = states[version]!;
          const changed = before.get(key) !== after.get(key) || before.has(key) !== after.has(key) || (version > 0 && changesAt[version] === key);
          if (!changed) continue;
          const value = after.get(key);
          if (version <= floor) {
            if (value !== undefined) expected.push({ version, value, deleted: false });
            break;
          }
          expected.push(value === undefined ? { version, deleted: true } : { version, value, deleted: false });
        }
        expect(await store.history(key), `${label}: history of ${key} (floor ${floor})`).toEqual(expected);
      }
    };
    await round(1);
    await round(2);
    expect((await store.compact()).outcome).toBe('compacted'); // the oldest run, tier 1
    let floor = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      await round(10 * cycle + 3);
      await round(10 * cycle + 4);
      await round(10 * cycle + 5);
      // Raises the floor without merging: no run meets this range.
      const raised = await store.compact({ gte: 'zzz', retainFrom: store.version - 6 });
      expect(raised.outcome).toBe('nothing');
      expect(raised.retentionFloor).toBe(store.version - 6);
      floor = raised.retentionFloor;
      await round(10 * cycle + 6); // the fourth tier-0 run: a background merge of the four, not the oldest
      await store.compact({ gte: 'zzz' }); // waits for the background merge
      await check(floor, `cycle ${cycle}`);
    }
    expect(store.stats().sinceOpen.compactions).toBeGreaterThanOrEqual(4);
    await store.close();
    store = await openStore('/db', options);
    await check(floor, 'after reopen');
    await store.close();
  });
});

describe('retention floor review: a raise whose merge fails', () => {
  it('ENOSPC writing the merged run: the store stays usable, reads at or above the floor exact, the next compaction records the floor', async () => {
    const fileSystem = new FaultFileSystem(81);
    const options = { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1000 };
    let store = await openStore('/db', options);
    const states: Array<Map<string, number>> = [new Map()];
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 10; index++) {
        const next = new Map(states.at(-1)!);
        if ((index + round) % 3 === 0) {
          await store.delete(`k${index}`);
          next.delete(`k${index}`);
        } else {
          await store.put(`k${index}`, round * 10 + index);
          next.set(`k${index}`, round * 10 + index);
        }
        states.push(next);
      }
      await store.checkpoint();
    }
    const requested = store.version - 5;
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /runs\//, persistent: true });
    await expect(store.compact({ retainFrom: requested })).rejects.toThrow();
    expect(fault.triggeredCount).toBeGreaterThan(0);
    fileSystem.clearFaults();
    const floorInForce = async (): Promise<number> => (await store.compact({ gte: 'zzz' })).retentionFloor;
    const check = async (floor: number, label: string) => {
      for (let version = 0; version <= store.version; version++) {
        for (let index = 0; index < 10; index++) {
          const got = await answer(store.get(`k${index}`, { asOf: version }));
          expect(got, `${label}: k${index} as of ${version} (floor ${floor})`).toBe(version < floor ? 'refused' : states[version]!.get(`k${index}`));
        }
      }
    };
    const afterFailure = await floorInForce();
    expect([0, requested]).toContain(afterFailure);
    await check(afterFailure, 'after the failed merge');
    const retried = await store.compact();
    expect(retried.outcome).toBe('compacted');
    await check(retried.retentionFloor, 'after a merge that succeeded');
    await store.close();
    store = await openStore('/db', options);
    expect(await floorInForce()).toBe(retried.retentionFloor);
    await check(retried.retentionFloor, 'after reopen');
    await store.close();
  });
});
