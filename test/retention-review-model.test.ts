/**
 * Retention review: a seeded random sequence test of as-of reads against a model.
 *
 * Steps: puts and deletes on a few keys; get({ asOf }), scan({ asOf }) and history();
 * snapshots and as-of scans taken, held and let go; checkpoints; compact() of every
 * run or a range; compact({ retainFrom }) (alone, or with a merge); retention by age
 * with an injected clock (some seeds); clean reopens and crashes. The model is the
 * store's contents at every version. Checked at every read:
 * - an as-of read at v answers exactly what the model held at v, or is refused with
 *   VersionNotRetainedError (nothing else: no other value, no wrong "absent");
 * - below the retention floor it is refused; once a get of (key, v) was refused, it
 *   stays refused (asked again at later steps, after flushes, merges, reopens, crashes);
 * - the floor (stats().storage.compaction.retentionFloor) never goes down, also
 *   across reopens and crashes;
 * - history() lists the model's newest versions in order (a prefix of them), and a
 *   version it once left out below what it listed is never listed again;
 * - a held snapshot answers exactly; a held as-of scan lists the model at its version
 *   (or is refused at a key); a read-only transaction held open reads its version
 *   exactly at its start and when let go; a watch catching up from an old version in
 *   batches of 2 delivers every change after it, in order, or is refused.
 * RETENTION_REVIEW_SEEDS (e.g. "1-40") and RETENTION_REVIEW_STEPS widen it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { versionTimeSettings } from '../src/compaction/version-times.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store, VersionNotRetainedError } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { seedList } from './model-sequences.js';
import { mulberry32 } from './transaction-support.js';

const KEYS = ['a', 'b', 'c', 'd'];
// Seeds 1-30 of 220 steps before this review's fixes: 5, 12, 13 and 20 failed on a floor raised to a version
// per-key retention had refused (b2ca6cd), 16 on history re-listed beside a held as-of scan (7801355); 1 passed.
// With transactions and watches added, seed 4 failed on a refused delete at the floor dropped (f6583e4).
const DEFAULT_SEEDS = '1,4,5,12,13,16,20';
const STEPS = Number(process.env['RETENTION_REVIEW_STEPS'] ?? 220);
const MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

type Snapshot = Awaited<ReturnType<Store['snapshot']>>;
type Row = [string, unknown];

/** The value, or 'refused' for VersionNotRetainedError (any other error fails the test). */
async function refusedOr<T>(read: () => Promise<T>): Promise<T | 'refused'> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof VersionNotRetainedError) return 'refused';
    throw error;
  }
}

async function rows(iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>, first: Row[] = []): Promise<Row[]> {
  const all = [...first];
  for await (const [key, value] of iterator) all.push([String(key), value]);
  return all;
}

interface Counts {
  exact: number;
  refused: number;
  refusedAgain: number;
  floorRaises: number;
  crashes: number;
  transactions: number;
  watchChanges: number;
}

async function runSeed(seed: number, steps: number): Promise<Counts> {
  const random = mulberry32(seed);
  const pick = (count: number): number => Math.floor(random() * count);
  const maxVersionsPerKey = [1, 2, 3, Infinity][seed % 4]!;
  const byAge = seed % 3 === 0;
  let clock = 1_000_000;
  versionTimeSettings.nowMs = () => clock;
  const options = { maxVersionsPerKey, segmentSizeBytes: 16 * 1024, ...(byAge ? { retainVersionsMs: 1000 } : {}) };
  let fileSystem = new FaultFileSystem(seed);
  let store = await openStore('/db', { ...options, fileSystem });
  // states[v]: the store's contents as of version v.
  const states: Array<Map<string, string>> = [new Map()];
  const refused = new Map<string, { key: string; version: number; step: number }>();
  // Per key: the newest version history() ever left out below what it listed.
  const leftOut = new Map<string, number>();
  const snapshots: Snapshot[] = [];
  const scans: Array<{ iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>; version: number; first: Row[] }> = [];
  let floor = 0;
  const counts: Counts = { exact: 0, refused: 0, refusedAgain: 0, floorRaises: 0, crashes: 0, transactions: 0, watchChanges: 0 };
  // Read-only transactions held open (they pin their read version): each reads every key at its start and when let go.
  const transactions: Array<{ version: number; open: () => void; done: Promise<unknown> }> = [];
  // Watches catching up from an old version in batches of 2 (they pin while they catch up).
  const watches: Array<{ feed: AsyncGenerator<{ version: number; key: string | Uint8Array; value?: unknown; deleted: boolean }, void, undefined>; since: number; got: Array<[number, string, unknown]> }> = [];
  // The key written at each version (one key per version here).
  const keyAt: string[] = [''];
  const version = (): number => states.length - 1;
  const context = (step: number, what: string): string => `seed ${seed} (N ${maxVersionsPerKey}${byAge ? ', by age' : ''}) step ${step} floor ${floor}: ${what}`;
  const modelScan = (at: number): Row[] => [...states[at]!.entries()].sort(([left], [right]) => (left < right ? -1 : 1));

  const checkFloor = (step: number, what: string): void => {
    const now = store.stats().storage.compaction.retentionFloor;
    expect(now, context(step, `the floor never goes down (${what})`)).toBeGreaterThanOrEqual(floor);
    floor = now;
  };
  const get = async (step: number, key: string, at: number): Promise<void> => {
    const got = await refusedOr(() => store.get(key, { asOf: at }));
    const id = `${key}@${at}`;
    if (got === 'refused') {
      counts.refused++;
      if (!refused.has(id)) refused.set(id, { key, version: at, step });
      return;
    }
    const first = refused.get(id);
    expect(first, context(step, `get ${key} as of ${at} answered ${JSON.stringify(got)} after it was refused at step ${first?.step}`)).toBeUndefined();
    expect(at, context(step, `get ${key} as of ${at} answered below the floor`)).toBeGreaterThanOrEqual(floor);
    expect(got, context(step, `get ${key} as of ${at}`)).toBe(states[at]!.get(key));
    counts.exact++;
  };
  const history = async (step: number, key: string): Promise<void> => {
    const listed = (await store.history(key)).map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : entry.value }));
    // The key's versions (puts and deletes) newest first: history lists a prefix of them.
    const all = [...writtenVersions(key)].reverse().map((at) => ({ version: at, value: states[at]!.get(key) }));
    expect(listed, context(step, `history of ${key}`)).toEqual(all.slice(0, listed.length));
    const oldestListed = listed.at(-1)?.version ?? Infinity;
    const wasLeftOut = leftOut.get(key);
    if (wasLeftOut !== undefined) {
      expect(oldestListed, context(step, `history of ${key} lists ${JSON.stringify(listed.map((entry) => entry.version))}, again at or below ${wasLeftOut}, which it left out before`)).toBeGreaterThan(wasLeftOut);
    }
    // The newest version of the key older than what history listed: left out for good.
    const older = writtenVersions(key).filter((at) => at < oldestListed);
    if (older.length > 0) leftOut.set(key, Math.max(wasLeftOut ?? 0, older.at(-1)!));
  };
  // Versions at which `key` was written (puts and deletes), oldest first.
  const writes = new Map<string, number[]>(KEYS.map((key) => [key, []]));
  const writtenVersions = (key: string): number[] => writes.get(key)!;

  const finishTransaction = async (step: number): Promise<void> => {
    const held = transactions.shift()!;
    held.open();
    const expected = KEYS.map((name) => states[held.version]!.get(name));
    expect(await held.done, context(step, `read-only transaction at ${held.version}`)).toEqual([expected, expected]);
    counts.transactions++;
  };
  // Every change after `since` up to `upTo`, in version order, as a watch delivers them.
  const changesAfter = (since: number, upTo: number): Array<[number, string, unknown]> =>
    Array.from({ length: Math.max(0, upTo - since) }, (_, index) => since + 1 + index).map((at) => [at, keyAt[at]!, states[at]!.get(keyAt[at]!)]);
  const drain = async (step: number): Promise<void> => {
    const watch = watches.shift()!;
    const expected = changesAfter(watch.since, version());
    const got = await refusedOr(async () => {
      while (watch.got.length < expected.length) {
        const change = await watch.feed.next();
        if (change.done === true) break;
        watch.got.push([change.value.version, String(change.value.key), change.value.deleted ? undefined : change.value.value]);
      }
      return watch.got;
    });
    await watch.feed.return(undefined);
    if (got === 'refused') return;
    expect(got, context(step, `watch since ${watch.since}`)).toEqual(expected);
    counts.watchChanges += got.length;
  };
  const dropHeld = async (clean: boolean): Promise<void> => {
    for (const watch of watches.splice(0)) if (clean) await watch.feed.return(undefined);
    while (transactions.length > 0) {
      if (clean) await finishTransaction(-1);
      else {
        transactions.shift()!.open();
      }
    }
    for (const scan of scans.splice(0)) if (clean) await scan.iterator.return?.();
    for (const snapshot of snapshots.splice(0)) if (clean) await snapshot.release();
  };

  try {
    for (let step = 0; step < steps; step++) {
      const roll = random();
      const key = KEYS[pick(KEYS.length)]!;
      const at = pick(version() + 1);
      if (roll < 0.4) {
        const next = new Map(states.at(-1)!);
        let written: number;
        if (random() < 0.25) {
          written = (await store.delete(key)).version;
          next.delete(key);
        } else {
          const value = `${key}${step}`;
          written = (await store.put(key, value)).version;
          next.set(key, value);
        }
        expect(written, context(step, 'versions are dense')).toBe(states.length);
        states.push(next);
        writes.get(key)!.push(written);
        keyAt.push(key);
        if (byAge) clock += pick(300);
      } else if (roll < 0.55) {
        await get(step, key, at);
      } else if (roll < 0.6) {
        const got = await refusedOr(() => rows(store.scan({ asOf: at })));
        if (got === 'refused') counts.refused++;
        else {
          expect(at, context(step, `scan as of ${at} answered below the floor`)).toBeGreaterThanOrEqual(floor);
          expect(got, context(step, `scan as of ${at}`)).toEqual(modelScan(at));
          for (const [rowKey] of got) expect(refused.has(`${rowKey}@${at}`), context(step, `scan as of ${at} answered ${rowKey}, refused before`)).toBe(false);
          counts.exact++;
        }
      } else if (roll < 0.65) {
        await history(step, key);
      } else if (roll < 0.69) {
        snapshots.push(await store.snapshot());
        if (snapshots.length > 2) await snapshots.shift()!.release();
      } else if (roll < 0.72 && snapshots.length > 0) {
        const snapshot = snapshots[pick(snapshots.length)]!;
        expect(await snapshot.get(key), context(step, `snapshot ${snapshot.version} get ${key}`)).toBe(states[snapshot.version]!.get(key));
        expect(await rows(snapshot.scan()), context(step, `snapshot ${snapshot.version} scan`)).toEqual(modelScan(snapshot.version));
      } else if (roll < 0.74) {
        // An as-of scan held open after its first row (it pins its version meanwhile).
        const iterator = store.scan({ asOf: at });
        const first = await refusedOr(() => iterator.next());
        if (first !== 'refused' && first.done !== true) scans.push({ iterator, version: at, first: [[String(first.value[0]), first.value[1]]] });
        else if (first !== 'refused') await iterator.return?.();
      } else if (roll < 0.76 && scans.length > 0) {
        const scan = scans.shift()!;
        const got = await refusedOr(() => rows(scan.iterator, scan.first));
        if (got !== 'refused') expect(got, context(step, `held scan as of ${scan.version}`)).toEqual(modelScan(scan.version));
      } else if (roll < 0.775) {
        if (transactions.length >= 2) await finishTransaction(step);
        else {
          let open!: () => void;
          const gate = new Promise<void>((resolve) => {
            open = resolve;
          });
          let started!: () => void;
          const reading = new Promise<void>((resolve) => {
            started = resolve;
          });
          const done = store.transaction(async (tx) => {
            const first = await Promise.all(KEYS.map((name) => tx.get(name)));
            started();
            await gate;
            return [first, await Promise.all(KEYS.map((name) => tx.get(name)))];
          }, { isolation: 'snapshot', retries: 0 });
          // A crash drops it: its rejection (the store abandoned) is not the test's failure.
          done.catch(() => undefined);
          await Promise.race([reading, done]);
          transactions.push({ version: version(), open, done });
        }
      } else if (roll < 0.79) {
        if (watches.length >= 2) await drain(step);
        else if (version() > 0) {
          const since = pick(version());
          const feed = store.watch({ sinceVersion: since, catchUpBatchChanges: 2 });
          const watch = { feed, since, got: [] as Array<[number, string, unknown]> };
          const first = await refusedOr(() => feed.next());
          if (first === 'refused') {
            await feed.return(undefined);
          } else {
            if (first.done !== true) watch.got.push([first.value.version, String(first.value.key), first.value.deleted ? undefined : first.value.value]);
            watches.push(watch);
          }
        }
      } else if (roll < 0.82) {
        await store.checkpoint();
      } else if (roll < 0.86) {
        const range = random() < 0.3 ? { gte: KEYS[pick(2)]!, lt: KEYS[2 + pick(2)]! } : {};
        await store.compact(range);
      } else if (roll < 0.91) {
        const retainFrom = floor + pick(version() - floor + 1);
        const range = random() < 0.4 ? { gte: 'zzz' } : {};
        const result = await store.compact({ ...range, retainFrom });
        expect(result.retentionFloor, context(step, `compact({ retainFrom: ${retainFrom} })`)).toBeGreaterThanOrEqual(floor);
        expect(result.retentionFloor, context(step, `compact({ retainFrom: ${retainFrom} })`)).toBeLessThanOrEqual(retainFrom);
        if (result.retentionFloor > floor) counts.floorRaises++;
      } else if (roll < 0.94 && byAge) {
        clock += 200 + pick(1500);
      } else if (roll < 0.97) {
        await dropHeld(true);
        await store.close();
        store = await openStore('/db', { ...options, fileSystem });
        expect(store.version, context(step, 'version after a reopen')).toBe(version());
      } else {
        await dropHeld(false);
        store[abandonStore]();
        fileSystem = fileSystem.crash(MODES[pick(MODES.length)]!);
        store = await openStore('/db', { ...options, fileSystem });
        expect(store.version, context(step, 'version after a crash')).toBe(version());
        counts.crashes++;
      }
      checkFloor(step, 'after the step');
      // A few of the reads refused so far, asked again: still refused.
      const known = [...refused.values()];
      for (let again = 0; again < 2 && known.length > 0; again++) {
        const earlier = known[pick(known.length)]!;
        const got = await refusedOr(() => store.get(earlier.key, { asOf: earlier.version }));
        expect(got, context(step, `get ${earlier.key} as of ${earlier.version}, refused at step ${earlier.step}, asked again`)).toBe('refused');
        counts.refusedAgain++;
      }
    }
    // At the end: every version of every key, and every history.
    for (let at = 0; at <= version(); at++) for (const key of KEYS) await get(steps, key, at);
    for (const key of KEYS) await history(steps, key);
    await dropHeld(true);
    await store.close();
    store = await openStore('/db', { ...options, fileSystem });
    checkFloor(steps, 'after the last reopen');
    for (let at = 0; at <= version(); at++) for (const key of KEYS) await get(steps + 1, key, at);
    return counts;
  } finally {
    await dropHeld(true).catch(() => undefined);
    await store.close().catch(() => undefined);
  }
}

afterEach(() => {
  versionTimeSettings.nowMs = () => Date.now();
});

describe('retention review: as-of reads against a model of every version', () => {
  for (const seed of seedList(process.env['RETENTION_REVIEW_SEEDS'] ?? DEFAULT_SEEDS)) {
    it(`seed ${seed}: exact or refused, refused stays refused, the floor never goes down`, async () => {
      const counts = await runSeed(seed, STEPS);
      // The sequence did what it is for: exact answers, refusals asked again.
      expect(counts.exact).toBeGreaterThan(10);
      expect(counts.refusedAgain + counts.refused).toBeGreaterThan(0);
    }, 30_000);
  }
});
