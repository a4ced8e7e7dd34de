/**
 * Adversarial review of the point cache's carry-over across flushes (9ed136f,
 * src/engine/point-cache.ts carryOverFlush, called by the flusher's install step).
 *
 * A store on an in-memory file system whose run reads can be held (GatedFileSystem:
 * no readSync, and reads of chosen run files wait for a gate), so a get can be made
 * to start on the old run set and finish after a flush installed a new one. Every
 * read is compared with a Map model of each key's versions: gets in flight across
 * a flush, snapshots reading as of an old version across flushes, a flushed delete
 * of a cached key, retention trimming chains before the flush (NOT_RETAINED
 * markers), compactions right after flushes, and a seeded random mix of all of it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import type { Store } from '../src/store/store.js';

/** Reads of the run files in `held` wait until release(); run handles have no readSync (every run read is asynchronous). */
class GatedFileSystem implements FileSystem {
  held = new Set<string>();
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  heldReads = 0;
  constructor(readonly inner: FileSystem) {}

  hold(paths: Iterable<string>): void {
    this.held = new Set(paths);
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.held = new Set();
    this.#open?.();
    this.#gate = undefined;
  }

  async runFiles(directory: string): Promise<string[]> {
    return (await this.inner.readdir(`${directory}/runs`)).filter((name) => name.endsWith('.run')).map((name) => `${directory}/runs/${name}`);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    if (!path.endsWith('.run')) return handle;
    return {
      path: handle.path,
      read: async (buffer, offset, length, position) => {
        if (this.held.has(path) && this.#gate !== undefined) {
          this.heldReads++;
          await this.#gate;
        }
        return handle.read(buffer, offset, length, position);
      },
      write: (data, position) => handle.write(data, position),
      datasync: () => handle.datasync(),
      sync: () => handle.sync(),
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }
  readFile = (path: string) => this.inner.readFile(path);
  readdir = (dir: string) => this.inner.readdir(dir);
  mkdir = (dir: string) => this.inner.mkdir(dir);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  link = (existingPath: string, newPath: string) => this.inner.link(existingPath, newPath);
  unlink = (path: string) => this.inner.unlink(path);
  exists = (path: string) => this.inner.exists(path);
  syncDirectory = (dir: string) => this.inner.syncDirectory(dir);
}

const DIRECTORY = '/db';
const DELETED = Symbol('deleted');
type Versions = Array<{ version: number; value: unknown }>;

/** Each key's versions, oldest first, as the store acknowledged them. */
class Model {
  readonly keys = new Map<string, Versions>();
  record(key: string, version: number, value: unknown): void {
    const versions = this.keys.get(key) ?? [];
    versions.push({ version, value });
    this.keys.set(key, versions);
  }
  /** The value as of `version` (undefined: absent or deleted), and how many newer versions the key has. */
  asOf(key: string, version: number): { value: unknown; newer: number } {
    const versions = this.keys.get(key) ?? [];
    let position = versions.length - 1;
    while (position >= 0 && versions[position]!.version > version) position--;
    const value = position < 0 ? undefined : versions[position]!.value;
    return { value: value === DELETED ? undefined : value, newer: versions.length - 1 - position };
  }
}

async function gatedStore(options: { maxVersionsPerKey?: number; memoryBudgetBytes?: number } = {}) {
  const fileSystem = new GatedFileSystem(new FaultFileSystem(7));
  const store = await openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false, ...options });
  return { fileSystem, store, model: new Model() };
}

/** Closes and reopens the store: the block cache starts empty, so run reads go to the file. */
async function reopened(fileSystem: GatedFileSystem, store: Store, options: { maxVersionsPerKey?: number; memoryBudgetBytes?: number } = {}): Promise<Store> {
  await store.close();
  return openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 4 * 1024 * 1024, checkpointOnClose: false, ...options });
}

async function put(store: Store, model: Model, key: string, value: unknown): Promise<void> {
  const { version } = await store.put(key, value);
  model.record(key, version, value);
}

async function remove(store: Store, model: Model, key: string): Promise<void> {
  const { version } = await store.delete(key);
  model.record(key, version, DELETED);
}

/** True once `promise` settled, checked after a few turns of the event loop. */
async function settledSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true), () => (settled = true));
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** A get as of `version` must be the model's answer; with bounded retention an old enough one may be refused instead. */
async function expectRead(read: Promise<unknown>, model: Model, key: string, version: number, maxVersionsPerKey = Infinity): Promise<void> {
  const expected = model.asOf(key, version);
  const outcome = await read.then((value) => ({ value }), (error: unknown) => ({ error }));
  if ('error' in outcome) {
    expect(outcome.error).toBeInstanceOf(VersionNotRetainedError);
    expect(expected.newer).toBeGreaterThanOrEqual(maxVersionsPerKey);
    return;
  }
  expect({ key, version, value: outcome.value }).toEqual({ key, version, value: expected.value });
}

/** Reads `key` twice (its second miss admits it to the point cache). */
async function warm(store: Store, key: string): Promise<void> {
  await store.get(key);
  await store.get(key);
}

/** ~300 characters of base64 hashes of `index`: deflate saves about a quarter of them. */
function barelyCompressible(index: number): string {
  return Array.from({ length: 7 }, (_, part) => createHash('sha256').update(`${index}:${part}`).digest('base64')).join('');
}

describe('point cache carry-over across flushes (review)', () => {
  it('a get in flight on the old run set that finishes after a flush installs answers as of its version, and later gets see the flush', async () => {
    const opened = await gatedStore();
    const { fileSystem, model } = opened;
    let store = opened.store;
    try {
      for (let index = 0; index < 300; index++) await put(store, model, `key-${index}`, { index, pad: 'p'.repeat(200) });
      await store.checkpoint();
      store = await reopened(fileSystem, store);
      for (const key of ['key-5', 'key-100', 'key-299']) await warm(store, key);
      const oldRuns = await fileSystem.runFiles(DIRECTORY);

      // An unrelated key, and a key that a get in flight reads, change in the memtable.
      await put(store, model, 'unrelated', 1);
      fileSystem.hold(oldRuns);
      const readVersion = store.version;
      const inFlightOther = store.get('key-7');
      const inFlightChanged = store.get('key-8');
      expect(await settledSoon(inFlightOther)).toBe(false);
      expect(fileSystem.heldReads).toBeGreaterThan(0);
      await put(store, model, 'key-8', 'changed');
      await store.checkpoint(); // installs a run holding 'unrelated' and 'key-8' while both gets wait on the old run
      fileSystem.release();
      await expectRead(inFlightOther, model, 'key-7', readVersion);
      await expectRead(inFlightChanged, model, 'key-8', readVersion);
      for (const key of ['key-5', 'key-7', 'key-8', 'key-100', 'key-299', 'unrelated', 'absent']) {
        for (let read = 0; read < 3; read++) await expectRead(store.get(key), model, key, store.version);
        await expectRead(store.get(key, { asOf: readVersion }), model, key, readVersion);
      }
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a get in flight whose key a flush writes does not leave its old entries cached for the new run set', async () => {
    const opened = await gatedStore();
    const { fileSystem, model } = opened;
    let store = opened.store;
    try {
      for (let index = 0; index < 300; index++) await put(store, model, `key-${index}`, { index, pad: 'p'.repeat(200) });
      await store.checkpoint();
      store = await reopened(fileSystem, store);
      await warm(store, 'key-50');
      // key-50 is cached and key-2 is not (its block is not read yet); new versions of both go to the
      // memtable, then gets of them as of the old version start on the old run set and wait.
      const oldVersion = store.version;
      await put(store, model, 'key-50', 'new');
      await put(store, model, 'key-2', 'new');
      fileSystem.hold(await fileSystem.runFiles(DIRECTORY));
      const old = store.get('key-50', { asOf: oldVersion });
      const inFlight = store.get('key-2', { asOf: oldVersion });
      expect(await settledSoon(inFlight)).toBe(false);
      await store.checkpoint(); // writes both keys; the in-flight get caches key-2's old entries after this
      fileSystem.release();
      await expectRead(old, model, 'key-50', oldVersion);
      await expectRead(inFlight, model, 'key-2', oldVersion);
      for (let read = 0; read < 3; read++) {
        for (const key of ['key-50', 'key-2']) {
          await expectRead(store.get(key), model, key, store.version);
          await expectRead(store.get(key, { asOf: oldVersion }), model, key, oldVersion);
        }
      }
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a get in flight of a key the doorkeeper already saw, finishing after a flush wrote the key, leaves no stale entry for the new run set', async () => {
    // A small budget: a 512 KiB block cache, so reading the other keys evicts the key's block.
    // Pads that barely compress: the compacted run is cold (compressed), and one that
    // compressed to a few hundred KiB would be held whole by the block cache's compressed
    // tier, so the in-flight get would never reach the held file.
    const budget = { memoryBudgetBytes: 1024 * 1024 };
    const opened = await gatedStore(budget);
    const { fileSystem, model } = opened;
    let store = opened.store;
    try {
      for (let index = 0; index < 6000; index++) await put(store, model, `key-${index}`, { index, pad: barelyCompressible(index) });
      await store.checkpoint();
      await store.compact(); // one run: the flush below leaves two, and no background merge changes the run set meanwhile
      store = await reopened(fileSystem, store, budget);
      expect(store.stats().storage.runs).toBe(1);
      await expectRead(store.get('key-2'), model, 'key-2', store.version); // its first miss: seen, not cached
      for (let index = 1000; index < 6000; index++) await store.get(`key-${index}`); // evicts key-2's block
      const oldVersion = store.version;
      await put(store, model, 'key-2', 'new');
      fileSystem.hold(await fileSystem.runFiles(DIRECTORY));
      const inFlight = store.get('key-2', { asOf: oldVersion }); // its second miss: admitted when it finishes
      expect(await settledSoon(inFlight)).toBe(false);
      await store.checkpoint();
      fileSystem.release();
      await expectRead(inFlight, model, 'key-2', oldVersion);
      expect(store.stats().storage.runs).toBe(2);
      for (let read = 0; read < 3; read++) {
        await expectRead(store.get('key-2'), model, 'key-2', store.version);
        await expectRead(store.get('key-2', { asOf: oldVersion }), model, 'key-2', oldVersion);
      }
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('snapshots read as of their version across flushes while current gets read the flushed values', async () => {
    const { fileSystem, store, model } = await gatedStore();
    try {
      for (let index = 0; index < 100; index++) await put(store, model, `key-${index}`, `v0-${index}`);
      await store.checkpoint();
      const snapshots = [];
      for (let round = 1; round <= 4; round++) {
        for (let index = 0; index < 100; index += 3) await warm(store, `key-${index}`);
        snapshots.push(await store.snapshot());
        for (let index = round; index < 100; index += 5) await put(store, model, `key-${index}`, `v${round}-${index}`);
        await remove(store, model, `key-${round * 7}`);
        await store.checkpoint();
        // Alternate snapshot reads (old run set) with current reads (new run set) of the same keys.
        for (let index = 0; index < 100; index++) {
          const key = `key-${index}`;
          for (const snapshot of snapshots) await expectRead(snapshot.get(key), model, key, snapshot.version);
          await expectRead(store.get(key), model, key, store.version);
          await expectRead(store.get(key), model, key, store.version);
        }
      }
      for (const snapshot of snapshots) await snapshot.release();
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a flushed delete of a cached key reads as deleted, and as of before the delete the old value', async () => {
    const { fileSystem, store, model } = await gatedStore();
    try {
      for (let index = 0; index < 50; index++) await put(store, model, `key-${index}`, index);
      await store.checkpoint();
      await warm(store, 'key-10');
      await warm(store, 'key-11');
      const before = store.version;
      await remove(store, model, 'key-10');
      await store.checkpoint();
      for (let read = 0; read < 3; read++) {
        await expectRead(store.get('key-10'), model, 'key-10', store.version);
        await expectRead(store.get('key-10', { asOf: before }), model, 'key-10', before);
        await expectRead(store.get('key-11'), model, 'key-11', store.version);
      }
      // Deleted and put back, flushed again, then compacted right after the flush.
      await put(store, model, 'key-10', 'back');
      await store.checkpoint();
      await expectRead(store.get('key-10'), model, 'key-10', store.version);
      await store.compact();
      await expectRead(store.get('key-10'), model, 'key-10', store.version);
      await expectRead(store.get('key-10', { asOf: before }), model, 'key-10', before);
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('retention trims chains before the flush (NOT_RETAINED markers): cached and flushed keys read as the model allows', async () => {
    const maxVersionsPerKey = 2;
    const { fileSystem, store, model } = await gatedStore({ maxVersionsPerKey });
    try {
      for (let index = 0; index < 40; index++) await put(store, model, `key-${index}`, `a-${index}`);
      await store.checkpoint();
      const versions: number[] = [store.version];
      for (let round = 0; round < 4; round++) {
        for (let index = 0; index < 40; index += 4) await warm(store, `key-${index}`);
        // key-0 gets many versions in one memtable: retention trims its chain before the flush.
        for (let write = 0; write < 5; write++) await put(store, model, 'key-0', `r${round}-w${write}`);
        await put(store, model, `key-${1 + round}`, `r${round}`);
        await store.checkpoint();
        versions.push(store.version);
        for (let index = 0; index < 40; index++) {
          const key = `key-${index}`;
          await expectRead(store.get(key), model, key, store.version, maxVersionsPerKey);
          for (const version of versions) await expectRead(store.get(key, { asOf: version }), model, key, version, maxVersionsPerKey);
        }
        if (round === 2) await store.compact(); // a compaction install right after a flush
      }
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a snapshot taken before a flush, reading after it, does not empty the cache of the current run set (hot keys stay cached)', async () => {
    const { fileSystem, store, model } = await gatedStore();
    try {
      for (let index = 0; index < 200; index++) await put(store, model, `key-${index}`, index);
      await store.checkpoint();
      for (let read = 0; read < 3; read++) await store.get('key-1');
      const snapshot = await store.snapshot(); // its view holds the run set before the flush below
      await put(store, model, 'other', 1);
      await store.checkpoint();
      const blockLookups = () => store.stats().storage.blockCacheHits + store.stats().storage.blockCacheMisses;
      await expectRead(store.get('key-1'), model, 'key-1', store.version); // carried over: served by the point cache
      for (let index = 10; index < 40; index++) {
        // The snapshot's misses are read from its own (old) run set...
        await expectRead(snapshot.get(`key-${index}`), model, `key-${index}`, snapshot.version);
        await expectRead(snapshot.get(`key-${index}`), model, `key-${index}`, snapshot.version);
        // ...and must not replace the current run set's cache: the hot key looks up no block.
        const before = blockLookups();
        await expectRead(store.get('key-1'), model, 'key-1', store.version);
        expect({ index, lookups: blockLookups() - before }).toEqual({ index, lookups: 0 });
      }
      await snapshot.release();
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a transaction reading across a flush sees its start version, conflicts on a key flushed meanwhile, and current reads stay exact', async () => {
    const { fileSystem, store, model } = await gatedStore();
    try {
      for (let index = 0; index < 100; index++) await put(store, model, `key-${index}`, index);
      await store.checkpoint();
      for (const key of ['key-1', 'key-2', 'key-3']) await warm(store, key);
      let attempts = 0;
      const result = await store.transaction(async (tx) => {
        attempts++;
        const start = store.version;
        const first = await tx.get('key-1');
        if (attempts === 1) {
          // Another writer changes key-2 and key-3, and a flush installs them while this transaction is open.
          await put(store, model, 'key-2', 'changed');
          await put(store, model, 'key-3', 'changed');
          await store.checkpoint();
        }
        const second = await tx.get('key-2');
        const third = await tx.get('key-4');
        if (attempts === 1) {
          expect([first, second, third]).toEqual([model.asOf('key-1', start).value, model.asOf('key-2', start).value, model.asOf('key-4', start).value]);
        }
        tx.put('key-9', `${String(second)}+`);
        return second;
      });
      // key-2 was read and changed since the start: the first attempt conflicts and the retry sees the change.
      expect(attempts).toBe(2);
      expect(result).toBe('changed');
      model.record('key-9', store.version, 'changed+');
      for (let read = 0; read < 3; read++) {
        for (let index = 0; index < 12; index++) await expectRead(store.get(`key-${index}`), model, `key-${index}`, store.version);
      }
    } finally {
      fileSystem.release();
      await store.close();
    }
  });

  it('a seeded random mix of puts, deletes, gets in flight, snapshots, flushes and compactions matches the model', async () => {
    const { fileSystem, store, model } = await gatedStore();
    let seed = 12345;
    const random = (bound: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % bound;
    };
    const key = () => `key-${random(60)}`;
    try {
      const snapshots: Array<Awaited<ReturnType<Store['snapshot']>>> = [];
      const versions: number[] = [0];
      for (let step = 0; step < 1500; step++) {
        const choice = random(100);
        if (choice < 30) await put(store, model, key(), { step });
        else if (choice < 36) await remove(store, model, key());
        else if (choice < 70) {
          const read = key();
          await expectRead(store.get(read), model, read, store.version);
        } else if (choice < 78) {
          const read = key();
          const version = versions[random(versions.length)]!;
          await expectRead(store.get(read, { asOf: version }), model, read, version);
        } else if (choice < 84 && snapshots.length > 0) {
          const snapshot = snapshots[random(snapshots.length)]!;
          const read = key();
          await expectRead(snapshot.get(read), model, read, snapshot.version);
        } else if (choice < 86) {
          snapshots.push(await store.snapshot());
          if (snapshots.length > 4) await snapshots.shift()!.release();
        } else if (choice < 95) {
          // Gets in flight on the old run set across a flush of a few fresh writes.
          fileSystem.hold(await fileSystem.runFiles(DIRECTORY));
          const version = store.version;
          const reads = Array.from({ length: 4 }, () => key()).map((read) => ({ read, pending: store.get(read) }));
          for (let write = 0; write < 3; write++) await put(store, model, key(), { step, write });
          await store.checkpoint();
          fileSystem.release();
          for (const { read, pending } of reads) await expectRead(pending, model, read, version);
          versions.push(store.version);
        } else if (choice < 97) {
          await store.compact();
        } else {
          await store.checkpoint();
          versions.push(store.version);
        }
      }
      for (const snapshot of snapshots) await snapshot.release();
      for (let index = 0; index < 60; index++) await expectRead(store.get(`key-${index}`), model, `key-${index}`, store.version);
      expect(store.stats().storage.pointCacheBytes).toBeGreaterThan(0);
      expect(fileSystem.heldReads).toBeGreaterThan(0); // some gets did wait on the old run set across a flush
    } finally {
      fileSystem.release();
      await store.close();
    }
  });
});
