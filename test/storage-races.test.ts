/**
 * The seed races of the storage engine (issue 7), each forced at an `await` and
 * shown to hold. LOCK_ORDER.md names the row that rules each one out.
 *
 * - Race 3, LRU touch across two locks (duplicates): two readers miss the same run
 *   block; the first one's file read is held until the second has read, decoded and
 *   cached its copy. The cache keeps one copy, hands it to both, counts its bytes once.
 * - Race 4, write-buffer id allocated before insertion: a stub flusher, told of each
 *   seal, must find that memtable queued, numbered next, and every committed key
 *   readable through the memtables at that very moment; and seals that happen while a
 *   real flush is held are all queued, in order.
 * - Race 6, flushes installed out of order: the flusher is held between its run being
 *   durable and its manifest edit; meanwhile commits seal three more memtables. No
 *   second flush starts, and the runs are installed (and listed in the manifest) in
 *   memtable order, so a key overwritten in every memtable reads its newest value.
 * - Race 8, eviction before the data is safe elsewhere: a checkpoint is held at its
 *   manifest edit; the memtable stays readable (its run is not installed yet), and a
 *   power loss right then loses nothing. A scan that captured its view before the
 *   memtable was retired reads it to the end.
 * - Race 9, edit chain check-then-increment, through the engine: the flusher's
 *   manifest edit at the chain bound is held in its datasync while a second edit
 *   arrives: exactly one full rewrite, neither edit lost.
 * - Race 7, with flushes: a snapshot pinned before overwrites (retention 1) still
 *   reads its version after that version went to a run and its memtable was retired.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { readStored } from '../src/codec/values.js';
import { openStorage } from '../src/engine/open-engine.js';
import type { ReadView } from '../src/engine/read-view.js';
import { Memtables } from '../src/engine/memtables.js';
import { StorageEngine } from '../src/engine/storage-engine.js';
import { AssertionFailedError } from '../src/errors.js';
import { ErrorCode, openStore, type Store } from '../src/index.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { abandonStore } from '../src/store/store.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { settle, settleUntil, track } from './transaction-support.js';

/** One held file-system call: `arrived` resolves with its path once it is waiting. */
interface Hold {
  readonly arrived: Promise<string>;
  /** True once the call is waiting. */
  readonly reached: () => boolean;
  release(): void;
}

type HeldOperation = 'datasync' | 'read';

/**
 * Forwards everything; a call armed with `hold(operation, pattern)` (the next one on a
 * matching path) waits until the test releases it, then runs for real.
 */
class HoldingFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  #holds: Array<{ operation: HeldOperation; pattern: RegExp; arrive: (path: string) => void; released: Promise<void> }> = [];

  hold(operation: HeldOperation, pattern: RegExp): Hold {
    let arrive: (path: string) => void = () => {};
    let release: () => void = () => {};
    let reached = false;
    const arrived = new Promise<string>((resolve) => {
      arrive = (path) => {
        reached = true;
        resolve(path);
      };
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#holds.push({ operation, pattern, arrive, released });
    return { arrived, reached: () => reached, release };
  }

  async #wait(operation: HeldOperation, path: string): Promise<void> {
    const index = this.#holds.findIndex((hold) => hold.operation === operation && hold.pattern.test(path));
    if (index < 0) return;
    const [hold] = this.#holds.splice(index, 1);
    hold!.arrive(path);
    await hold!.released;
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      datasync: async () => {
        await this.#wait('datasync', path);
        return handle.datasync();
      },
      read: async (buffer, offset, length, position) => {
        await this.#wait('read', path);
        return handle.read(buffer, offset, length, position);
      },
    });
  }
}

const STORE = '/store';
const WAL = '/store/wal';
const MANIFEST_FILE = /\/manifest\//;

/** A storage engine on `fileSystem` whose memtables are sealed only when the test says so. */
async function openEngine(fileSystem: HoldingFileSystem | FaultFileSystem, manifestEditsMax?: number): Promise<StorageEngine> {
  if (!(await fileSystem.exists(STORE))) {
    await fileSystem.mkdir(STORE);
    await fileSystem.mkdir(WAL);
    await fileSystem.syncDirectory('/');
    await fileSystem.syncDirectory(STORE);
  }
  const hash = await loadHash64();
  const storage = await openStorage(fileSystem, STORE, WAL, hash);
  let manifest = storage.manifest;
  if (manifestEditsMax !== undefined) {
    await manifest.close();
    const { Manifest } = await import('../src/manifest/manifest.js');
    manifest = await Manifest.open(fileSystem, STORE, hash, { create: false, editsMax: manifestEditsMax });
  }
  return new StorageEngine({
    fileSystem, runsDirectory: storage.runsDirectory, walDirectory: WAL, hash, manifest,
    memoryBudgetBytes: 64 * 1024 * 1024, maxVersionsPerKey: Number.MAX_SAFE_INTEGER,
    walCheckpointBytes: Number.MAX_SAFE_INTEGER, currentWalSegment: () => 1, walBytesWritten: () => 0,
  });
}

/** Applies acknowledged commits to an engine, one version each. */
class Committer {
  version = 0;
  constructor(readonly engine: StorageEngine) {}

  put(key: string, value: string): number {
    this.version += 1;
    this.engine.apply(this.version, [{ key, slot: value }], Infinity);
    return this.version;
  }
}

async function valueAt(view: ReadView, key: string, version: number): Promise<unknown> {
  const slot = await view.slotAsOf(key, { version, referenceVersion: version, pinFloor: Infinity });
  return slot === undefined || slot === TOMBSTONE ? undefined : readStored(slot);
}

async function collect(source: Pick<Store, 'scan'>): Promise<Array<[unknown, unknown]>> {
  const entries: Array<[unknown, unknown]> = [];
  for await (const entry of source.scan()) entries.push(entry);
  return entries;
}

const key = (index: number) => `key-${String(index).padStart(4, '0')}`;

describe('seed race 4: a seal numbers and queues a memtable in one step', () => {
  it('the flusher, told of a seal, finds that memtable queued and numbered next, and every committed key readable', () => {
    const committed = new Map<string, number>();
    const observations: Array<{ sequences: number[]; missing: string[] }> = [];
    let memtables: Memtables | undefined;
    // The stub flusher: what a flusher woken by the seal would see at that moment.
    const onSealed = () => {
      const queue = memtables!.immutables;
      const sources = [memtables!.active, ...queue.map((sealed) => sealed.index)];
      const missing = [...committed].filter(([name, version]) => !sources.some((index) => index.slotAsOf(name, version) !== undefined)).map(([name]) => name);
      observations.push({ sequences: queue.map((sealed) => sealed.sequence), missing });
    };
    memtables = new Memtables({ maxVersionsPerKey: 4, memtableBytesMax: 600, currentWalSegment: () => 1, onSealed });
    for (let version = 1; version <= 60; version++) {
      const name = key(version % 23);
      memtables.apply(version, [{ key: name, slot: `value ${version}` }], Infinity, true);
      committed.set(name, version);
    }
    expect(observations.length).toBeGreaterThan(3);
    observations.forEach((observation, position) => {
      // Nothing retires here, so the queue is every memtable sealed so far, numbered 1..n.
      expect(observation.sequences).toEqual(Array.from({ length: position + 1 }, (_, index) => index + 1));
      expect(observation.missing).toEqual([]);
    });
    const queue = memtables.immutables;
    for (let index = 1; index < queue.length; index++) expect(queue[index]!.firstVersion).toBe(queue[index - 1]!.lastVersion + 1);
    expect(memtables.active).toBeInstanceOf(MemoryIndex);
  });
});

describe('seed race 6: runs are installed in memtable order', () => {
  it('memtables sealed while a flush is held before its manifest edit are queued in order and installed in order', async () => {
    const fault = new FaultFileSystem(61);
    const fileSystem = new HoldingFileSystem(fault);
    const engine = await openEngine(fileSystem);
    const committer = new Committer(engine);
    const lastVersions: number[] = [];
    const fill = (memtable: number) => {
      committer.put('shared', `from memtable ${memtable}`);
      for (let index = 0; index < 20; index++) committer.put(key(memtable * 100 + index), `m${memtable}`);
      lastVersions.push(committer.version);
    };

    fill(0);
    const held = fileSystem.hold('datasync', MANIFEST_FILE);
    engine.memtables.seal();
    // The seal alone starts the flush (no checkpoint asks for it): it reaches its manifest edit.
    await settleUntil(held.reached);
    // The first run is durable; its manifest edit is not. Commits go on and seal three more.
    for (let memtable = 1; memtable <= 3; memtable++) {
      fill(memtable);
      engine.memtables.seal();
    }
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(engine.memtables.immutables.map((sealed) => sealed.sequence)).toEqual([1, 2, 3, 4]);
    expect(engine.runSet.runs).toHaveLength(0);
    // One flush at a time: no second run was started while the first waits.
    expect((await fault.readdir(`${STORE}/runs`)).length).toBe(1);
    expect(await valueAt(engine.view(), 'shared', committer.version)).toBe('from memtable 3');

    held.release();
    await engine.checkpoint();
    expect(engine.memtables.immutableCount).toBe(0);
    const installed = engine.runSet.runs.map((run) => run.descriptor);
    expect(installed.map((run) => run.maxVersion)).toEqual(lastVersions);
    for (let index = 1; index < installed.length; index++) expect(installed[index]!.minVersion).toBe(installed[index - 1]!.maxVersion + 1);
    expect(engine.manifest.state.runs.map((run) => run.runId)).toEqual(installed.map((run) => run.runId));
    expect(engine.manifest.state.flushedVersion).toBe(committer.version);

    const readAll = async (view: ReadView) => ({
      newest: await valueAt(view, 'shared', committer.version),
      asOf: await Promise.all(lastVersions.map((version) => valueAt(view, 'shared', version))),
      one: await valueAt(view, key(201), committer.version),
    });
    const expected = { newest: 'from memtable 3', asOf: [0, 1, 2, 3].map((memtable) => `from memtable ${memtable}`), one: 'm2' };
    expect(await readAll(engine.view())).toEqual(expected);
    await engine.close();
    // After a power loss the manifest lists the same runs in the same order.
    const reopened = await openEngine(fault.crash('drop-unsynced'));
    expect(reopened.runSet.runs.map((run) => run.descriptor.runId)).toEqual(installed.map((run) => run.runId));
    expect(await readAll(reopened.view())).toEqual(expected);
    await reopened.close();
  });
});

describe('seed race 8: a memtable is retired only after its run is durable and installed', () => {
  it('while a checkpoint waits for its manifest edit, every key reads from the memtable; a power loss then loses nothing', async () => {
    const fault = new FaultFileSystem(81);
    const fileSystem = new HoldingFileSystem(fault);
    const options = { fileSystem, segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 };
    const store = await openStore('/db', options);
    const expected: Array<[string, string]> = [];
    for (let index = 0; index < 300; index++) {
      await store.put(key(index), `value ${index} ${'x'.repeat(80)}`);
      expected.push([key(index), `value ${index} ${'x'.repeat(80)}`]);
    }
    const walBefore = (await fault.readdir('/db/wal')).length;
    expect(walBefore).toBeGreaterThan(1);

    const held = fileSystem.hold('datasync', MANIFEST_FILE);
    const checkpoint = track(store.checkpoint());
    await held.arrived;
    // The run file is complete and durable, but not in the manifest: not installed.
    expect(await fault.readdir('/db/runs')).toHaveLength(1);
    for (let turn = 0; turn < 3; turn++) await settle();
    expect(checkpoint.settled).toBe(false);
    expect(await Promise.all(expected.map(([name]) => store.get(name)))).toEqual(expected.map(([, value]) => value));
    expect(await collect(store)).toEqual(expected);
    expect(store.stats().storage).toMatchObject({ runs: 0, immutableMemtables: 1 });
    // Nothing the WAL holds is gone before the manifest edit is durable.
    expect((await fault.readdir('/db/wal')).length).toBe(walBefore);

    // Power loss now: the WAL still has every acknowledged write; the orphan run goes.
    store[abandonStore]();
    held.release();
    const reopened = await openStore('/db', { ...options, fileSystem: fault.crash('drop-unsynced') });
    expect(await collect(reopened)).toEqual(expected);
    expect(reopened.stats().storage.runs).toBe(0);
    await reopened.close();
  });

  it('the drop re-checks at that moment that it drops the oldest memtable: a stale victim is refused, the queue untouched', () => {
    const memtables = new Memtables({ maxVersionsPerKey: 4, memtableBytesMax: Number.MAX_SAFE_INTEGER, currentWalSegment: () => 1, onSealed: () => undefined });
    memtables.apply(1, [{ key: 'a', slot: 'one' }], Infinity, true);
    const first = memtables.seal()!;
    memtables.apply(2, [{ key: 'b', slot: 'two' }], Infinity, true);
    const second = memtables.seal()!;
    // A flusher that picked `second` as its victim earlier (a stale choice) may not drop it now.
    expect(() => memtables.retireOldest(second)).toThrow(AssertionFailedError);
    expect(memtables.immutables).toEqual([first, second]);
    memtables.retireOldest(first);
    // Dropping the same victim twice (two flushers that picked it) drops nothing more.
    expect(() => memtables.retireOldest(first)).toThrow(AssertionFailedError);
    expect(memtables.immutables).toEqual([second]);
    expect(memtables.immutables[0]!.index.slotAsOf('b', 2)).toBe('two');
  });

  it('after the install the run answers, the memtable is gone, and the WAL it covered is deleted', async () => {
    const fault = new FaultFileSystem(82);
    const store = await openStore('/db', { fileSystem: fault, segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 });
    for (let index = 0; index < 300; index++) await store.put(key(index), `value ${index} ${'x'.repeat(80)}`);
    const result = await store.checkpoint();
    expect(result.runsWritten).toBe(1);
    expect(result.walSegmentsDeleted).toBeGreaterThan(0);
    expect(store.stats().storage).toMatchObject({ runs: 1, immutableMemtables: 0 });
    expect(await store.get(key(299))).toBe(`value 299 ${'x'.repeat(80)}`);
    await store.close();
  });

  it('a scan that captured its view before the memtable was retired reads it to the end, at its version', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(83), maxVersionsPerKey: 1 });
    for (let index = 0; index < 500; index++) await store.put(key(index), `old ${index}`);
    const seen: Array<[unknown, unknown]> = [];
    const iterator = store.scan();
    for (let index = 0; index < 10; index++) {
      const step = await iterator.next();
      seen.push(step.value as [unknown, unknown]);
    }
    // Its memtable is flushed, installed and retired; every key is overwritten and flushed again.
    await store.checkpoint();
    for (let index = 0; index < 500; index++) await store.put(key(index), `new ${index}`);
    await store.checkpoint();
    expect(store.stats().storage).toMatchObject({ runs: 2, immutableMemtables: 0 });
    for (let step = await iterator.next(); step.done !== true; step = await iterator.next()) seen.push(step.value);
    expect(seen).toEqual(Array.from({ length: 500 }, (_, index) => [key(index), `old ${index}`]));
    expect(await store.get(key(7))).toBe('new 7');
    await store.close();
  });
});

describe('seed race 3: two misses of one block keep one copy', () => {
  it('a reader whose block read is held while another reads and caches the same block gets the cached copy; bytes count once', async () => {
    const fault = new FaultFileSystem(31);
    const fileSystem = new HoldingFileSystem(fault);
    const engine = await openEngine(fileSystem);
    const committer = new Committer(engine);
    for (let index = 0; index < 50; index++) committer.put(key(index), `value ${index}`);
    await engine.checkpoint();
    const [run] = engine.runSet.runs;
    const reader = await run!.reader();
    // The flush prepopulated the cache (src/engine/flusher.ts): empty it so both reads miss.
    engine.cache.dropRun(run!.descriptor.runId);
    expect(engine.cache.stats()).toMatchObject({ blocks: 0, bytes: 0 });

    const held = fileSystem.hold('read', /\/runs\//);
    const first = reader.readBlock(0);
    await held.arrived;
    // The first reader missed and is inside its read; the second misses too, reads and caches.
    expect(reader.blockIfCached(0)).toBeUndefined();
    const second = await reader.readBlock(0);
    const afterSecond = engine.cache.stats();
    // The data block and (run format 3) its index partition, one copy each.
    expect(afterSecond.blocks).toBe(2);
    held.release();
    const firstBlock = await first;
    expect(firstBlock).toBe(second);
    expect(engine.cache.stats()).toMatchObject({ blocks: 2, bytes: afterSecond.bytes });
    expect(reader.blockIfCached(0)).toBe(second);
    expect(await valueAt(engine.view(), key(3), committer.version)).toBe('value 3');
    await engine.close();
  });

  it('many concurrent gets of cold keys through a tiny cache answer right, evict, and stay within its bound', async () => {
    const engine = await openEngine(new FaultFileSystem(32));
    const committer = new Committer(engine);
    for (let index = 0; index < 3000; index++) committer.put(key(index), `value ${index} ${'y'.repeat(40)}`);
    await engine.checkpoint();
    engine.cache.maxBytes = 3 * 4096 + 1000;
    const view = engine.view();
    const names = Array.from({ length: 400 }, (_, index) => key((index * 7919) % 3000));
    const values = await Promise.all(names.map((name) => valueAt(view, name, committer.version)));
    expect(values).toEqual(names.map((name) => `value ${Number(name.slice(4))} ${'y'.repeat(40)}`));
    const stats = engine.cache.stats();
    expect(stats.bytes).toBeLessThanOrEqual(stats.maxBytes);
    expect(stats.evictions).toBeGreaterThan(0);
    engine.cache.dropRun(engine.runSet.runs[0]!.descriptor.runId);
    expect(engine.cache.stats()).toMatchObject({ blocks: 0, bytes: 0 });
    await engine.close();
  });
});

describe('seed race 9 through the engine: the edit chain bound', () => {
  it("two edits that arrive while the flusher's edit fills the chain make exactly one rewrite, and none is lost", async () => {
    const fault = new FaultFileSystem(91);
    const fileSystem = new HoldingFileSystem(fault);
    const engine = await openEngine(fileSystem, 2);
    const committer = new Committer(engine);
    committer.put(key(0), 'round 0');
    await engine.checkpoint();
    expect(engine.manifest.stats()).toMatchObject({ editsSinceRewrite: 1 });
    const rewritesBefore = engine.manifest.stats().rewrites;

    committer.put(key(1), 'round 1');
    const held = fileSystem.hold('datasync', MANIFEST_FILE);
    const flush = engine.checkpoint();
    await held.arrived;
    // The flusher's edit (the second of the chain: now at its bound) is in its datasync,
    // holding the manifest lock. Two more edits (the kind compaction will make) queue up.
    const second = engine.manifest.apply({ versionHighWater: committer.version + 10 });
    const third = engine.manifest.apply({ versionHighWater: committer.version + 20 });
    for (let turn = 0; turn < 3; turn++) await settle();
    held.release();
    await Promise.all([flush, second, third]);
    // The first of them finds the chain full and rewrites; the other appends to the new chain.
    expect(engine.manifest.stats()).toMatchObject({ rewrites: rewritesBefore + 1, editsSinceRewrite: 1 });
    const state = JSON.parse(JSON.stringify(engine.manifest.state)) as unknown;
    await engine.close();
    const reopened = await openEngine(fault.crash('drop-unsynced'), 2);
    expect(JSON.parse(JSON.stringify(reopened.manifest.state))).toEqual(state);
    expect(reopened.manifest.state).toMatchObject({ flushedVersion: 2, versionHighWater: 22 });
    expect(reopened.runSet.runs).toHaveLength(2);
    expect(await valueAt(reopened.view(), key(1), 2)).toBe('round 1');
    await reopened.close();
  });
});

describe('seed race 7 with flushes: a pinned version survives its memtable', () => {
  it('a snapshot taken before overwrites (retention 1) reads its version after it went to a run and the memtable was retired', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(71), maxVersionsPerKey: 1 });
    await store.put('k', 'old');
    const pending = store.snapshot();
    // Submitted before the snapshot is awaited: they apply (and would trim 'old') after its pin.
    const overwrites = Promise.all([store.put('k', 'new-1'), store.put('k', 'new-2')]);
    const snapshot = await pending;
    await overwrites;
    await store.checkpoint();
    await store.put('k', 'new-3');
    await store.checkpoint();
    expect(store.stats().storage).toMatchObject({ runs: 2, immutableMemtables: 0 });
    // The snapshot's own view still holds the retired memtable; a new reader has only the runs.
    expect(await snapshot.get('k')).toBe('old');
    expect(await collect(snapshot)).toEqual([['k', 'old']]);
    expect(await store.get('k', { asOf: snapshot.version })).toBe('old');
    expect((await store.history('k')).map((entry) => entry.value)).toEqual(['new-3', 'new-2', 'new-1', 'old']);
    await snapshot.release();
    await store.put('k', 'new-4');
    await store.checkpoint();
    await expect(store.get('k', { asOf: snapshot.version })).rejects.toMatchObject({ code: ErrorCode.VersionNotRetained });
    await store.close();
  });
});


