/**
 * A scan over keys with hundreds to thousands of versions (spread over two runs and the
 * memtable, tombstones among them) mixed with ordinary keys answers what a get of each
 * key answers: as of versions in the first run, between the runs, in the memtable and
 * the newest; forward and reverse; over several ranges; with limits; with retention
 * unbounded and bounded (4 versions per key, a pinned snapshot keeping older ones), a
 * version no longer retained failing the scan at its key as the get fails. The newest
 * scan's values equal each key's history's first entry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

type Outcome = { entries: Array<[string, unknown]>; error?: string };

interface Reader {
  get(key: string, options?: { asOf?: number }): Promise<unknown>;
  scan(options: Record<string, unknown>): AsyncIterable<[unknown, unknown]>;
}

const errorOf = (error: unknown): string => {
  const { code, version, oldestRetained } = error as { code?: string; version?: number; oldestRetained?: number };
  return `${code} ${version} ${oldestRetained}`;
};

async function scanned(reader: Reader, options: Record<string, unknown>): Promise<Outcome> {
  const entries: Array<[string, unknown]> = [];
  try {
    for await (const [key, value] of reader.scan(options)) entries.push([key as string, value]);
  } catch (error) {
    return { entries, error: errorOf(error) };
  }
  return { entries };
}

const inRange = (key: string, range: Record<string, string>): boolean =>
  (range.gte === undefined || key >= range.gte) && (range.gt === undefined || key > range.gt) && (range.lte === undefined || key <= range.lte) && (range.lt === undefined || key < range.lt);

type KeyAnswer = { value: unknown } | { error: string };

/** Each key's get as of `asOf`. */
async function answers(reader: Reader, keys: string[], asOf: number | undefined): Promise<Map<string, KeyAnswer>> {
  const result = new Map<string, KeyAnswer>();
  for (const key of keys) {
    try {
      result.set(key, { value: await reader.get(key, asOf === undefined ? undefined : { asOf }) });
    } catch (error) {
      result.set(key, { error: errorOf(error) });
    }
  }
  return result;
}

/** The scan as gets of each key make it: keys in order, absent ones left out, stopping at the first that fails. */
function fromGets(byKey: Map<string, KeyAnswer>, range: Record<string, string>, reverse: boolean, limit: number): Outcome {
  const ordered = [...byKey.keys()].filter((key) => inRange(key, range)).sort();
  if (reverse) ordered.reverse();
  const entries: Array<[string, unknown]> = [];
  for (const key of ordered) {
    if (entries.length >= limit) break;
    const answer = byKey.get(key)!;
    if ('error' in answer) return { entries, error: answer.error };
    if (answer.value !== undefined) entries.push([key, answer.value]);
  }
  return { entries };
}

const RANGES: Array<Record<string, string>> = [{}, { gte: 'm' }, { gt: 'a05', lt: 'm2' }, { gte: 'm2', lte: 'm2' }, { lte: 'm1' }, { gt: 'm3' }];
const LIMITS = [Infinity, 1, 2, 5];

/**
 * Writes the store: returns its keys and the versions to read as of. Each phase's writes
 * go concurrently (one WAL sync for many); versions follow the order of the calls.
 */
async function populate(store: Store, afterFirstRun: () => Promise<void> = async () => {}): Promise<{ keys: string[]; versions: number[] }> {
  const keys = new Set<string>();
  let pending: Array<Promise<number>> = [];
  const marked: Array<Promise<number>> = [];
  const put = (key: string, value: unknown, mark = false): void => {
    keys.add(key);
    const version = store.put(key, value).then((written) => written.version);
    pending.push(version);
    if (mark) marked.push(version);
  };
  const del = (key: string, mark = false): void => {
    keys.add(key);
    const version = store.delete(key).then((written) => written.version);
    pending.push(version);
    if (mark) marked.push(version);
  };
  const settle = async (): Promise<void> => {
    await Promise.all(pending);
    pending = [];
  };
  for (let index = 0; index < 20; index++) put(`a${String(index).padStart(2, '0')}`, `a-${index}`);
  // First run: m1 with 1,500 versions, m2 with 600 (a tombstone every 50th), ordinary keys around them.
  for (let index = 0; index < 1500; index++) put('m1', `m1-${index}-${'x'.repeat(100)}`, index === 0 || index === 1 || index === 700);
  for (let index = 0; index < 600; index++) {
    if (index % 50 === 49) del('m2', index === 349);
    else put('m2', { index, pad: 'y'.repeat(100) }, index === 300);
  }
  for (let index = 0; index < 10; index++) put(`n${index}`, index);
  put('z', 'last of the first run', true);
  await settle();
  await store.checkpoint();
  await afterFirstRun();
  // Second run: more of m1, m3 with 800 versions, ordinary keys rewritten and deleted.
  for (let index = 1500; index < 1900; index++) put('m1', `m1-${index}-${'x'.repeat(100)}`, index === 1500 || index === 1700);
  for (let index = 0; index < 800; index++) put('m3', `m3-${index}-${'w'.repeat(90)}`, index === 400);
  put('a03', 'a03 again');
  del('a04');
  del('n5', true);
  await settle();
  await store.checkpoint();
  // The memtable: a few newer versions of the many-version keys, a deletion.
  for (let index = 1900; index < 1910; index++) put('m1', `m1-${index}`);
  put('m2', 'm2 in the memtable', true);
  del('a07');
  put('m3', 'm3 in the memtable', true);
  await settle();
  const versions = await Promise.all(marked);
  expect(versions.slice().sort((a, b) => a - b), 'versions follow the order of the calls').toEqual(versions);
  return { keys: [...keys], versions };
}

async function expectScansEqualGets(reader: Reader, keys: string[], versions: Array<number | undefined>): Promise<number> {
  let compared = 0;
  for (const asOf of versions) {
    const byKey = await answers(reader, keys, asOf);
    for (const range of RANGES) {
      for (const reverse of [false, true]) {
        for (const limit of LIMITS) {
          const options: Record<string, unknown> = { ...range, reverse };
          if (limit !== Infinity) options.limit = limit;
          if (asOf !== undefined) options.asOf = asOf;
          expect(await scanned(reader, options), `scan ${JSON.stringify(options)}`).toEqual(fromGets(byKey, range, reverse, limit));
          compared++;
        }
      }
    }
  }
  return compared;
}

describe('a scan over keys with many versions answers what gets answer', () => {
  it('with retention unbounded: as of versions in each run and the memtable, both directions, ranges and limits', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
    try {
      const { keys, versions } = await populate(store);
      expect(await expectScansEqualGets(store as unknown as Reader, keys, [undefined, versions[0]! - 1, ...versions])).toBe((versions.length + 2) * RANGES.length * 2 * LIMITS.length);
      for (const [key, value] of (await scanned(store as unknown as Reader, {})).entries) {
        expect((await store.history(key, { limit: 1 }))[0]!.value, key).toEqual(value);
      }
      // The runs: the many-version keys' blocks are in files (reopened, nothing in memory but what the memtable replays).
      await store.close();
      const reopened = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024 });
      try {
        await expectScansEqualGets(reopened as unknown as Reader, keys, [undefined, versions[2]!, versions[5]!]);
      } finally {
        await reopened.close();
      }
    } finally {
      if (!store.stats().closed) await store.close();
    }
  }, 60_000);

  it('with 4 versions retained per key and a snapshot pinning older ones: failures at the same key', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 16 * 1024 * 1024, maxVersionsPerKey: 4 });
    try {
      let snapshot: Awaited<ReturnType<Store['snapshot']>> | undefined;
      const { keys, versions } = await populate(store, async () => {
        snapshot = await store.snapshot();
      });
      const pinned = snapshot!;
      try {
        const outcomes = await expectScansEqualGets(store as unknown as Reader, keys, [undefined, pinned.version, ...versions]);
        expect(outcomes).toBe((versions.length + 2) * RANGES.length * 2 * LIMITS.length);
        // As of an old version of m1 below the pin: not retained, the scan fails at m1 (after the keys before it).
        const failed = await scanned(store as unknown as Reader, { asOf: versions[1]! });
        expect(failed.error).toMatch(/^LADYBUG_VERSION_NOT_RETAINED /);
        expect(failed.entries.map(([key]) => key)).toEqual(keys.filter((key) => key < 'm1').sort());
        // The snapshot reads what the pin kept: m1 as of the end of the first run.
        await expectScansEqualGets(pinned as unknown as Reader, keys, [undefined]);
        expect((await scanned(pinned as unknown as Reader, { gte: 'm1', lte: 'm1' })).entries).toEqual([['m1', `m1-1499-${'x'.repeat(100)}`]]);
      } finally {
        await pinned.release();
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});
