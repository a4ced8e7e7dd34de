/**
 * Reads of a memtable written mostly in ascending key order (its ascending tail, keys of
 * one version held without a chain), against a model: point reads in and below the
 * tail's range, rewrites and deletes of tail keys, scans opened before and continued
 * after more ascending writes, seals and flushes, transactions' reads, snapshots and
 * history; string keys with multi-byte UTF-8, values of every kind (byte values in
 * slabs, objects, strings, numbers).
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store, StoreSnapshot } from '../src/store/store.js';
import { mulberry32 as seeded } from './support/seeded-random.js';

/** A value's canonical form: bytes as hex, anything else as JSON. */
function shown(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return `${value.constructor === Uint8Array ? 'u8' : 'buf'}:${Buffer.from(value).toString('hex')}`;
  return `json:${JSON.stringify(value)}`;
}

/** UTF-8 byte order of two strings (the store's key order). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

type History = Array<{ version: number; value: string | undefined }>;

function valueAsOf(history: History | undefined, version: number): string | undefined {
  let value: string | undefined;
  for (const entry of history ?? []) if (entry.version <= version) value = entry.value;
  return value;
}

function modelScan(model: Map<string, History>, version: number, gte: string | undefined, lt: string | undefined, reverse: boolean, limit: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, history] of model) {
    if (gte !== undefined && byteOrder(key, gte) < 0) continue;
    if (lt !== undefined && byteOrder(key, lt) >= 0) continue;
    const value = valueAsOf(history, version);
    if (value !== undefined) out.push([key, value]);
  }
  out.sort((a, b) => byteOrder(a[0], b[0]));
  if (reverse) out.reverse();
  return out.slice(0, limit);
}

interface OpenScan {
  iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>;
  want: Array<[string, string]>;
  got: Array<[string, string]>;
  label: string;
}

async function stepScan(scan: OpenScan, count: number): Promise<boolean> {
  for (let index = 0; index < count; index++) {
    const result = await scan.iterator.next();
    if (result.done === true) return true;
    const [key, value] = result.value;
    scan.got.push([key as string, shown(value)!]);
    if (value instanceof Uint8Array) value.fill(0xee);
    else if (typeof value === 'object' && value !== null) (value as Record<string, unknown>).mutated = true;
  }
  return false;
}

async function runRound(seed: number, maxVersionsPerKey: number): Promise<number> {
  const random = seeded(seed);
  const store: Store = await openStore('/db', {
    fileSystem: new FaultFileSystem(seed),
    maxVersionsPerKey,
    memoryBudgetBytes: 256 * 1024,
    segmentSizeBytes: 16 * 1024,
    walCheckpointBytes: 64 * 1024,
  });
  const model = new Map<string, History>();
  const written: string[] = [];
  const open: OpenScan[] = [];
  const snapshots: Array<{ snapshot: StoreSnapshot; version: number }> = [];
  let counter = 0;
  let compared = 0;
  const suffixes = ['', 'é', '日本', '🙂', '\u0001', 'ÿ'];
  const nextKey = (): string => {
    counter += 1 + (random() < 0.2 ? Math.floor(random() * 3) : 0);
    return `k${String(counter).padStart(6, '0')}${suffixes[Math.floor(random() * suffixes.length)]}`;
  };
  const randomValue = (): unknown => {
    const kind = random();
    if (kind < 0.4) {
      const bytes = Buffer.alloc(Math.floor(random() * 150));
      for (let at = 0; at < bytes.length; at++) bytes[at] = Math.floor(random() * 256);
      return bytes;
    }
    if (kind < 0.5) {
      // Plain Uint8Arrays (msgpackr's typed-array extension), empty, short and past the 64-byte copy loop.
      const bytes = new Uint8Array([0, 3, 64, 65, 200][Math.floor(random() * 5)]!);
      for (let at = 0; at < bytes.length; at++) bytes[at] = Math.floor(random() * 256);
      return bytes;
    }
    if (kind < 0.7) return { n: Math.floor(random() * 1000), s: 'x'.repeat(Math.floor(random() * 40)) };
    if (kind < 0.85) return 'v'.repeat(Math.floor(random() * 90));
    return Math.floor(random() * 1e6);
  };
  const record = (version: number, key: string, value: unknown): void => {
    const history = model.get(key) ?? [];
    if (history.length === 0) written.push(key);
    history.push({ version, value: shown(value) });
    model.set(key, history);
  };
  const oldKey = (): string => written[Math.floor(random() * written.length)] ?? 'k';
  const allowedRefusal = (error: unknown, old: boolean): boolean => old && maxVersionsPerKey < 1000 && (error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED';

  for (let step = 0; step < 900; step++) {
    const roll = random();
    if (roll < 0.4) {
      // Mostly one new ascending key a commit; sometimes a few in one batch.
      if (random() < 0.8) {
        const key = nextKey();
        const value = randomValue();
        const { version } = await store.put(key, value);
        record(version, key, value);
      } else {
        const operations = Array.from({ length: 2 + Math.floor(random() * 4) }, () => ({ type: 'put' as const, key: nextKey(), value: randomValue() }));
        const { version } = await store.batch(operations);
        for (const operation of operations) record(version, operation.key, operation.value);
      }
    } else if (roll < 0.47 && written.length > 0) {
      const key = oldKey();
      if (random() < 0.5) {
        const value = randomValue();
        const { version } = await store.put(key, value);
        record(version, key, value);
      } else {
        const { version } = await store.delete(key);
        record(version, key, undefined);
      }
    } else if (roll < 0.62) {
      const key = random() < 0.8 ? oldKey() : `k${String(counter + 5).padStart(6, '0')}`;
      const old = random() < 0.3;
      const asOf = old ? Math.floor(random() * (store.version + 1)) : store.version;
      try {
        const got = await store.get(key, old ? { asOf } : undefined);
        expect(shown(got), `get ${seed}/${step} ${key} @${asOf}`).toBe(valueAsOf(model.get(key), asOf));
        if (got instanceof Uint8Array) got.fill(0xee);
      } catch (error) {
        if (!allowedRefusal(error, old)) throw error;
      }
    } else if (roll < 0.7) {
      const gte = random() < 0.6 ? oldKey() : undefined;
      const lt = random() < 0.4 ? `k${String(counter + (random() < 0.5 ? 3 : -20)).padStart(6, '0')}` : undefined;
      const reverse = random() < 0.4;
      const limit = [1, 3, 50, Infinity][Math.floor(random() * 4)]!;
      const old = random() < 0.25;
      const asOf = old ? Math.floor(random() * (store.version + 1)) : store.version;
      const label = JSON.stringify({ seed, step, gte, lt, reverse, limit, asOf });
      const options: Record<string, unknown> = { reverse };
      if (gte !== undefined) options.gte = gte;
      if (lt !== undefined) options.lt = lt;
      if (limit !== Infinity) options.limit = limit;
      if (old) options.asOf = asOf;
      const scan: OpenScan = { iterator: store.scan(options), want: modelScan(model, asOf, gte, lt, reverse, limit), got: [], label: `${label}${old ? 'old' : ''}` };
      try {
        if (!(await stepScan(scan, Math.floor(random() * 3)))) open.push(scan);
        else {
          expect(scan.got, label).toEqual(scan.want);
          compared += scan.got.length;
        }
      } catch (error) {
        if (!allowedRefusal(error, old)) throw error;
      }
    } else if (roll < 0.8 && open.length > 0) {
      const index = Math.floor(random() * open.length);
      const scan = open[index]!;
      try {
        if (await stepScan(scan, 1 + Math.floor(random() * 20))) {
          open.splice(index, 1);
          expect(scan.got, scan.label).toEqual(scan.want);
          compared += scan.got.length;
        }
      } catch (error) {
        if (!allowedRefusal(error, scan.label.endsWith('old'))) throw error;
        open.splice(index, 1);
      }
    } else if (roll < 0.85) {
      // A transaction's reads: its own writes over what it read, as of its read version.
      const keys = [oldKey(), oldKey(), nextKey()];
      const result = await store.transaction(async (tx) => {
        const before = await Promise.all(keys.map(async (key) => shown(await tx.get(key))));
        const fresh = randomValue();
        tx.put(keys[0]!, fresh);
        const own = shown(await tx.get(keys[0]!));
        const scanned: Array<[string, string]> = [];
        for await (const [key, value] of tx.scan({ gte: keys[0], limit: 5 })) scanned.push([key as string, shown(value)!]);
        return { before, fresh, own, scanned, readVersion: tx.readVersion };
      });
      const readVersion = result.readVersion;
      expect(result.before, `tx ${seed}/${step}`).toEqual(keys.map((key) => valueAsOf(model.get(key), readVersion)));
      expect(result.own).toBe(shown(result.fresh));
      const view = new Map(model);
      view.set(keys[0]!, [...(model.get(keys[0]!) ?? []), { version: readVersion + 0.5, value: shown(result.fresh) }]);
      expect(result.scanned, `tx scan ${seed}/${step}`).toEqual(modelScan(view, readVersion + 0.5, keys[0], undefined, false, 5));
      record(store.version, keys[0]!, result.fresh);
    } else if (roll < 0.9) {
      if (snapshots.length < 2) {
        const snapshot = await store.snapshot();
        snapshots.push({ snapshot, version: snapshot.version });
      } else {
        const { snapshot, version } = snapshots.shift()!;
        const got: Array<[string, string]> = [];
        for await (const [key, value] of snapshot.scan({ reverse: random() < 0.5 })) got.push([key as string, shown(value)!]);
        got.sort((a, b) => byteOrder(a[0], b[0]));
        expect(got, `snapshot ${seed}/${step} v${version}`).toEqual(modelScan(model, version, undefined, undefined, false, Infinity));
        const key = oldKey();
        expect(shown(await snapshot.get(key))).toBe(valueAsOf(model.get(key), version));
        const history = await snapshot.history(key, { limit: 3 });
        const want = (model.get(key) ?? []).filter((entry) => entry.version <= version).reverse().slice(0, Math.min(3, maxVersionsPerKey));
        expect(history.map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : shown(entry.value) })), `snapshot history ${key}`).toEqual(want);
        compared += got.length;
        await snapshot.release();
      }
    } else if (roll < 0.95) {
      await store.checkpoint();
    }
  }
  for (const scan of open) {
    try {
      await stepScan(scan, Infinity);
      expect(scan.got, scan.label).toEqual(scan.want);
      compared += scan.got.length;
    } catch (error) {
      if (!allowedRefusal(error, scan.label.endsWith('old'))) throw error;
    }
  }
  for (const { snapshot } of snapshots) await snapshot.release();
  expect(store.stats().oldestPinnedVersion).toBeUndefined();
  await store.close();
  return compared;
}

describe('reads of an ascending memtable against a model', () => {
  for (const seed of [21, 22, 23]) {
    it(`seed ${seed}, every version kept`, async () => {
      expect(await runRound(seed, 1000)).toBeGreaterThan(100);
    });
  }
  for (const seed of [31, 32]) {
    it(`seed ${seed}, one version a key`, async () => {
      expect(await runRound(seed, 1)).toBeGreaterThan(100);
    });
  }
});
