/**
 * What a scan costs per entry, counted rather than timed (src/engine/merged-scan.ts):
 * - a scan of runs whose blocks are cached makes no promise per key and run (each key
 *   of each run went through an async step and an await: the largest cost of a scan
 *   of cached runs);
 * - a value read from a run is copied once, by the read that returns it, not first
 *   when its version is resolved;
 * - a 100-entry scan of a memtable takes about 100 chains from it, not 256;
 * and that the read path that lets a run entry's value be decoded once, straight from
 * its block, still returns every kind of value as stored, each read a fresh copy,
 * forward and reverse, as of older versions, with versions spread over blocks read
 * from the file during the scan.
 */
import { createHook } from 'node:async_hooks';
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { NoReadSyncFileSystem } from './support/file-system-wrappers.js';

const KEY_COUNT = 1_200;
const VALUE = Buffer.alloc(100, 7);

function keyOf(index: number): string {
  return `k-${String(index).padStart(5, '0')}`;
}

/** Promises created while `body` runs (async_hooks PROMISE inits). */
async function promisesCreatedBy(body: () => Promise<void>): Promise<number> {
  let created = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') created++;
    },
  });
  hook.enable();
  try {
    await body();
  } finally {
    hook.disable();
  }
  return created;
}

async function countScanned(store: Store, options: { gte?: string; limit?: number; reverse?: boolean }): Promise<number> {
  let count = 0;
  for await (const [, value] of store.scan(options)) {
    expect(value).toEqual(VALUE);
    count++;
  }
  return count;
}

const SCANNED = 500;

/** A store whose KEY_COUNT keys lie in two runs (even keys in one, odd in the other), every block read once. */
async function twoRunStore(seed: number): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed) });
  for (const parity of [0, 1]) {
    const operations = [];
    for (let index = parity; index < KEY_COUNT; index += 2) operations.push({ type: 'put' as const, key: keyOf(index), value: VALUE });
    await store.batch(operations);
    await store.checkpoint();
  }
  expect(store.stats().storage.runs).toBe(2);
  expect(await countScanned(store, {})).toBe(KEY_COUNT);
  expect(await countScanned(store, { reverse: true })).toBe(KEY_COUNT);
  return store;
}

let open: Store | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await open?.close();
  open = undefined;
});

describe('scan steps per entry', () => {
  it('a scan of two runs with cached blocks makes no promise per key and run', async () => {
    const store = (open = await twoRunStore(11));
    for (const reverse of [false, true]) {
      const created = await promisesCreatedBy(async () => {
        expect(await countScanned(store, { gte: reverse ? undefined : keyOf(300), limit: SCANNED, reverse })).toBe(SCANNED);
      });
      // About two per entry (next() and the for-await step) and a few per chunk: 1,048
      // measured. Each key of each run added two more (its async step and the await of
      // it): 3,048 before.
      expect(created).toBeLessThan(SCANNED * 3);
    }
  });

  it('a value read from a run is copied once, by the read that returns it', async () => {
    const store = (open = await twoRunStore(15));
    // Resolving a run entry copied its bytes first (Uint8Array#slice: an ArrayBuffer of
    // its own per entry), then the read copied that copy.
    let slices = 0;
    const slice = Uint8Array.prototype.slice;
    vi.spyOn(Uint8Array.prototype, 'slice').mockImplementation(function (this: Uint8Array, ...args) {
      slices++;
      return slice.apply(this, args);
    });
    expect(await countScanned(store, { gte: keyOf(300), limit: SCANNED })).toBe(SCANNED);
    vi.restoreAllMocks();
    expect(slices).toBe(0);
  });

  it('a 100-entry scan of a memtable takes 100 chains from it, not a full step of 256', async () => {
    const store = (open = await openStore('/db', { fileSystem: new FaultFileSystem(12) }));
    const operations = [];
    for (let index = 0; index < KEY_COUNT; index++) operations.push({ type: 'put' as const, key: keyOf(index), value: VALUE });
    await store.batch(operations);
    expect(await countScanned(store, { limit: 10 })).toBe(10); // the memtable's key order is built here, not counted
    let chainsTaken = 0;
    const chainsChunk = MemoryIndex.prototype.chainsChunk;
    vi.spyOn(MemoryIndex.prototype, 'chainsChunk').mockImplementation(function (this: MemoryIndex, ...args) {
      const chains = chainsChunk.apply(this, args);
      chainsTaken += chains.length;
      return chains;
    });
    expect(await countScanned(store, { gte: keyOf(500), limit: 100 })).toBe(100);
    expect(chainsTaken).toBe(100);
    // A scan past the chunk size still reads everything, in steps.
    chainsTaken = 0;
    expect(await countScanned(store, {})).toBe(KEY_COUNT);
    expect(chainsTaken).toBe(KEY_COUNT);
  });
});

describe('values a scan reads from runs', () => {
  const values: Record<string, unknown> = {
    buffer: Buffer.from([1, 2, 3, 250]),
    longBuffer: Buffer.alloc(300, 9),
    bytes: new Uint8Array([4, 5, 6]),
    longBytes: new Uint8Array(200).fill(3),
    object: { name: 'ladybug', spots: [1, 2, 3], raw: Buffer.from([8, 9]) },
    array: [1, 'two', { three: 3 }],
    string: 'a string value',
    number: 12.5,
    bigint: 123n,
    null: null,
    boolean: true,
  };

  async function scanAll(store: Store, options: { reverse?: boolean; asOf?: number } = {}): Promise<Map<string, unknown>> {
    const read = new Map<string, unknown>();
    for await (const [key, value] of store.scan(options)) read.set(String(key), value);
    return read;
  }

  it('reads each kind as stored, a fresh copy each time, forward and reverse, and as of an older version', async () => {
    const fileSystem = new FaultFileSystem(13);
    let store = (open = await openStore('/db', { fileSystem }));
    await store.batch(Object.entries(values).map(([key, value]) => ({ type: 'put' as const, key, value })));
    const first = store.version;
    // Newer versions of some keys in a second run, and a delete of one.
    await store.batch([
      { type: 'put', key: 'string', value: 'newer' },
      { type: 'put', key: 'buffer', value: Buffer.from([7]) },
      { type: 'del', key: 'number' },
    ]);
    await store.checkpoint();
    await store.close();
    store = open = await openStore('/db', { fileSystem: fileSystem.crash('keep-all') });
    expect(store.stats().storage.runs).toBeGreaterThanOrEqual(1);

    const newest = { ...values, string: 'newer', buffer: Buffer.from([7]) } as Record<string, unknown>;
    delete newest['number'];
    for (const reverse of [false, true]) {
      const read = await scanAll(store, { reverse });
      expect([...read.keys()]).toEqual(reverse ? Object.keys(newest).sort().reverse() : Object.keys(newest).sort());
      for (const [key, value] of Object.entries(newest)) expect(read.get(key), key).toEqual(value);
      expect(Buffer.isBuffer(read.get('longBuffer'))).toBe(true);
      expect(Buffer.isBuffer(read.get('bytes'))).toBe(false);
      expect(read.get('bytes')).toBeInstanceOf(Uint8Array);
    }
    const old = await scanAll(store, { asOf: first });
    for (const [key, value] of Object.entries(values)) expect(old.get(key), key).toEqual(value);

    // Writing into what a scan returned changes nothing stored.
    const read = await scanAll(store);
    (read.get('longBuffer') as Buffer).fill(0);
    (read.get('bytes') as Uint8Array).fill(0);
    ((read.get('object') as { raw: Buffer }).raw).fill(0);
    (read.get('object') as { spots: number[] }).spots.push(4);
    const again = await scanAll(store);
    for (const [key, value] of Object.entries(newest)) expect(again.get(key), key).toEqual(value);
    expect(again.get('longBuffer')).not.toBe(read.get('longBuffer'));
  });

  it('reads a key whose versions span blocks read from the file during the scan, as of each version', async () => {
    let fileSystem = new FaultFileSystem(14);
    let store = (open = await openStore('/db', { fileSystem }));
    await store.batch(Array.from({ length: 40 }, (_, index) => ({ type: 'put' as const, key: keyOf(index), value: index })));
    // Key 20 gets 150 versions of 200 bytes: its entries fill several blocks.
    const versions: number[] = [];
    for (let round = 0; round < 150; round++) {
      versions.push((await store.put(keyOf(20), Buffer.alloc(200, round))).version);
    }
    await store.checkpoint();
    await store.close();
    for (const [round, readSync] of [[0, true], [1, false], [75, true], [149, false]] as const) {
      // A fresh open each time: the scan reads the blocks it needs from the file, every
      // read a promise without readSync (a key's versions continue in a block awaited
      // mid-key).
      fileSystem = fileSystem.crash('keep-all');
      store = open = await openStore('/db', { fileSystem: readSync ? fileSystem : new NoReadSyncFileSystem(fileSystem) });
      for (const reverse of [false, true]) {
        const read = await scanAll(store, { asOf: versions[round], reverse });
        expect(read.size).toBe(40);
        expect(read.get(keyOf(20))).toEqual(Buffer.alloc(200, round));
        expect(read.get(keyOf(19))).toBe(19);
        expect(read.get(keyOf(21))).toBe(21);
      }
      await store.close();
      open = undefined;
    }
  });
});
