/**
 * Slab reuse (src/codec/slab-pool.ts, src/memory/slab-reuse.ts) with memtables of
 * ascending keys, whose byte values the ascending tail keeps as their slab and a span
 * (src/memory/ascending-tail.ts) and whose drop releases them walking the keys in
 * arrival order (MemoryIndex#forEachEntryInArrivalOrder). Small values (many to a
 * slab, starts across the whole 64 KiB) and a small budget: memtables are flushed and
 * dropped every few hundred puts and their slabs carved again by the next ones.
 *
 * Nothing reads the store while it is written (a read view captures every memtable it
 * sees and keeps it out of reuse for good), so every memtable of the churn is released
 * at its drop. Afterwards every key, every retained version (asOf, history) and both
 * scan directions read what was written, from the runs the flushes wrote from the spans;
 * after a reopen, the replayed WAL as well. A release of a value still in a live
 * memtable, a span read or released at the wrong place, or a value left out of the
 * walk shows as another put's bytes, or as no reuse at all. The flush thread's case
 * packs the same entries into chunks on this thread (copies) for a real file system.
 */
import { Buffer } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitSlabPool } from '../src/codec/value-slabs.js';
import { flushThreadCounters, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

// A memtable of 256 KiB (a twelfth of the budget); three versions a key at most.
const OPTIONS = { memoryBudgetBytes: 3 * 1024 * 1024, segmentSizeBytes: 64 * 1024, maxVersionsPerKey: 3 } as const;
const WRITERS = 16;

/** Event-loop turns a run's rename waits: commits go on meanwhile, filling the slabs after the flushed memtable's. */
const RUN_RENAME_TURNS = 40;

/**
 * `inner` with every rename into runs/ (a flush's or a merge's install of its run file)
 * held RUN_RENAME_TURNS event-loop turns: the active memtable holds values in slabs past
 * the one it shares with the memtable being flushed when that one is dropped, so a value
 * of a live memtable released at the drop would have its slab carved again.
 */
function slowRunInstalls(inner: FileSystem): FileSystem {
  return new Proxy(inner, {
    get: (target, name) => {
      if (name === 'rename') {
        return async (from: string, to: string) => {
          if (to.includes('/runs/')) for (let turn = 0; turn < RUN_RENAME_TURNS; turn++) await new Promise((resolve) => setImmediate(resolve));
          return target.rename(from, to);
        };
      }
      const member = Reflect.get(target, name) as unknown;
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  });
}

const keyOf = (index: number): string => `tail-${String(index).padStart(6, '0')}`;

/** 40 to 439 bytes, a pattern of the key and the round: values of one slab differ in length and bytes. */
function valueOf(index: number, round: number): Uint8Array {
  const bytes = new Uint8Array(40 + ((index * 37 + round * 11) % 400));
  for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = (offset * 13 + index * 7 + round * 101) & 0xff;
  return bytes;
}

interface Written {
  version: number;
  round: number;
}

/** What was written: each key's versions, oldest first. */
type Model = Map<number, Written[]>;

/** Puts keys [from, to) in ascending order, WRITERS at a time, as round `round`. */
async function putAscending(store: Store, model: Model, from: number, to: number, round: number): Promise<void> {
  for (let index = from; index < to; index += WRITERS) {
    const batch = Array.from({ length: Math.min(WRITERS, to - index) }, (_, offset) => index + offset);
    const results = await Promise.all(batch.map((key) => store.put(keyOf(key), valueOf(key, round))));
    batch.forEach((key, position) => {
      const versions = model.get(key) ?? [];
      versions.push({ version: results[position]!.version, round });
      model.set(key, versions);
    });
  }
}

function expectBytes(value: unknown, index: number, round: number, where: string): void {
  const same = value instanceof Uint8Array && Buffer.from(value).equals(Buffer.from(valueOf(index, round)));
  if (!same) throw new Error(`${where}: ${keyOf(index)} does not read round ${round}'s bytes`);
}

/** Every key's newest value by get and both scans, every retained version by asOf and history. */
async function checkAll(store: Store, model: Model, where: string): Promise<void> {
  const keys = [...model.keys()].sort((left, right) => left - right);
  for (const key of keys) {
    const versions = model.get(key)!;
    expectBytes(await store.get(keyOf(key)), key, versions.at(-1)!.round, `${where}, get`);
    const retained = versions.slice(-OPTIONS.maxVersionsPerKey);
    for (const { version, round } of retained) expectBytes(await store.get(keyOf(key), { asOf: version }), key, round, `${where}, get asOf ${version}`);
    const history = await store.history(keyOf(key));
    expect(history.map((entry) => entry.version).slice(0, retained.length)).toEqual(retained.map((entry) => entry.version).reverse());
    history.slice(0, retained.length).forEach((entry, position) => expectBytes(entry.value, key, retained[retained.length - 1 - position]!.round, `${where}, history`));
  }
  for (const reverse of [false, true]) {
    const order = reverse ? [...keys].reverse() : keys;
    let position = 0;
    for await (const [key, value] of store.scan({ gte: 'tail-', lt: 'tail.', reverse })) {
      const index = order[position++]!;
      expect(key).toBe(keyOf(index));
      expectBytes(value, index, model.get(index)!.at(-1)!.round, `${where}, scan${reverse ? ' reverse' : ''}`);
    }
    expect(position).toBe(keys.length);
  }
}

describe('slab reuse with memtables of ascending keys (values kept as slab and span)', () => {
  beforeAll(async () => {
    await ensureMergeWorkerBuilt();
    expect(flushWorkerBuilt()).toBe(true);
    // 256 KiB memtables: below the thread's default minimum, which only the threaded case lowers (it opens on a real file system).
    flushSettings.threadMinMemtableBytes = 0;
  });
  afterAll(async () => {
    flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
    removeTemporaryDirectories();
  });

  it('every value and retained version reads back after its slabs were carved again, before and after a reopen', async () => {
    const fileSystem = slowRunInstalls(new FaultFileSystem(31));
    const model: Model = new Map();
    let store = await openStore('/db', { ...OPTIONS, fileSystem });
    try {
      const reused = commitSlabPool.counts.reused;
      const flushes = store.stats().sinceOpen.flushes;
      // Ascending keys only: memtables all tail.
      await putAscending(store, model, 0, 6000, 1);
      // Rewrites of ascending runs of keys already written: a memtable moves its tail into
      // the Map at the first key below its greatest, and a key written twice in one
      // memtable holds both versions in its chain (the older one in history, asOf).
      for (let round = 2; round <= 5; round++) await putAscending(store, model, round * 700, round * 700 + 900, round);
      await putAscending(store, model, 3000, 3300, 6);
      await putAscending(store, model, 3000, 3300, 7);
      await putAscending(store, model, 3000, 3300, 8);
      // Fresh ascending keys again, whose slabs come from the free list.
      await putAscending(store, model, 6000, 9000, 9);
      expect(store.stats().sinceOpen.flushes - flushes).toBeGreaterThan(10);
      expect(commitSlabPool.counts.reused - reused).toBeGreaterThan(10);
      await checkAll(store, model, 'after the churn');
      await store.close();
      store = await openStore('/db', { ...OPTIONS, fileSystem });
      await checkAll(store, model, 'after a reopen');
    } finally {
      await store.close();
    }
  }, 120_000);

  it('the same with every flush written by the flush thread on a real file system', async () => {
    const directory = temporaryDirectory();
    const model: Model = new Map();
    let store = await openStore(directory, OPTIONS);
    try {
      const reused = commitSlabPool.counts.reused;
      const threadFlushes = flushThreadCounters.threadFlushes;
      await putAscending(store, model, 0, 4000, 1);
      await putAscending(store, model, 1000, 1600, 2);
      await putAscending(store, model, 1000, 1600, 3);
      await putAscending(store, model, 4000, 7000, 4);
      expect(flushThreadCounters.threadFlushes - threadFlushes).toBeGreaterThan(5);
      expect(commitSlabPool.counts.reused - reused).toBeGreaterThan(5);
      await checkAll(store, model, 'after the threaded churn');
      await store.close();
      store = await openStore(directory, OPTIONS);
      await checkAll(store, model, 'after a reopen');
    } finally {
      await store.close();
    }
  }, 120_000);

  it('a snapshot and a scan of an all-tail memtable, taken before the churn, read it exactly after', async () => {
    const store = await openStore('/db', { ...OPTIONS, fileSystem: slowRunInstalls(new FaultFileSystem(37)) });
    try {
      const model: Model = new Map();
      await putAscending(store, model, 0, 300, 1);
      const snapshot = await store.snapshot();
      const scan = snapshot.scan({ reverse: true });
      const first = await scan.next();
      expectBytes((first.value as [string, unknown])[1], 299, 1, 'scan before the churn');
      const reused = commitSlabPool.counts.reused;
      await putAscending(store, model, 300, 6000, 2);
      expect(commitSlabPool.counts.reused - reused).toBeGreaterThan(0);
      for (let index = 0; index < 300; index++) expectBytes(await snapshot.get(keyOf(index)), index, 1, 'snapshot after the churn');
      let index = 298;
      for (let next = await scan.next(); next.done !== true; next = await scan.next()) expectBytes(next.value[1], index--, 1, 'scan after the churn');
      expect(index).toBe(-1);
      await snapshot.release();
    } finally {
      await store.close();
    }
  }, 60_000);
});
