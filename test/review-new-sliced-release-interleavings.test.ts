/**
 * Review of 8cf2491 (the drop's release of a flushed memtable's values in slices, one per
 * event-loop turn; src/memory/slab-reuse.ts): what happens between the slices. With
 * slices of one 4-key step, writers churn overwrites (values whose bytes name their key
 * and round, so a value read from a slab released early and carved again shows another
 * put's bytes), and while a drop's release is under way:
 * - readers start (a snapshot read key by key, a scan, a transaction, a watch catching up
 *   from version 0), and others at other moments read on while the memtables they
 *   captured are dropped: every value they see is one that key was given;
 * - close() of the store (its flush waits for the release) and a reopen: every
 *   acknowledged write reads back;
 * - the store fails (a WAL datasync fails: fail-stop): reads go on, exact;
 * - a second store's releases run beside the first's over the process's one slab pool,
 *   readers of both reading on.
 * With the drop releasing a memtable a reader captured (slab-reuse.ts's check removed)
 * the two-store case fails: a read decodes other puts' bytes.
 * Afterwards every value reads back exactly and the pool reused slabs.
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { commitSlabPool } from '../src/codec/value-slabs.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { DroppedMemtableRelease, releaseSlicing } from '../src/memory/slab-reuse.js';
import { openStore, type Store } from '../src/index.js';

const KEYS = 1500;
const WRITERS = 8;
const OPTIONS = { memoryBudgetBytes: 1024 * 1024, segmentSizeBytes: 64 * 1024 };
const keyOf = (number: number): string => `k${String(number).padStart(5, '0')}`;
const valueOf = (store: string, key: number, round: number): Buffer => Buffer.alloc(40 + ((key * 31 + round * 17) % 300), `${store}${key}/${round};`);

const originalSlice = DroppedMemtableRelease.prototype.slice;
const saved = { ...releaseSlicing };
/** Releases under way (a slice returned false), releases ended, and slices run. */
const releases = { active: 0, ended: 0, slices: 0 };
afterEach(() => {
  DroppedMemtableRelease.prototype.slice = originalSlice;
  Object.assign(releaseSlicing, saved);
});

function observeSlices(): void {
  Object.assign(releaseSlicing, { stepKeys: 4, sliceMs: 0 });
  const underway = new WeakSet<DroppedMemtableRelease>();
  DroppedMemtableRelease.prototype.slice = function (this: DroppedMemtableRelease): boolean {
    const done = originalSlice.call(this);
    releases.slices++;
    if (!done && !underway.has(this)) {
      underway.add(this);
      releases.active++;
    } else if (done && underway.has(this)) {
      releases.active--;
    }
    if (done) releases.ended++;
    return done;
  };
}

/** A value `store` may hold for `key`: undefined or one of its rounds' values. */
function problem(name: string, key: number, value: unknown, rounds: number): string | undefined {
  if (value === undefined) return undefined;
  for (let round = 0; round < rounds; round++) if (Buffer.from(value as Uint8Array).equals(valueOf(name, key, round))) return undefined;
  return `${name} ${keyOf(key)}: bytes no put wrote (${Buffer.from(value as Uint8Array).subarray(0, 12).toString()})`;
}

/** Until `count` more releases ended (their slabs free for reuse), or the writes stopped (bounded). */
async function releasesEnd(count: number): Promise<void> {
  const target = releases.ended + count;
  for (let turn = 0; turn < 20_000 && releases.ended < target && !writesStopped; turn++) await new Promise((resolve) => setImmediate(resolve));
}
let writesStopped = false;

/**
 * Readers started now (the caller: while a release is under way): a snapshot, a scan and
 * a transaction that read once two more drops were released (the memtables they captured
 * among them, their slabs free to be carved again); or (`watch`) a feed catching up from
 * version 0 to now (a feed buffers the commits it is offered, whose slabs then are never
 * reused: it is read at once). Their problems.
 */
async function readAll(store: Store, name: string, rounds: number, wait: number, watch: boolean): Promise<string[]> {
  const problems: string[] = [];
  const note = (found: string | undefined) => found !== undefined && problems.push(found);
  if (watch) {
    const catchUpTo = store.version;
    const feed = store.watch({ sinceVersion: 0, untilVersion: catchUpTo, catchUpBatchChanges: 16 });
    for await (const change of feed) {
      const { key, value } = change as { key: string; value: unknown };
      if (key.startsWith('k')) note(problem(name, Number(key.slice(1)), value, rounds));
    }
    return problems;
  }
  const snapshot = await store.snapshot();
  const scan = store.scan();
  await store.transaction(async (transaction) => {
    expect((await scan.next()).done).toBe(false);
    await releasesEnd(wait);
    for (let key = 0; key < KEYS; key++) note(problem(name, key, await transaction.get(keyOf(key)), rounds));
  });
  for (let key = 0; key < KEYS; key++) note(problem(name, key, await snapshot.get(keyOf(key)), rounds));
  await snapshot.release();
  for await (const [key, value] of scan) note(problem(name, Number((key as string).slice(1)), value, rounds));
  return problems;
}

interface Churn {
  /** Acknowledged writes: key -> round. */
  acknowledged: Map<number, number>;
  readerProblems: string[];
  /** Readers started while a release was under way, and others. */
  readersStarted: number;
  lateReaders: number;
}

/** `rounds` of overwrites by WRITERS writers; readers start between slices; `midRelease` once, while one is under way. */
async function churn(store: Store, name: string, rounds: number, midRelease?: () => Promise<void> | void): Promise<Churn> {
  const result: Churn = { acknowledged: new Map(), readerProblems: [], readersStarted: 0, lateReaders: 0 };
  const readers: Array<Promise<void>> = [];
  let stopped = false;
  writesStopped = false;
  let hook = midRelease;
  for (let round = 0; round < rounds && !stopped; round++) {
    let next = 0;
    await Promise.all(Array.from({ length: WRITERS }, async () => {
      while (next < KEYS && !stopped) {
        const key = next++;
        try {
          await store.put(keyOf(key), valueOf(name, key, round));
          result.acknowledged.set(key, round);
        } catch {
          stopped = true; // closed or failed by midRelease
          return;
        }
        if (releases.active > 0 && hook !== undefined) {
          const run = hook;
          hook = undefined;
          await run();
        } else if ((releases.active > 0 && result.readersStarted < 6 && key % 97 === 0) || (result.lateReaders < 6 && key % 401 === 400)) {
          // Mid-release, or (late) anywhere in a memtable's life: these read many values of a memtable dropped under them.
          if (releases.active > 0 && key % 97 === 0) result.readersStarted++;
          else result.lateReaders++;
          const watch = releases.active > 0 && result.readersStarted % 3 === 0;
          readers.push(readAll(store, name, rounds, 3, watch).then((found) => void result.readerProblems.push(...found)));
        }
      }
    }));
  }
  writesStopped = true;
  await Promise.all(readers);
  return result;
}

async function expectExact(store: Store, name: string, acknowledged: Map<number, number>): Promise<void> {
  for (const [key, round] of acknowledged) {
    const value = await store.get(keyOf(key));
    if (!Buffer.from(value as Uint8Array).equals(valueOf(name, key, round))) expect.fail(`${name} ${keyOf(key)} read back other bytes than round ${round}'s`);
  }
}

describe('the sliced release of a dropped memtable, between its slices', () => {
  it('readers started mid-release, and readers whose memtables are dropped under them, see only written bytes', async () => {
    observeSlices();
    const reusedBefore = commitSlabPool.counts.reused;
    const store = await openStore('/a', { fileSystem: new FaultFileSystem(1), ...OPTIONS });
    try {
      // Four rounds: with three, whether a slab was reused at all (asserted below) hung on the
      // memtables' sizes (1 reuse in 13 slabs; none with 24 B less estimated per key moved out
      // of the ascending tail, src/memory/key-entries.ts); with four, 4-5 reuses.
      const { acknowledged, readerProblems, readersStarted, lateReaders } = await churn(store, 'a', 4);
      expect(readerProblems).toEqual([]);
      expect(readersStarted, 'readers started while a release was under way').toBeGreaterThan(2);
      expect(lateReaders).toBeGreaterThan(2);
      await store.checkpoint();
      expect(releases.active).toBe(0);
      expect(commitSlabPool.counts.reused).toBeGreaterThan(reusedBefore);
      await expectExact(store, 'a', acknowledged);
    } finally {
      await store.close();
    }
  });

  it('two stores releasing side by side over the one slab pool: every value reads back', async () => {
    observeSlices();
    const first = await openStore('/a', { fileSystem: new FaultFileSystem(5), ...OPTIONS });
    const second = await openStore('/b', { fileSystem: new FaultFileSystem(6), ...OPTIONS });
    let overlapped = 0;
    const slice = DroppedMemtableRelease.prototype.slice;
    DroppedMemtableRelease.prototype.slice = function (this: DroppedMemtableRelease): boolean {
      if (releases.active > 1) overlapped++;
      return slice.call(this);
    };
    try {
      const [a, b] = await Promise.all([churn(first, 'a', 2), churn(second, 'b', 2)]);
      expect([...a.readerProblems, ...b.readerProblems]).toEqual([]);
      expect(overlapped, 'slices run while both stores had a release under way').toBeGreaterThan(0);
      await Promise.all([first.checkpoint(), second.checkpoint()]);
      await expectExact(first, 'a', a.acknowledged);
      await expectExact(second, 'b', b.acknowledged);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('close() while a release is under way: the close waits for it; after a reopen every acknowledged write reads back', async () => {
    observeSlices();
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/c', { fileSystem, ...OPTIONS });
    let closedMidRelease = false;
    const { acknowledged } = await churn(store, 'c', 3, async () => {
      closedMidRelease = releases.active > 0;
      await store.close();
    });
    expect(closedMidRelease).toBe(true);
    expect(releases.active, 'no release left running after close()').toBe(0);
    const reopened = await openStore('/c', { fileSystem, ...OPTIONS });
    try {
      await expectExact(reopened, 'c', acknowledged);
    } finally {
      await reopened.close();
    }
  });

  it('the store fails (a WAL datasync fails) while a release is under way: reads go on, exact', async () => {
    observeSlices();
    const fileSystem = new FaultFileSystem(4);
    const store = await openStore('/d', { fileSystem, ...OPTIONS });
    try {
      const { acknowledged, readerProblems } = await churn(store, 'd', 2, () => {
        fileSystem.injectFault({ operation: 'datasync', error: 'EIO', path: /\/wal\//, persistent: true });
      });
      expect(store.stats().failed).toBe(true);
      expect(readerProblems).toEqual([]);
      expect(acknowledged.size).toBeGreaterThan(0);
      for (let turn = 0; turn < 2000 && releases.active > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(releases.active).toBe(0);
      await expectExact(store, 'd', acknowledged);
      expect(await readAll(store, 'd', 2, 0, false)).toEqual([]);
      expect(await readAll(store, 'd', 2, 0, true)).toEqual([]);
    } finally {
      await store.close().catch(() => undefined);
    }
  });
});
