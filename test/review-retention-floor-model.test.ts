/**
 * Adversarial review of the retention floor (issue 8): a seeded random workload with
 * a small memory budget (background flushes and tiered merges that do not include the
 * oldest run, so the floor meets partial merges), range and full compactions that
 * raise the floor, snapshots taken before, between and after raises, as-of gets, scans
 * in both directions with bounds and limits, history, checkpoints and reopens.
 *
 * Checked against a Map per version: a read below the floor F is refused; a read at or
 * above F either answers exactly what the model holds at its version or is refused
 * (VersionNotRetainedError: per-key retention may refuse); a snapshot (pinned) always
 * answers exactly. Never a wrong value or a wrong "absent".
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { mulberry32 } from './support/seeded-random.js';

const KEY_COUNT = 24;
const STEPS = 700;
const VALUE_PAD = 'x'.repeat(900);

const keyName = (index: number) => `key-${String(index).padStart(2, '0')}`;

async function refusedOr<T>(read: Promise<T>): Promise<T | 'refused'> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'refused';
    throw error;
  }
}

async function collect(iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>): Promise<Array<[string, unknown]>> {
  const entries: Array<[string, unknown]> = [];
  for await (const [key, value] of iterator) entries.push([key as string, value]);
  return entries;
}

interface ScanShape {
  gte?: string;
  lt?: string;
  reverse: boolean;
  limit?: number;
}

function expectedScan(state: ReadonlyMap<string, string>, shape: ScanShape): Array<[string, unknown]> {
  let keys = [...state.keys()].filter((key) => (shape.gte === undefined || key >= shape.gte) && (shape.lt === undefined || key < shape.lt)).sort();
  if (shape.reverse) keys.reverse();
  if (shape.limit !== undefined) keys = keys.slice(0, shape.limit);
  return keys.map((key) => [key, state.get(key)]);
}

async function runWorkload(seed: number, maxVersionsPerKey: number): Promise<{ floor: number; compactions: number; exactAnswers: number }> {
  const random = mulberry32(seed);
  const pick = (count: number) => Math.floor(random() * count);
  const fileSystem = new FaultFileSystem(seed);
  const options = { fileSystem, memoryBudgetBytes: 256 * 1024, maxVersionsPerKey };
  let store: Store = await openStore('/db', options);
  // states[v]: the store as of version v.
  const states: Array<Map<string, string>> = [new Map()];
  const stateAt = (version: number) => states[Math.min(version, states.length - 1)]!;
  let floor = 0;
  let compactions = 0;
  const answered = { exact: 0, refused: 0 };
  const snapshots: Array<Awaited<ReturnType<Store['snapshot']>>> = [];
  // Mostly at or above the floor (the versions whose answers must stay exact).
  const readVersion = () => (random() < 0.8 ? floor + pick(store.version - floor + 1) : pick(store.version + 1));
  const randomShape = (): ScanShape => {
    const first = pick(KEY_COUNT + 2);
    const second = first + pick(KEY_COUNT);
    return {
      ...(random() < 0.6 ? { gte: keyName(first) } : {}),
      ...(random() < 0.6 ? { lt: keyName(second) } : {}),
      reverse: random() < 0.5,
      ...(random() < 0.5 ? { limit: 1 + pick(6) } : {}),
    };
  };

  for (let step = 0; step < STEPS; step++) {
    const roll = random();
    const key = keyName(pick(KEY_COUNT));
    const context = `seed ${seed} step ${step} floor ${floor} version ${store.version}`;
    if (roll < 0.45) {
      const next = new Map(states.at(-1)!);
      let version: number;
      if (random() < 0.3) {
        version = (await store.delete(key)).version;
        next.delete(key);
      } else {
        const value = `${step}-${VALUE_PAD}`;
        version = (await store.put(key, value)).version;
        next.set(key, value);
      }
      expect(version, context).toBe(states.length);
      states.push(next);
    } else if (roll < 0.55) {
      const version = readVersion();
      const got = await refusedOr(store.get(key, { asOf: version }));
      if (version < floor) expect(got, `${context}: get ${key} as of ${version} below the floor`).toBe('refused');
      else if (got !== 'refused') expect(got, `${context}: get ${key} as of ${version}`).toBe(stateAt(version).get(key));
      if (version >= floor) answered[got === 'refused' ? 'refused' : 'exact']++;
    } else if (roll < 0.63) {
      const version = readVersion();
      const shape = randomShape();
      const got = await refusedOr(collect(store.scan({ ...shape, asOf: version })));
      if (version < floor) expect(got, `${context}: scan as of ${version} below the floor`).toBe('refused');
      else if (got !== 'refused') expect(got, `${context}: scan ${JSON.stringify(shape)} as of ${version}`).toEqual(expectedScan(stateAt(version), shape));
    } else if (roll < 0.68) {
      const history = await store.history(key);
      let previous = Infinity;
      for (const entry of history) {
        expect(entry.version, `${context}: history of ${key} newest first`).toBeLessThan(previous);
        expect(entry.version, `${context}: history of ${key} lists nothing below the floor's entry`).toBeGreaterThan(0);
        previous = entry.version;
        const at = stateAt(entry.version).get(key);
        if (entry.deleted) expect(at, `${context}: history delete of ${key} @${entry.version}`).toBeUndefined();
        else expect(entry.value, `${context}: history of ${key} @${entry.version}`).toBe(at);
        if (entry.deleted) expect(entry.version, `${context}: no delete at or below the floor in history`).toBeGreaterThan(floor);
      }
    } else if (roll < 0.74) {
      snapshots.push(await store.snapshot());
      if (snapshots.length > 3) await snapshots.shift()!.release();
    } else if (roll < 0.84 && snapshots.length > 0) {
      const snapshot = snapshots[pick(snapshots.length)]!;
      expect(snapshot.version, context).toBeGreaterThanOrEqual(floor);
      const state = stateAt(snapshot.version);
      expect(await snapshot.get(key), `${context}: snapshot@${snapshot.version} get ${key}`).toBe(state.get(key));
      const shape = randomShape();
      expect(await collect(snapshot.scan(shape)), `${context}: snapshot@${snapshot.version} scan ${JSON.stringify(shape)}`).toEqual(expectedScan(state, shape));
    } else if (roll < 0.9) {
      // Small raises: most of the history stays at or above the floor, where reads must be exact.
      const retainFrom = floor + pick(Math.ceil((store.version - floor) / 4) + 1);
      // A range no run meets raises the floor alone: the background merges that follow
      // (tiered, often not including the oldest run) then apply it to partial inputs.
      const rangeRoll = random();
      const range = rangeRoll < 0.3 ? { gte: keyName(pick(KEY_COUNT)), lt: keyName(pick(KEY_COUNT) + KEY_COUNT / 2) } : rangeRoll < 0.6 ? { gte: 'zzz' } : {};
      const result = await store.compact({ ...range, retainFrom });
      expect(result.retentionFloor, context).toBeGreaterThanOrEqual(floor);
      expect(result.retentionFloor, context).toBeLessThanOrEqual(retainFrom);
      floor = result.retentionFloor;
    } else if (roll < 0.93) {
      // Reads racing a compaction that raises the floor: each answers exactly or is refused.
      const retainFrom = floor + pick(Math.ceil((store.version - floor) / 4) + 1);
      const compaction = store.compact({ retainFrom });
      const reads = Array.from({ length: 4 }, async () => {
        const version = readVersion();
        const readKey = keyName(pick(KEY_COUNT));
        const shape = randomShape();
        const [got, scanned] = await Promise.all([refusedOr(store.get(readKey, { asOf: version })), refusedOr(collect(store.scan({ ...shape, asOf: version })))]);
        if (got !== 'refused') expect(got, `${context}: racing get ${readKey} as of ${version}`).toBe(stateAt(version).get(readKey));
        if (scanned !== 'refused') expect(scanned, `${context}: racing scan as of ${version}`).toEqual(expectedScan(stateAt(version), shape));
      });
      await Promise.all(reads);
      floor = (await compaction).retentionFloor;
    } else if (roll < 0.96) {
      await store.checkpoint();
    } else if (roll < 0.98) {
      const result = await store.compact({});
      expect(result.retentionFloor, context).toBe(floor);
    } else {
      for (const snapshot of snapshots.splice(0)) await snapshot.release();
      compactions += store.stats().sinceOpen.compactions;
      await store.close();
      store = await openStore('/db', options);
      expect(store.version, context).toBe(states.length - 1);
    }
  }
  compactions += store.stats().sinceOpen.compactions;
  for (const snapshot of snapshots.splice(0)) await snapshot.release();
  await store.close();
  return { floor, compactions, exactAnswers: answered.exact };
}

describe('retention floor review: random workload against a Map per version', () => {
  for (const [seed, maxVersionsPerKey] of [[11, 1], [12, 2], [13, 3], [14, 1000], [15, 1]] as const) {
    it(`seed ${seed}, maxVersionsPerKey ${maxVersionsPerKey}: no wrong value or absent at or above the floor`, async () => {
      const outcome = await runWorkload(seed, maxVersionsPerKey);
      // The workload reached what it is for: a raised floor, merges, and exact answers at or above it.
      expect(outcome.floor).toBeGreaterThan(0);
      expect(outcome.compactions).toBeGreaterThan(10);
      expect(outcome.exactAnswers).toBeGreaterThan(20);
    }, 120_000);
  }
});
