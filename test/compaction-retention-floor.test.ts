/**
 * The store-wide retention floor (src/compaction/retention-floor.ts): compact({ retainFrom })
 * raises it no further than the oldest pin and the last checkpoint; pins taken
 * while compaction decides are honoured; reads below it are refused for every key
 * (get, scan, watch catch-up) and survive reopen and crashes at every file-system
 * operation of the compaction that raises it; and it lets compaction shrink a store
 * whose keys were mostly deleted to about its live data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { InvalidOptionError, openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { collectKey } from '../src/compaction/version-gc.js';
import { isNotRetainedMarker } from '../src/engine/resolve.js';
import { encodeStored } from '../src/codec/values.js';
import type { RunEntry } from '../src/run/run-descriptor.js';

const DIRECTORY = '/db';
const RUNS = `${DIRECTORY}/runs`;
const OPTIONS = { memoryBudgetBytes: 256 * 1024, maxVersionsPerKey: 1 };

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
});

async function refused(read: Promise<unknown>): Promise<boolean> {
  try {
    await read;
    return false;
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return true;
    throw error;
  }
}

async function scanAll(store: Store, asOf: number): Promise<unknown[]> {
  const entries: unknown[] = [];
  for await (const entry of store.scan({ asOf })) entries.push(entry);
  return entries;
}

const encoded = (text: string) => encodeStored(text as never);
const put = (version: number): RunEntry => ({ key: 'k', version, value: encoded(`v${version}`) });
const del = (version: number): RunEntry => ({ key: 'k', version, value: undefined });
const shape = (entries: readonly RunEntry[]) =>
  entries.map((entry) => `${entry.value === undefined ? 'del' : isNotRetainedMarker(entry.value) ? 'marker' : 'put'}@${entry.version}`);

describe('retention floor: version GC of one key', () => {
  it('drops everything older than the entry visible at the floor, with no marker', () => {
    const rule = { maxVersionsPerKey: Infinity, horizon: Infinity, includesOldest: false, retentionFloor: 6 };
    const { kept, droppedCount } = collectKey([put(9), put(5), put(3), del(2), put(1)], rule);
    expect(shape(kept)).toEqual(['put@9', 'put@5']);
    expect(droppedCount).toBe(3);
  });

  it('drops the delete visible at the floor only when the inputs include the oldest run', () => {
    const entries = [put(9), del(5), put(2)];
    const rule = { maxVersionsPerKey: Infinity, horizon: Infinity, retentionFloor: 6 };
    expect(shape(collectKey(entries, { ...rule, includesOldest: true }).kept)).toEqual(['put@9']);
    expect(shape(collectKey(entries, { ...rule, includesOldest: false }).kept)).toEqual(['put@9', 'del@5']);
    expect(collectKey([del(5), put(2)], { ...rule, includesOldest: true })).toEqual({ kept: [], droppedCount: 2 });
  });

  it('per-key retention marks what it drops down to the entry visible at the floor, which it does not keep for the floor', () => {
    const rule = { maxVersionsPerKey: 1, horizon: Infinity, includesOldest: true, retentionFloor: 6 };
    // 5 (visible at the floor) is beyond the newest 1: refused before the floor rose, so
    // still refused (a marker there), not kept (retention review, 2026-12-03).
    const { kept, droppedCount } = collectKey([put(9), put(8), put(7), put(5), put(3)], rule);
    expect(shape(kept)).toEqual(['put@9', 'marker@5']);
    expect(droppedCount).toBe(4);
    // Within the newest 2, the entry visible at the floor stays, and the marker is above it.
    expect(shape(collectKey([put(9), put(5), put(3)], { ...rule, maxVersionsPerKey: 2 }).kept)).toEqual(['put@9', 'put@5']);
    // Idempotent: the output collected again is itself.
    expect(shape(collectKey(kept, rule).kept)).toEqual(shape(kept));
  });
});

describe('retention floor: raising it', () => {
  it('caps at a snapshot taken before, and at the last checkpoint; refuses bad values', async () => {
    const store = await openStore(DIRECTORY, { fileSystem: new FaultFileSystem(1), ...OPTIONS });
    await store.put('k', 'a');
    await store.put('k', 'b');
    await store.checkpoint();
    const snapshot = await store.snapshot();
    await store.put('k', 'c');
    await store.checkpoint();
    await store.put('k', 'd'); // not flushed: above the cap
    const held = await store.compact({ retainFrom: store.version });
    expect(held.retentionFloor).toBe(snapshot.version);
    expect(await snapshot.get('k')).toBe('b');
    await snapshot.release();
    const raised = await store.compact({ retainFrom: store.version });
    expect(raised.retentionFloor).toBe(store.version - 1); // the last checkpoint
    expect(await store.compact({ retainFrom: 1 }).then((result) => result.retentionFloor)).toBe(store.version - 1); // never lowered
    expect(store.stats().storage.compaction.retentionFloor).toBe(store.version - 1); // stats() shows it too
    await expect(store.compact({ retainFrom: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(store.compact({ retainFrom: 1.5 })).rejects.toBeInstanceOf(InvalidOptionError);
    // Past the newest version: refused, not capped there (a mistyped number would drop every
    // older version of every key, as the CLI's --retain-from already refuses). Nothing changes.
    const floorBefore = store.stats().storage.compaction.retentionFloor;
    await expect(store.compact({ retainFrom: store.version + 1 })).rejects.toThrow(InvalidOptionError);
    await expect(store.compact({ retainFrom: store.version + 1 })).rejects.toThrow(/past the store's newest version/);
    expect(store.stats().storage.compaction.retentionFloor).toBe(floorBefore);
    expect(await store.get('k')).toBe('d');
    // c (at the floor) is beyond the newest 1: refused before the floor rose, and after.
    expect(await refused(store.get('k', { asOf: store.version - 1 }))).toBe(true);
    expect(await refused(store.get('k', { asOf: store.version - 2 }))).toBe(true);
    expect(await refused(store.get('never-written', { asOf: 0 }))).toBe(true);
    await store.close();
  });

  it('a scan pinned before compact() caps the floor at its version and reads on unchanged', async () => {
    const store = await openStore(DIRECTORY, { fileSystem: new FaultFileSystem(2), ...OPTIONS });
    for (let index = 0; index < 20; index++) await store.put(`k${index}`, index);
    const pinnedAt = store.version;
    const scan = store.scan({ asOf: pinnedAt });
    const first = await scan.next();
    expect(first.value).toEqual(['k0', 0]);
    for (let index = 0; index < 20; index++) await store.delete(`k${index}`);
    await store.checkpoint();
    const result = await store.compact({ retainFrom: store.version });
    expect(result.retentionFloor).toBe(pinnedAt);
    let count = 1;
    for await (const _entry of scan) count++;
    expect(count).toBe(20);
    await store.close();
  });

  it('a pin taken while compaction decides is at or above the floor; an as-of scan below it is refused and pins nothing', async () => {
    const store = await openStore(DIRECTORY, { fileSystem: new FaultFileSystem(3), ...OPTIONS });
    await store.put('k', 'a');
    const old = store.version;
    await store.checkpoint();
    await store.put('k', 'b');
    await store.checkpoint();
    let snapshotVersion = -1;
    let oldScan: AsyncIterableIterator<unknown> | undefined;
    compactionTestHooks.onHorizon = async (horizon) => {
      expect(horizon).toBe(Infinity);
      const snapshot = await store.snapshot();
      snapshotVersion = snapshot.version;
      oldScan = store.scan({ asOf: old });
      await snapshot.release();
    };
    const result = await store.compact({ retainFrom: store.version });
    compactionTestHooks.onHorizon = undefined;
    expect(result.outcome).toBe('compacted');
    expect(result.retentionFloor).toBe(store.version);
    expect(snapshotVersion).toBeGreaterThanOrEqual(result.retentionFloor);
    await expect(oldScan!.next()).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('k')).toBe('b');
    expect(result.entriesDropped).toBe(1);
    await store.close();
  });
});

describe('retention floor: reads below it', () => {
  it('get, scan and watch catch-up below the floor are refused for every key, at or above answer, after reopen too', async () => {
    const fileSystem = new FaultFileSystem(4);
    let store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS, maxVersionsPerKey: 10 });
    await store.put('a', 1);
    await store.put('b', 2);
    await store.delete('a');
    const floor = store.version;
    await store.put('c', 3);
    await store.checkpoint();
    expect((await store.compact({ retainFrom: floor })).retentionFloor).toBe(floor);
    for (let pass = 0; pass < 2; pass++) {
      for (let version = 0; version < floor; version++) {
        expect(await refused(store.get('b', { asOf: version })), `get as of ${version}`).toBe(true);
        expect(await refused(scanAll(store, version)), `scan as of ${version}`).toBe(true);
        const feed = store.watch({ sinceVersion: version, untilVersion: store.version });
        await expect(feed.next(), `watch since ${version}`).rejects.toBeInstanceOf(VersionNotRetainedError);
      }
      expect(await scanAll(store, floor)).toEqual([['b', 2]]);
      expect(await scanAll(store, store.version)).toEqual([['b', 2], ['c', 3]]);
      expect(await store.history('a')).toEqual([]); // the delete at the floor is not listed, nor anything older
      expect((await store.history('b')).map((entry) => entry.version)).toEqual([2]); // the value visible at the floor is
      const changes = [];
      for await (const change of store.watch({ sinceVersion: floor, untilVersion: store.version })) changes.push(change.key);
      expect(changes).toEqual(['c']);
      await store.close();
      store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS, maxVersionsPerKey: 10 });
    }
    const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
    expect(manifest.state.retentionFloor).toBe(floor);
    await store.close();
  });
});

describe('retention floor: space', () => {
  it('after deleting 90% of the keys, compact({ retainFrom: current }) leaves about the live data', async () => {
    const value = 'v'.repeat(100);
    const keys = 2000;
    const build = async (seed: number, deleteMost: boolean): Promise<{ store: Store; fileSystem: FaultFileSystem }> => {
      const fileSystem = new FaultFileSystem(seed);
      const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
      for (let index = 0; index < keys; index++) {
        if (deleteMost || index % 10 === 0) await store.put(`key${String(index).padStart(6, '0')}`, value);
      }
      await store.checkpoint();
      if (deleteMost) {
        for (let index = 0; index < keys; index++) if (index % 10 !== 0) await store.delete(`key${String(index).padStart(6, '0')}`);
      }
      await store.checkpoint();
      return { store, fileSystem };
    };
    const deleted = await build(5, true);
    const before = deleted.store.stats().storage.runBytes;
    const result = await deleted.store.compact({ retainFrom: deleted.store.version });
    expect(result.entriesOut).toBe(keys / 10);
    expect(result.entriesIn - result.markersIn - result.entriesDropped).toBe(result.entriesOut - result.markersOut);
    expect(result.markersOut).toBe(0);
    const after = deleted.store.stats().storage.runBytes;
    const live = await build(6, false);
    await live.store.compact();
    const liveBytes = live.store.stats().storage.runBytes;
    expect(after).toBeLessThan(before);
    expect(after / liveBytes).toBeLessThanOrEqual(1.3);
    // Without the floor, the same compaction keeps a tombstone and a marker per deleted key.
    const unfloored = await build(7, true);
    const kept = await unfloored.store.compact();
    expect(kept.entriesOut).toBeGreaterThanOrEqual(keys);
    for (const built of [deleted, live, unfloored]) await built.store.close();
  });
});

describe('retention floor: crash sweep over the compaction that raises it', () => {
  const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

  async function buildBase(): Promise<{ fileSystem: FaultFileSystem; values: Map<number, Map<string, unknown>> }> {
    const fileSystem = new FaultFileSystem(11);
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    const values = new Map<number, Map<string, unknown>>([[0, new Map()]]);
    const record = (key: string, value: unknown) => {
      const next = new Map(values.get(store.version - 1));
      if (value === undefined) next.delete(key);
      else next.set(key, value);
      values.set(store.version, next);
    };
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 12; index++) {
        await store.put(`k${index}`, { round, index });
        record(`k${index}`, { round, index });
      }
      for (let index = round; index < 12; index += 3) {
        await store.delete(`k${index}`);
        record(`k${index}`, undefined);
      }
      await store.checkpoint();
    }
    await store.close();
    return { fileSystem, values };
  }

  async function problemsAfterReopen(fileSystem: FaultFileSystem, values: Map<number, Map<string, unknown>>, raisedTo: number): Promise<string[]> {
    const problems: string[] = [];
    const store = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
    const manifest = await Manifest.inspect(fileSystem, DIRECTORY, await loadHash64());
    const floor = manifest.state.retentionFloor ?? 0;
    if (floor !== 0 && floor !== raisedTo) problems.push(`floor ${floor}: neither 0 nor ${raisedTo}`);
    const listed = manifest.state.runs.map((run) => run.fileName).sort();
    const files = fileSystem.listPaths().filter((path) => path.startsWith(`${RUNS}/`)).map((path) => path.slice(RUNS.length + 1)).sort();
    if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push(`runs/ holds ${files.join(',')} but the manifest lists ${listed.join(',')}`);
    for (let version = 0; version <= store.version; version++) {
      for (let index = 0; index < 12; index++) {
        const key = `k${index}`;
        const expected = values.get(version)!.get(key);
        try {
          const got = await store.get(key, { asOf: version });
          if (version < floor) problems.push(`${key} as of ${version} answered below the floor ${floor}`);
          else if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`${key} as of ${version}: ${JSON.stringify(got)} instead of ${JSON.stringify(expected)}`);
        } catch (error) {
          if (!(error instanceof VersionNotRetainedError)) throw error;
          if (version === store.version) problems.push(`${key} now refused`);
        }
      }
    }
    await store.put('after', 1);
    await store.close();
    return problems;
  }

  it('every operation, every crash mode: the floor is 0 or the new one, data exact, no orphan run', async () => {
    const measured = await buildBase();
    const store = await openStore(DIRECTORY, { fileSystem: measured.fileSystem, ...OPTIONS });
    const raisedTo = store.version;
    const before = measured.fileSystem.operationCount;
    const result = await store.compact({ retainFrom: raisedTo });
    expect(result.retentionFloor).toBe(raisedTo);
    await store.close();
    const operations = measured.fileSystem.operationCount - before;
    expect(operations).toBeGreaterThan(5);
    let raisedSeen = 0;
    let swept = 0;
    for (const mode of MODES) {
      for (let k = 0; k <= operations; k++) {
        const { fileSystem, values } = await buildBase();
        const victim = await openStore(DIRECTORY, { fileSystem, ...OPTIONS });
        fileSystem.crashAfterOperations(k);
        await victim.compact({ retainFrom: raisedTo }).catch(() => undefined);
        await victim.close().catch(() => undefined);
        victim[abandonStore]();
        const rebooted = fileSystem.crash(mode);
        const problems = await problemsAfterReopen(rebooted, values, raisedTo);
        expect(problems, `crash after ${k} operations (${mode})`).toEqual([]);
        const manifest = await Manifest.inspect(rebooted, DIRECTORY, await loadHash64());
        if ((manifest.state.retentionFloor ?? 0) === raisedTo) raisedSeen++;
        swept++;
      }
    }
    expect(swept).toBe(MODES.length * (operations + 1));
    expect(raisedSeen, 'some crash points keep the raised floor').toBeGreaterThan(0);
  }, 240_000);
});

describe('compact() of a store that is already one compacted run', () => {
  it('skips the rewrite when nothing could change, and rewrites once the floor rises', async () => {
    const store = await openStore(DIRECTORY, { fileSystem: new FaultFileSystem(21), ...OPTIONS });
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 50; index++) await store.put(`k${index}`, round);
      await store.checkpoint();
    }
    const first = await store.compact();
    expect(first.outcome).toBe('compacted');
    const again = await store.compact();
    expect(again).toMatchObject({ outcome: 'nothing', runsIn: 0, bytesOut: 0 });
    expect(store.stats().storage.compaction.compactions).toBe(1);
    const raised = await store.compact({ retainFrom: store.version });
    expect(raised.outcome).toBe('compacted');
    expect(await store.get('k0')).toBe(1);
    await store.close();
  });
});
