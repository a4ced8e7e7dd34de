/**
 * Review of the read path commits of 2026-11-30 (257b82a, 3607759, 5404100) through
 * the store: point reads that stop at the deciding run, the point cache that keeps a
 * key only on its second miss, and the cache split that follows the runs' partitions.
 *
 * - Hot gets: a key whose versions are spread over several runs (or absent, or
 *   deleted) is read from the runs by its first two gets and served by the point
 *   cache from the third on (no block cache lookup), for current and as-of reads.
 * - A seeded random mix against a model of each key's versions, on a small budget
 *   with maxVersionsPerKey 2: puts and deletes spread over many runs (a checkpoint
 *   every few writes), gets (current, as of recorded versions, repeated so that keys
 *   first read with the early exit are cached by a later miss), snapshots held across
 *   flushes and compactions, compactions of a key range and of everything, and
 *   retention floors raised with compact({ retainFrom }). A read may be refused
 *   (VersionNotRetainedError) only when the model has at least maxVersionsPerKey newer
 *   versions or the version is below the floor; otherwise it must be exact. The
 *   caches stay within their bounds and add up to the cache budget throughout.
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import type { Store } from '../src/store/store.js';

const DIRECTORY = '/review-read-store';
const DELETED = Symbol('deleted');

/** Each key's versions, oldest first. */
class Model {
  readonly versions = new Map<string, Array<{ version: number; value: unknown }>>();
  record(key: string, version: number, value: unknown): void {
    const list = this.versions.get(key) ?? [];
    list.push({ version, value });
    this.versions.set(key, list);
  }
  /** The value as of `version` (undefined: absent or deleted) and how many versions of the key lie above it up to `reference`. */
  asOf(key: string, version: number, reference: number): { value: unknown; newer: number } {
    const list = this.versions.get(key) ?? [];
    let value: unknown;
    let newer = 0;
    for (const entry of list) {
      if (entry.version <= version) value = entry.value === DELETED ? undefined : entry.value;
      else if (entry.version <= reference) newer++;
    }
    return { value, newer };
  }
}

/** A file system whose run file handles have no readSync: every run read is asynchronous (read-view.ts #slotFromRunsAfter). */
function withoutReadSync(inner: FileSystem): FileSystem {
  const hidden = (target: object): object => new Proxy(target, {
    get: (handle, property) => {
      if (property === 'readSync') return undefined;
      const found: unknown = Reflect.get(handle, property);
      return typeof found === 'function' ? (found as (...parts: unknown[]) => unknown).bind(handle) : found;
    },
    has: (handle, property) => property !== 'readSync' && Reflect.has(handle, property),
  });
  return new Proxy(inner, {
    get: (fileSystem, property) => {
      const found: unknown = Reflect.get(fileSystem, property);
      if (property === 'open') {
        return async (path: string, mode: OpenMode) => {
          const handle = await fileSystem.open(path, mode);
          return path.endsWith('.run') ? (hidden(handle) as FileHandle) : handle;
        };
      }
      return typeof found === 'function' ? (found as (...parts: unknown[]) => unknown).bind(fileSystem) : found;
    },
  });
}

async function fresh(options: { maxVersionsPerKey?: number; memoryBudgetBytes?: number; asynchronousRuns?: boolean } = {}): Promise<Store> {
  const { asynchronousRuns, ...rest } = options;
  const fileSystem = asynchronousRuns === true ? withoutReadSync(new FaultFileSystem(3)) : new FaultFileSystem(3);
  return openStore(DIRECTORY, { fileSystem, memoryBudgetBytes: 1024 * 1024, checkpointOnClose: false, ...rest });
}

function blockLookups(store: Store): number {
  const storage = store.stats().storage;
  return storage.blockCacheHits + storage.blockCacheMisses;
}

function expectCachesWithinBounds(store: Store, cacheMaxBytes: number): void {
  const storage = store.stats().storage;
  expect(storage.blockCacheBytes).toBeLessThanOrEqual(storage.blockCacheMaxBytes);
  expect(storage.pointCacheBytes).toBeLessThanOrEqual(storage.pointCacheMaxBytes);
  expect(storage.blockCacheMaxBytes + storage.pointCacheMaxBytes).toBeLessThanOrEqual(cacheMaxBytes);
}

describe('review: point reads through many runs (store)', () => {
  it('a hot key spread over several runs, an absent key and a deleted key are served by the point cache from their third get on', async () => {
    const store = await fresh();
    try {
      const versions: number[] = [];
      for (let round = 0; round < 5; round++) {
        const operations = [];
        for (let index = 0; index < 300; index++) operations.push({ type: 'put' as const, key: `filler-${round}-${index}`, value: index });
        await store.batch(operations);
        versions.push((await store.put('hot', `hot-${round}`)).version);
        if (round === 2) await store.put('gone', 'soon');
        if (round === 3) await store.delete('gone');
        await store.checkpoint();
      }
      expect(store.stats().storage.runs).toBeGreaterThan(1);
      const reads: Array<[string, number | undefined, unknown]> = [
        ['hot', undefined, 'hot-4'],
        ['hot', versions[1], 'hot-1'],
        ['absent', undefined, undefined],
        ['gone', undefined, undefined],
      ];
      for (const [key, asOf, expected] of reads) {
        const options = asOf === undefined ? undefined : { asOf };
        const lookups: number[] = [];
        for (let read = 0; read < 5; read++) {
          const before = blockLookups(store);
          expect(await store.get(key, options)).toEqual(expected);
          lookups.push(blockLookups(store) - before);
        }
        // Reads 3..5 come from the point cache: no block looked up.
        expect({ key, asOf, lookups: lookups.slice(2) }).toEqual({ key, asOf, lookups: [0, 0, 0] });
      }
    } finally {
      await store.close();
    }
  });

  it.each([false, true])('a seeded random mix over many runs with retention, snapshots, compactions, floors and reads in flight across installs matches the model (asynchronous run reads: %s)', async (asynchronousRuns) => {
    const maxVersionsPerKey = 2;
    const store = await fresh({ maxVersionsPerKey, asynchronousRuns });
    const cacheMaxBytes = store.stats().storage.cacheMaxBytes;
    const model = new Model();
    let seed = 424242;
    const random = (bound: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % bound;
    };
    const key = () => `key-${random(40)}`;
    let floor = 0;
    const recorded: number[] = [0];
    const snapshots: Array<Awaited<ReturnType<Store['snapshot']>>> = [];
    const counts = { racing: 0, exact: 0, refused: 0, snapshotReads: 0, compactions: 0, floors: 0 };

    const check = async (read: Promise<unknown>, readKey: string, version: number, reference: number, pinned: boolean): Promise<void> => {
      const expected = model.asOf(readKey, version, reference);
      const outcome = await read.then((value) => ({ value }), (error: unknown) => ({ error }));
      if ('error' in outcome) {
        expect(outcome.error).toBeInstanceOf(VersionNotRetainedError);
        // A pinned reader (a snapshot) is never refused what it sees; others only beyond retention or below the floor.
        expect({ readKey, version, pinned, refusedFairly: !pinned && (expected.newer >= maxVersionsPerKey || version < floor) }).toEqual({ readKey, version, pinned, refusedFairly: true });
        counts.refused++;
        return;
      }
      expect({ readKey, version, value: outcome.value }).toEqual({ readKey, version, value: expected.value });
      counts.exact++;
    };

    try {
      for (let step = 0; step < 1200; step++) {
        const choice = random(100);
        if (choice < 28) {
          const written = key();
          const value = { step };
          model.record(written, (await store.put(written, value)).version, value);
        } else if (choice < 33) {
          const written = key();
          model.record(written, (await store.delete(written)).version, DELETED);
        } else if (choice < 55) {
          // The same key read two or three times in a row: a first miss (early exit), a cached miss, a hit.
          const read = key();
          for (let repeat = 0; repeat < 1 + random(3); repeat++) await check(store.get(read), read, store.version, store.version, false);
        } else if (choice < 70) {
          const read = key();
          const version = recorded[random(recorded.length)]!;
          if (version < floor) continue;
          for (let repeat = 0; repeat < 1 + random(3); repeat++) await check(store.get(read, { asOf: version }), read, version, store.version, false);
        } else if (choice < 78 && snapshots.length > 0) {
          const snapshot = snapshots[random(snapshots.length)]!;
          const read = key();
          counts.snapshotReads++;
          for (let repeat = 0; repeat < 1 + random(2); repeat++) await check(snapshot.get(read), read, snapshot.version, snapshot.version, true);
        } else if (choice < 81) {
          snapshots.push(await store.snapshot());
          if (snapshots.length > 3) await snapshots.shift()!.release();
        } else if (choice < 88) {
          await store.checkpoint();
          recorded.push(store.version);
        } else if (choice < 93) {
          // Gets in flight (some the doorkeeper already saw) while a flush or a compaction installs a new run set.
          const version = store.version;
          const readKeys = Array.from({ length: 4 }, () => key());
          const pending = readKeys.map((read) => store.get(read));
          const written = key();
          const value = { step, racing: true };
          model.record(written, (await store.put(written, value)).version, value);
          if (random(2) === 0) await store.checkpoint();
          else await store.compact();
          counts.racing++;
          for (let index = 0; index < readKeys.length; index++) await check(pending[index]!, readKeys[index]!, version, version, false);
        } else if (choice < 96) {
          counts.compactions++;
          const low = random(40);
          await store.compact(random(2) === 0 ? {} : { gte: `key-${low}`, lt: `key-${low + 5}` });
        } else if (choice < 98) {
          // Raise the floor (stops at the oldest snapshot and the last checkpoint).
          await store.checkpoint();
          const wanted = recorded[Math.max(0, recorded.length - 3)]!;
          const result = await store.compact({ retainFrom: wanted });
          floor = Math.max(floor, result.retentionFloor);
          counts.floors++;
        } else {
          for (const snapshot of snapshots) await snapshot.release();
          snapshots.length = 0;
        }
        expectCachesWithinBounds(store, cacheMaxBytes);
      }
      for (const snapshot of snapshots) await snapshot.release();
      for (let index = 0; index < 40; index++) {
        for (let repeat = 0; repeat < 3; repeat++) await check(store.get(`key-${index}`), `key-${index}`, store.version, store.version, false);
      }
      expect(counts.exact).toBeGreaterThan(500);
      expect(counts.snapshotReads).toBeGreaterThan(20);
      expect(counts.compactions).toBeGreaterThan(10);
      expect(counts.racing).toBeGreaterThan(10);
      expect(store.stats().storage.pointCacheBytes).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
