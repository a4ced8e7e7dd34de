/**
 * Reads against a model while writes, seals, flushes and merges run between a read's
 * creation and its steps: scans left open across puts, deletes, checkpoints and
 * compactions read as of their start version exactly; gets as of old versions, history
 * with limits, snapshots; every bound combination, both directions, limits 0, 1 and
 * large; binary keys that are prefixes of each other, 0x00/0xff bytes, 1,024-byte keys,
 * many versions next to one. Every key and value returned is a copy: mutating one
 * changes no later answer.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store, StoreSnapshot } from '../src/store/store.js';
import { mulberry32 as seeded } from './support/seeded-random.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

type History = Array<{ version: number; value: string | undefined }>;
type Model = Map<string, History>;

function valueAsOf(history: History | undefined, version: number): string | undefined {
  let value: string | undefined;
  for (const entry of history ?? []) if (entry.version <= version) value = entry.value;
  return value;
}

interface Bounds {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

function modelScan(model: Model, version: number, bounds: Bounds, reverse: boolean, limit: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, history] of model) {
    if (bounds.gt !== undefined && !(key > bounds.gt)) continue;
    if (bounds.gte !== undefined && !(key >= bounds.gte)) continue;
    if (bounds.lt !== undefined && !(key < bounds.lt)) continue;
    if (bounds.lte !== undefined && !(key <= bounds.lte)) continue;
    const value = valueAsOf(history, version);
    if (value !== undefined) out.push([key, value]);
  }
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (reverse) out.reverse();
  return out.slice(0, limit);
}

function makeKeys(random: () => number): Buffer[] {
  const keys: Buffer[] = [];
  const base = [0x61, 0x62, 0x00, 0xff, 0x7f, 0x80];
  // Prefix families: a, a\0, a\0\0, aa, aab, a\xff ...
  for (const first of base) {
    keys.push(Buffer.from([first]));
    keys.push(Buffer.from([first, 0x00]));
    keys.push(Buffer.from([first, 0x00, 0x00]));
    keys.push(Buffer.from([first, 0xff]));
    keys.push(Buffer.from([first, first]));
    keys.push(Buffer.from([first, first, 0x62]));
  }
  keys.push(Buffer.alloc(1024, 0xff));
  keys.push(Buffer.alloc(1024, 0x61));
  const long = Buffer.alloc(1024, 0x61);
  long[1023] = 0x00;
  keys.push(long);
  keys.push(Buffer.alloc(1023, 0xff));
  keys.push(Buffer.from('é日本🙂', 'utf8'));
  for (let index = 0; index < 60; index++) {
    const key = Buffer.alloc(1 + Math.floor(random() * 20));
    for (let at = 0; at < key.length; at++) key[at] = random() < 0.3 ? (random() < 0.5 ? 0 : 255) : Math.floor(random() * 256);
    keys.push(key);
  }
  return keys;
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
    const [key, value] = result.value as [Uint8Array, Uint8Array];
    scan.got.push([hex(key), hex(value)]);
    // The caller's copies: mutating them must change nothing stored or read later.
    key.fill(0xee);
    value.fill(0xee);
  }
  return false;
}

function randomBounds(random: () => number, keys: Buffer[]): Bounds {
  const pick = (): string => hex(keys[Math.floor(random() * keys.length)]!);
  const bounds: Bounds = {};
  const lower = random();
  if (lower < 0.33) bounds.gt = pick();
  else if (lower < 0.66) bounds.gte = pick();
  const upper = random();
  if (upper < 0.33) bounds.lt = pick();
  else if (upper < 0.66) bounds.lte = pick();
  return bounds;
}

function toOptions(bounds: Bounds): Record<string, Buffer> {
  const options: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(bounds)) options[name] = Buffer.from(value as string, 'hex');
  return options;
}

async function runRound(seed: number, maxVersionsPerKey: number): Promise<number> {
  const random = seeded(seed);
  const store: Store = await openStore('/db', {
    fileSystem: new FaultFileSystem(seed),
    keyEncoding: 'binary',
    maxVersionsPerKey,
    memoryBudgetBytes: 256 * 1024,
    segmentSizeBytes: 16 * 1024,
    walCheckpointBytes: 64 * 1024,
  });
  const keys = makeKeys(random);
  const hot = keys.slice(0, 4);
  const model: Model = new Map();
  const versions: number[] = [0];
  const open: OpenScan[] = [];
  const snapshots: Array<{ snapshot: StoreSnapshot; version: number }> = [];
  let compared = 0;

  const record = (version: number, key: Buffer, value: Buffer | undefined): void => {
    const history = model.get(hex(key)) ?? [];
    history.push({ version, value: value === undefined ? undefined : hex(value) });
    model.set(hex(key), history);
  };
  const randomValue = (): Buffer => {
    const size = random() < 0.1 ? 2000 + Math.floor(random() * 3000) : random() < 0.5 ? Math.floor(random() * 65) : 65 + Math.floor(random() * 200);
    const value = Buffer.alloc(size);
    for (let at = 0; at < size; at++) value[at] = Math.floor(random() * 256);
    return value;
  };

  for (let step = 0; step < 700; step++) {
    const roll = random();
    const key = random() < 0.3 ? hot[Math.floor(random() * hot.length)]! : keys[Math.floor(random() * keys.length)]!;
    if (roll < 0.35) {
      const value = randomValue();
      const written = Buffer.from(value);
      const { version } = await store.put(key, value);
      value.fill(0xdd); // the caller's buffer changes after the put: the store keeps its own copy
      record(version, key, written);
      versions.push(version);
    } else if (roll < 0.45) {
      const { version } = await store.delete(key);
      record(version, key, undefined);
      versions.push(version);
    } else if (roll < 0.52) {
      const operations: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }> = [];
      const count = 1 + Math.floor(random() * 6);
      for (let index = 0; index < count; index++) {
        const batchKey = keys[Math.floor(random() * keys.length)]!;
        operations.push(random() < 0.25 ? { type: 'del', key: batchKey } : { type: 'put', key: batchKey, value: randomValue() });
      }
      const last = new Map<string, Buffer | undefined>();
      for (const operation of operations) last.set(hex(operation.key), operation.value === undefined ? undefined : Buffer.from(operation.value));
      const { version } = await store.batch(operations as never);
      for (const [keyHex, value] of last) record(version, Buffer.from(keyHex, 'hex'), value);
      versions.push(version);
    } else if (roll < 0.6) {
      // Open a scan (as of now or an older version) and take a few entries now.
      const bounds = randomBounds(random, keys);
      const reverse = random() < 0.5;
      const limit = [0, 1, 2, 5, 40, 100000, Infinity][Math.floor(random() * 7)]!;
      const old = random() < 0.3;
      const asOf = old ? versions[Math.floor(random() * versions.length)]! : store.version;
      const options: Record<string, unknown> = { ...toOptions(bounds), reverse };
      if (limit !== Infinity) options.limit = limit;
      if (old) options.asOf = asOf;
      const label = JSON.stringify({ seed, step, bounds, reverse, limit, asOf, old });
      let iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>;
      try {
        iterator = store.scan(options as never);
      } catch (error) {
        throw new Error(`${label}: ${String(error)}`);
      }
      const scan: OpenScan = { iterator, want: modelScan(model, asOf, bounds, reverse, limit), got: [], label };
      try {
        if (!(await stepScan(scan, Math.floor(random() * 3)))) open.push(scan);
        else {
          expect(scan.got, scan.label).toEqual(scan.want);
          compared += scan.want.length;
        }
      } catch (error) {
        if (!(old && maxVersionsPerKey < 1000 && (error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED')) throw error;
      }
    } else if (roll < 0.7 && open.length > 0) {
      const index = Math.floor(random() * open.length);
      const scan = open[index]!;
      const old = (JSON.parse(scan.label) as { old: boolean }).old;
      try {
        if (await stepScan(scan, 1 + Math.floor(random() * 30))) {
          open.splice(index, 1);
          expect(scan.got, scan.label).toEqual(scan.want);
          compared += scan.want.length;
        } else if (random() < 0.1) {
          // Ended early: what it read so far is a prefix of the answer.
          open.splice(index, 1);
          await scan.iterator.return!();
          await scan.iterator.return!();
          expect(scan.got, scan.label).toEqual(scan.want.slice(0, scan.got.length));
          expect((await scan.iterator.next()).done).toBe(true);
        }
      } catch (error) {
        if (!(old && maxVersionsPerKey < 1000 && (error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED')) throw error;
        open.splice(index, 1);
      }
    } else if (roll < 0.78) {
      const old = random() < 0.5;
      const asOf = old ? versions[Math.floor(random() * versions.length)]! : store.version;
      const label = `get seed ${seed} step ${step} ${hex(key)} asOf ${asOf}`;
      try {
        const got = (await store.get(key, old ? { asOf } : undefined)) as Uint8Array | undefined;
        expect(got === undefined ? undefined : hex(got), label).toBe(valueAsOf(model.get(hex(key)), asOf));
        if (got !== undefined) got.fill(0xee);
      } catch (error) {
        if (!(old && maxVersionsPerKey < 1000 && (error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED')) throw error;
      }
    } else if (roll < 0.82) {
      const limit = 1 + Math.floor(random() * 5);
      const got = await store.history(key, { limit });
      const history = (model.get(hex(key)) ?? []).slice().reverse();
      // With per-key retention, held snapshots and scans keep more than maxVersionsPerKey (resolve.ts).
      const want = history.slice(0, maxVersionsPerKey >= 1000 ? limit : Math.min(limit, got.length));
      const label = `history seed ${seed} step ${step} ${hex(key)} limit ${limit}`;
      const shown = got.map((entry) => ({ version: entry.version, value: entry.deleted ? undefined : hex(entry.value as Uint8Array) }));
      if (maxVersionsPerKey >= 1000) expect(shown, label).toEqual(want);
      else {
        expect(shown, label).toEqual(want);
        expect(shown.length, label).toBeGreaterThanOrEqual(Math.min(limit, maxVersionsPerKey, history.length));
      }
    } else if (roll < 0.86) {
      if (snapshots.length < 3) {
        const snapshot = await store.snapshot();
        snapshots.push({ snapshot, version: snapshot.version });
      } else {
        const { snapshot, version } = snapshots.splice(Math.floor(random() * snapshots.length), 1)[0]!;
        const bounds = randomBounds(random, keys);
        const label = `snapshot seed ${seed} step ${step} v${version} ${JSON.stringify(bounds)}`;
        const got: Array<[string, string]> = [];
        for await (const [entryKey, value] of snapshot.scan(toOptions(bounds))) got.push([hex(entryKey as Uint8Array), hex(value as Uint8Array)]);
        expect(got, label).toEqual(modelScan(model, version, bounds, false, Infinity));
        const one = (await snapshot.get(key)) as Uint8Array | undefined;
        expect(one === undefined ? undefined : hex(one), label).toBe(valueAsOf(model.get(hex(key)), version));
        compared += got.length;
        await snapshot.release();
      }
    } else if (roll < 0.93) {
      await store.checkpoint();
    } else if (roll < 0.96) {
      await store.compact();
    }
  }
  for (const scan of open) {
    const old = (JSON.parse(scan.label) as { old: boolean }).old;
    try {
      await stepScan(scan, Infinity);
      expect(scan.got, scan.label).toEqual(scan.want);
      compared += scan.want.length;
    } catch (error) {
      if (!(old && maxVersionsPerKey < 1000 && (error as { code?: string }).code === 'LADYBUG_VERSION_NOT_RETAINED')) throw error;
    }
  }
  for (const { snapshot } of snapshots) await snapshot.release();
  expect(store.stats().oldestPinnedVersion).toBeUndefined();
  // The whole store as of now, a final time.
  const all: Array<[string, string]> = [];
  for await (const [entryKey, value] of store.scan()) all.push([hex(entryKey as Uint8Array), hex(value as Uint8Array)]);
  expect(all).toEqual(modelScan(model, store.version, {}, false, Infinity));
  await store.close();
  return compared;
}

describe('reads against a model while writes, flushes and merges run', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}, every version kept`, async () => {
      expect(await runRound(seed, 1000)).toBeGreaterThan(100);
    });
  }
  for (const seed of [11, 12, 13, 14, 15, 16]) {
    it(`seed ${seed}, one or two versions a key`, async () => {
      expect(await runRound(seed, seed % 2 === 0 ? 2 : 1)).toBeGreaterThan(100);
    });
  }
});
