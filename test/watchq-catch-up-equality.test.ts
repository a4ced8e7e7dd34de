/**
 * A watch catch-up delivers exactly the changes the store committed: every change with a
 * version after sinceVersion inside the range, each once, in (version, key) order, the
 * value or the delete each commit made, then the commits made while it ran. Checked
 * against a model of the writes (what the catch-up made of history before its index
 * passes too) on a mixed store: several runs, one of them compacted, a memtable, deletes,
 * many versions per key, keys outside the range, a sinceVersion in the middle; while the
 * catch-up runs the test commits more, checkpoints (the memtable the catch-up's view holds
 * is flushed and sealed) and compacts (the runs it reads are replaced). Batch sizes from
 * 1 to the default, and an index budget lowered so the catch-up makes many index passes
 * (src/watch/catch-up.ts). And keys whose 3,000 versions fill many blocks of a compacted
 * run: a batch reads its span of a key's versions in one read that skips the blocks above
 * it (src/watch/catch-up-read.ts); a read that skipped past the span's newest version fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WATCH_CATCH_UP_INDEX_BYTES_MAX } from '../src/limits.js';
import { CATCH_UP_INDEX_ENTRY_BYTES, catchUpIndexLimit, catchUpReads } from '../src/watch/catch-up.js';

const stores: Store[] = [];
afterEach(async () => {
  catchUpIndexLimit.bytes = WATCH_CATCH_UP_INDEX_BYTES_MAX;
  for (const store of stores.splice(0)) await store.close();
});

interface Written { version: number; key: string; deleted: boolean; value?: unknown }

/** A store and the model of every change written to it. */
class ModelStore {
  readonly changes: Written[] = [];
  readonly #live = new Set<string>();
  #seed: number;

  constructor(readonly store: Store, seed: number) {
    this.#seed = seed;
  }

  random(below: number): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((this.#seed / 2147483648) * below);
  }

  /** One commit of up to `size` distinct keys (k/ inside the range, j/ and l/ outside), about a fifth deletes of live keys. */
  async commit(size: number): Promise<void> {
    const keys = new Set<string>();
    while (keys.size < size) keys.add(`${['k/', 'k/', 'k/', 'j/', 'l/'][this.random(5)]}${String(this.random(40)).padStart(2, '0')}`);
    const operations = [...keys].map((key) => (this.#live.has(key) && this.random(5) === 0
      ? { type: 'del' as const, key }
      : { type: 'put' as const, key, value: this.random(3) === 0 ? { n: this.random(1000), s: 'x'.repeat(this.random(50)) } : `v${this.random(100_000)}` }));
    const { version } = operations.length === 1 && operations[0]!.type === 'put'
      ? await this.store.put(operations[0]!.key, operations[0]!.value)
      : await this.store.batch(operations);
    for (const operation of operations) {
      if (operation.type === 'del') {
        this.#live.delete(operation.key);
        this.changes.push({ version, key: operation.key, deleted: true });
      } else {
        this.#live.add(operation.key);
        this.changes.push({ version, key: operation.key, deleted: false, value: operation.value });
      }
    }
  }

  /** The changes a feed of k/ after `sinceVersion` (up to `untilVersion`) delivers, in (version, key) order. */
  expected(sinceVersion: number, untilVersion = Infinity): Written[] {
    return this.changes
      .filter(({ version, key }) => version > sinceVersion && version <= untilVersion && key >= 'k/' && key < 'k0')
      .sort((left, right) => left.version - right.version || (left.key < right.key ? -1 : 1));
  }
}

/** History: runs (the first two compacted into one), then more runs, then a memtable; many versions per key. */
async function mixedStore(seed: number): Promise<ModelStore> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(seed), walCheckpointBytes: 256 * 1024 * 1024 });
  stores.push(store);
  const model = new ModelStore(store, seed);
  for (let round = 0; round < 5; round++) {
    for (let commit = 0; commit < 40; commit++) await model.commit(1 + model.random(8));
    await store.checkpoint();
    if (round === 1) await store.compact();
  }
  for (let commit = 0; commit < 40; commit++) await model.commit(1 + model.random(8));
  return model;
}

const asWritten = (change: { version: number; key: string | Uint8Array; deleted: boolean; value?: unknown }): Written =>
  (change.deleted ? { version: change.version, key: change.key as string, deleted: true } : { version: change.version, key: change.key as string, deleted: false, value: change.value });

describe('a watch catch-up against a model of the writes', () => {
  it.each([
    ['batches of 1, many index passes', 1, 12],
    ['batches of 3, many index passes', 3, 40],
    ['batches of 64', 64, undefined],
    ['batches of 64, index passes of 100 changes', 64, 100],
    ['the default batch', undefined, undefined],
  ])('%s: every change once, in order, while the store commits, checkpoints and compacts', async (_, catchUpBatchChanges, indexChanges) => {
    const model = await mixedStore(7 + (catchUpBatchChanges ?? 0) + (indexChanges ?? 0));
    const { store } = model;
    if (indexChanges !== undefined) catchUpIndexLimit.bytes = indexChanges * (CATCH_UP_INDEX_ENTRY_BYTES + 4);
    const sinceVersion = Math.floor(store.version / 3);
    const startVersion = store.version;
    const passesBefore = catchUpReads.indexPasses;
    const delivered: Written[] = [];
    const feed = store.watch({ gte: 'k/', lt: 'k0', sinceVersion, ...(catchUpBatchChanges === undefined ? {} : { catchUpBatchChanges }) });
    const caughtUp = model.expected(sinceVersion).length;
    for await (const change of feed) {
      delivered.push(asWritten(change));
      // While the catch-up runs: commits, a checkpoint, a compaction, more commits.
      if (delivered.length === 5) for (let commit = 0; commit < 10; commit++) await model.commit(1 + model.random(8));
      if (delivered.length === Math.floor(caughtUp / 3)) await store.checkpoint();
      if (delivered.length === Math.floor(caughtUp / 2)) await store.compact();
      if (delivered.length === Math.floor((2 * caughtUp) / 3)) for (let commit = 0; commit < 10; commit++) await model.commit(1 + model.random(8));
      if (delivered.length === model.expected(sinceVersion).length) break;
    }
    expect(store.version).toBeGreaterThan(startVersion + 10);
    expect(delivered.length).toBeGreaterThan(300);
    expect(delivered).toEqual(model.expected(sinceVersion));
    if (indexChanges !== undefined) expect(catchUpReads.indexPasses - passesBefore).toBeGreaterThan(3);
  }, 30_000);

  it('keys whose versions fill many blocks of a run: each batch reads its span of them, values and deletes exact', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(3), walCheckpointBytes: 256 * 1024 * 1024 });
    stores.push(store);
    const written: Written[] = [];
    for (let round = 0; round < 3_000; round++) {
      const operations = ['k/a', 'k/b', 'z'].map((key, index) => (round % 7 === index
        ? { type: 'del' as const, key }
        : { type: 'put' as const, key, value: `${key}:${round}:${'v'.repeat(100)}` }));
      const { version } = await store.batch(operations);
      for (const operation of operations) {
        if (operation.key !== 'z') written.push(operation.type === 'del' ? { version, key: operation.key, deleted: true } : { version, key: operation.key, deleted: false, value: operation.value });
      }
      if (round % 1_000 === 999) await store.checkpoint();
    }
    await store.compact();
    const sinceVersion = 1_234;
    const delivered: Written[] = [];
    for await (const change of store.watch({ gte: 'k/', lt: 'k0', sinceVersion, untilVersion: store.version, catchUpBatchChanges: 100 })) delivered.push(asWritten(change));
    expect(delivered).toEqual(written.filter(({ version }) => version > sinceVersion));
  }, 30_000);

  it('a catch-up with nothing in its range delivers nothing and ends at its untilVersion', async () => {
    const model = await mixedStore(5);
    const { store } = model;
    const delivered: Written[] = [];
    for await (const change of store.watch({ gte: 'm/', lt: 'n', sinceVersion: 0, untilVersion: store.version })) delivered.push(asWritten(change));
    expect(delivered).toEqual([]);
    expect(model.changes.length).toBeGreaterThan(300);
  }, 30_000);

  it('a catch-up that ends at an untilVersion in the middle of its history', async () => {
    const model = await mixedStore(99);
    const { store } = model;
    catchUpIndexLimit.bytes = 30 * (CATCH_UP_INDEX_ENTRY_BYTES + 4);
    const sinceVersion = Math.floor(store.version / 4);
    const untilVersion = Math.floor(store.version / 2);
    const delivered: Written[] = [];
    for await (const change of store.watch({ gte: 'k/', lt: 'k0', sinceVersion, untilVersion, catchUpBatchChanges: 7 })) {
      delivered.push(asWritten(change));
      if (delivered.length === 10) await store.compact();
    }
    expect(delivered.length).toBeGreaterThan(100);
    expect(delivered).toEqual(model.expected(sinceVersion, untilVersion));
  }, 30_000);
});
