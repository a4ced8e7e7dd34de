/**
 * Compaction through the public API (issue 8): a differential test against a Map
 * model with compactions interleaved between writes, reads, snapshots, checkpoints
 * and reopens, for bounded and unbounded retention; ENOSPC during a compaction; a
 * pin taken while a compaction decides (forced interleaving).
 *
 * The central property: a compaction changes no answer. Every as-of read sampled
 * before a compaction (a value, "absent", or VersionNotRetainedError) answers the
 * same after it, and a snapshot taken before it reads the same values after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { compactionTestHooks } from '../src/compaction/compactor.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SeededRandom } from '../src/harness/seeded-random.js';

const DIRECTORY = '/db';
const TINY = { memoryBudgetBytes: 256 * 1024, checkpointOnClose: true };

afterEach(() => {
  compactionTestHooks.onHorizon = undefined;
});

type Answer = { value: unknown } | 'not-retained';

async function answer(read: Promise<unknown>): Promise<Answer> {
  try {
    return { value: await read };
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'not-retained';
    throw error;
  }
}

/** The model: every version of every key (value, or undefined for a delete). */
class Model {
  readonly versions = new Map<string, Array<{ version: number; value: unknown }>>();
  record(key: string, version: number, value: unknown): void {
    const list = this.versions.get(key) ?? [];
    list.push({ version, value });
    this.versions.set(key, list);
  }
  valueAt(key: string, version: number): unknown {
    let found: unknown;
    for (const entry of this.versions.get(key) ?? []) if (entry.version <= version) found = entry.value;
    return found;
  }
}

async function runDifferential(seed: number, maxVersionsPerKey: number | undefined): Promise<{ compactions: number; dropped: number }> {
  const random = new SeededRandom(seed);
  const fileSystem = new FaultFileSystem(seed);
  const options = { fileSystem, ...TINY, ...(maxVersionsPerKey === undefined ? {} : { maxVersionsPerKey }) };
  let store: Store = await openStore(DIRECTORY, options);
  const model = new Model();
  const keys = Array.from({ length: 30 }, (_, index) => `key-${String(index).padStart(3, '0')}`);
  const snapshots: Array<Awaited<ReturnType<Store['snapshot']>>> = [];
  let compactions = 0;
  let dropped = 0;

  const sampleAnswers = async (): Promise<Map<string, Answer>> => {
    const answers = new Map<string, Answer>();
    for (const key of keys) {
      for (let version = 0; version <= store.version; version += 1 + random.nextIntInclusive(0, 3)) {
        answers.set(`${key}@${version}`, await answer(store.get(key, { asOf: version })));
      }
    }
    return answers;
  };
  const checkSnapshots = async () => {
    for (const snapshot of snapshots) {
      for (const key of keys) expect(await snapshot.get(key), `${key} in the snapshot at ${snapshot.version}`).toEqual(model.valueAt(key, snapshot.version));
    }
  };

  for (let step = 0; step < 400; step++) {
    const roll = random.nextFloat();
    const key = random.pick(keys);
    if (roll < 0.55) {
      const value = { step, text: 'x'.repeat(random.nextIntInclusive(0, 200)) };
      await store.put(key, value);
      model.record(key, store.version, value);
    } else if (roll < 0.7) {
      await store.delete(key);
      model.record(key, store.version, undefined);
    } else if (roll < 0.78) {
      await store.checkpoint();
    } else if (roll < 0.82) {
      snapshots.push(await store.snapshot());
    } else if (roll < 0.85 && snapshots.length > 0) {
      await snapshots.splice(random.nextIntInclusive(0, snapshots.length - 1), 1)[0]!.release();
    } else if (roll < 0.95) {
      await store.checkpoint();
      const before = await sampleAnswers();
      const result = await store.compact(random.chance(0.3) ? { gte: random.pick(keys) } : undefined);
      compactions += result.outcome === 'compacted' ? 1 : 0;
      dropped += result.entriesDropped;
      for (const [spot, expected] of before) {
        const [name, version] = spot.split('@') as [string, string];
        expect(await answer(store.get(name, { asOf: Number(version) })), `${spot} after compaction`).toEqual(expected);
      }
      await checkSnapshots();
    } else if (snapshots.length === 0) {
      await store.close();
      store = await openStore(DIRECTORY, options);
    }
    // Newest values always; as-of reads are right or refused, never wrong.
    expect(await store.get(key)).toEqual(model.valueAt(key, store.version));
    const asOf = random.nextIntInclusive(0, store.version);
    const read = await answer(store.get(key, { asOf }));
    if (read !== 'not-retained') expect(read.value, `${key} as of ${asOf}`).toEqual(model.valueAt(key, asOf));
    else expect(maxVersionsPerKey, 'unbounded retention refuses no as-of read').toBeDefined();
  }
  await checkSnapshots();
  for (const snapshot of snapshots) await snapshot.release();
  const scanned = new Map<string, unknown>();
  for await (const [name, value] of store.scan()) scanned.set(name as string, value);
  const expected = new Map(keys.map((name) => [name, model.valueAt(name, store.version)] as const).filter(([, value]) => value !== undefined));
  expect(scanned).toEqual(expected);
  await store.close();
  return { compactions, dropped };
}

describe('compaction: differential against a Map model', () => {
  it('unbounded retention: every as-of read still answers exactly, snapshots read the same', async () => {
    const result = await runDifferential(11, undefined);
    expect(result.compactions).toBeGreaterThan(5);
  });

  it('maxVersionsPerKey 1: versions are dropped, yet no answer changes and snapshots keep theirs', async () => {
    const result = await runDifferential(12, 1);
    expect(result.compactions).toBeGreaterThan(5);
    expect(result.dropped).toBeGreaterThan(0);
  });

  it('maxVersionsPerKey 2, another seed', async () => {
    const result = await runDifferential(13, 2);
    expect(result.dropped).toBeGreaterThan(0);
  });
});

describe('compaction: space and stats', () => {
  it('overwrites and deletes are reclaimed with maxVersionsPerKey 1; stats report levels, bytes and write amplification', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore(DIRECTORY, { fileSystem, ...TINY, maxVersionsPerKey: 1 });
    for (let round = 0; round < 5; round++) {
      for (let index = 0; index < 300; index++) await store.put(`k${index}`, { round, pad: 'p'.repeat(80) });
      await store.checkpoint();
    }
    for (let index = 0; index < 270; index++) await store.delete(`k${index}`);
    await store.checkpoint();
    const before = store.stats().storage;
    const result = await store.compact();
    expect(result.outcome).toBe('compacted');
    const after = store.stats().storage;
    expect(after.runs).toBe(1);
    expect(after.runBytes).toBeLessThan(before.runBytes / 4);
    // 30 live values, each with a NOT_RETAINED marker below it; 270 deleted keys keep
    // their tombstone over a marker (as-of reads below must answer "not retained").
    expect(after.runEntries).toBe(30 * 2 + 270 * 2);
    expect(after.compaction.runsPerLevel.reduce((total, count) => total + count, 0)).toBe(1);
    expect(after.compaction.writeAmplification).toBeGreaterThan(1);
    expect(after.compaction.liveBytesEstimate).toBeGreaterThan(30 * 80);
    expect(after.compaction.debtBytes).toBe(0);
    for (let index = 0; index < 300; index++) expect(await store.get(`k${index}`)).toEqual(index < 270 ? undefined : { round: 4, pad: 'p'.repeat(80) });
    await store.close();
  });
});

describe('compaction: bounded retention keeps a lone tombstone', () => {
  it('a delete pushed out of retention by a newer put in memory still answers "not retained" after compaction', async () => {
    // model.test.ts counterexample: del b, reopen, put b, compact (maxVersionsPerKey 1).
    const fileSystem = new FaultFileSystem(9);
    const store = await openStore(DIRECTORY, { fileSystem, ...TINY, maxVersionsPerKey: 1 });
    await store.put('a', 1);
    await store.delete('b');
    const deletedAt = store.version;
    await store.checkpoint();
    await store.put('b', false);
    await expect(store.get('b', { asOf: deletedAt })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect((await store.compact()).outcome).toBe('compacted');
    await expect(store.get('b', { asOf: deletedAt })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('b')).toBe(false);
    await store.close();
  });
});

describe('compaction: faults', () => {
  it('ENOSPC while writing the merged run leaves the old runs in place and the store usable', async () => {
    const fileSystem = new FaultFileSystem(5);
    const store = await openStore(DIRECTORY, { fileSystem, ...TINY, maxVersionsPerKey: 1 });
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 100; index++) await store.put(`k${index}`, round);
      await store.checkpoint();
    }
    const runsBefore = store.stats().storage.runs;
    const filesBefore = (await fileSystem.readdir(`${DIRECTORY}/runs`)).sort();
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /runs\//, persistent: true });
    await expect(store.compact()).rejects.toMatchObject({ code: 'LADYBUG_DISK_FULL' });
    expect(fault.triggeredCount).toBeGreaterThan(0);
    fault.remove();
    expect(store.stats().storage.runs).toBe(runsBefore);
    expect((await fileSystem.readdir(`${DIRECTORY}/runs`)).sort()).toEqual(filesBefore);
    for (let index = 0; index < 100; index++) expect(await store.get(`k${index}`)).toBe(2);
    await store.put('after', 1);
    expect((await store.compact()).outcome).toBe('compacted');
    for (let index = 0; index < 100; index++) expect(await store.get(`k${index}`)).toBe(2);
    await store.close();
  });
});

describe('compaction: a pin taken while compaction decides (forced interleaving)', () => {
  it('a pin below the horizon taken after it was read aborts the compaction: what the pin sees stays readable', async () => {
    const fileSystem = new FaultFileSystem(7);
    const store = await openStore(DIRECTORY, { fileSystem, ...TINY, maxVersionsPerKey: 1 });
    await store.put('k', 'a');
    const first = store.version;
    await store.checkpoint();
    await store.put('k', 'b');
    await store.checkpoint();
    let scan: AsyncIterableIterator<unknown> | undefined;
    compactionTestHooks.onHorizon = (horizon) => {
      expect(horizon).toBe(Infinity);
      // An as-of scan pins `first` now, after the horizon was read.
      scan = store.scan({ asOf: first });
    };
    const aborted = await store.compact();
    compactionTestHooks.onHorizon = undefined;
    expect(aborted.outcome).toBe('aborted');
    // The scan's pin at `first` keeps 'a' on disk, but a pin below what reads retain
    // only holds (read-pins.ts): 'a' (beyond the newest 1) stays refused, as before the
    // scan (retention review, 2026-12-03; it answered 'a' while the scan was open).
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    await scan!.return!();
    const compacted = await store.compact();
    expect(compacted.outcome).toBe('compacted');
    expect(compacted.entriesDropped).toBe(1);
    await expect(store.get('k', { asOf: first })).rejects.toBeInstanceOf(VersionNotRetainedError);
    expect(await store.get('k')).toBe('b');
    await store.close();
  });

  it('a snapshot held across compaction keeps its versions and its runs', async () => {
    const fileSystem = new FaultFileSystem(8);
    const store = await openStore(DIRECTORY, { fileSystem, ...TINY, maxVersionsPerKey: 1 });
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, 'old');
    await store.checkpoint();
    const snapshot = await store.snapshot();
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, 'new');
    await store.checkpoint();
    const result = await store.compact();
    expect(result.outcome).toBe('compacted');
    expect(result.entriesDropped).toBe(0);
    for (let index = 0; index < 50; index++) expect(await snapshot.get(`k${index}`)).toBe('old');
    await snapshot.release();
    const again = await store.compact();
    expect(again.entriesDropped).toBe(50);
    for (let index = 0; index < 50; index++) expect(await store.get(`k${index}`)).toBe('new');
    await store.close();
  });
});
