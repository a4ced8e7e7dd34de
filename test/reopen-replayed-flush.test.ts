/**
 * Issue 7, killed reopen: a replayed memtable past its share is sealed at the end of
 * the replay and its flush starts one event-loop turn later, after open returned
 * (StorageEngine#finishReplay, Flusher#schedule(true)). Sorting its keys and starting
 * the flush thread were 40-100 ms of a killed 1M-key store's open.
 *
 * What must hold: open returns before the flush touches the disk; reads see the sealed
 * memtable meanwhile; the flush then installs it; a crash at any file-system call from
 * the open's first to the flush's last (every crash mode), and a second crashed open,
 * lose nothing acknowledged; close() right after open waits for that flush and nothing
 * is written after it returns; an abandoned handle writes nothing more.
 *
 * The store is written with a large budget (nothing sealed, nothing flushed) and
 * killed; it is reopened with the smallest budget, so the whole log replays into one
 * memtable far over its 32 KiB share.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem, isSimulatedCrash } from '../src/fs/fault-file-system.js';
import type { CrashMode } from '../src/fs/fault-file-system.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { openOn, scanAll, settle } from './workload.js';

const MODES: CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const SMALL_BUDGET = { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN };
const PUTS = 400;

const valueOf = (index: number): string => `value-${index}-${'v'.repeat(index % 97)}`;

/** A store killed after PUTS acknowledged puts and deletes that a 64 MiB budget never sealed (keep-all: a process kill). */
async function killedStore(seed: number): Promise<{ fileSystem: FaultFileSystem; expected: Map<string, unknown> }> {
  const first = new FaultFileSystem(seed);
  const store = await openOn(first, { memoryBudgetBytes: 64 * 1024 * 1024 });
  const expected = new Map<string, unknown>();
  for (let index = 0; index < PUTS; index++) {
    const key = `key-${(index * 7919) % 331}`;
    if (index % 13 === 12) {
      await store.delete(key);
      expected.delete(key);
    } else {
      await store.put(key, valueOf(index));
      expected.set(key, valueOf(index));
    }
  }
  expect(store.stats().storage.flushes).toBe(0);
  store[abandonStore]();
  return { fileSystem: first.crash('keep-all'), expected };
}

function crashed(error: unknown): boolean {
  return isSimulatedCrash(error) || (error instanceof Error && isSimulatedCrash(error.cause));
}

async function expectExact(store: Store, expected: Map<string, unknown>): Promise<void> {
  expect(await scanAll(store)).toEqual(expected);
  for (const [key, value] of expected) expect(await store.get(key)).toEqual(value);
}

const runFiles = (fileSystem: FaultFileSystem): string[] => fileSystem.listPaths().filter((path) => path.startsWith('/db/runs/'));

describe('killed reopen: the replayed memtable is flushed after open returns', () => {
  it('returns before the flush touches the disk, reads the sealed memtable, then installs its run', async () => {
    const { fileSystem, expected } = await killedStore(3);
    const store = await openOn(fileSystem, SMALL_BUDGET);
    try {
      const storage = store.stats().storage;
      expect(store.stats().recovery.commits).toBe(PUTS);
      expect(storage.immutableMemtables).toBe(1); // sealed at the end of the replay
      expect(storage.flushes).toBe(0);
      expect(runFiles(fileSystem)).toEqual([]); // not even a temporary run file yet
      const walSegments = fileSystem.listPaths().filter((path) => path.startsWith('/db/wal/wal-'));
      await expectExact(store, expected);
      await settle();
      const after = store.stats().storage;
      expect(after.flushes).toBe(1);
      expect(after.immutableMemtables).toBe(0);
      expect(after.flushedVersion).toBe(store.version);
      expect(runFiles(fileSystem)).toHaveLength(1);
      // The flush deleted the segments its run covers.
      expect(fileSystem.listPaths().filter((path) => path.startsWith('/db/wal/wal-')).length).toBeLessThan(walSegments.length);
      await expectExact(store, expected);
    } finally {
      await store.close();
    }
  });

  it('close() right after open waits for that flush, and nothing is written after it returns', async () => {
    const { fileSystem, expected } = await killedStore(4);
    const store = await openOn(fileSystem, SMALL_BUDGET); // checkpointOnClose: false
    await store.close();
    const callsAfterClose = fileSystem.operationCount;
    await settle();
    expect(fileSystem.operationCount).toBe(callsAfterClose);
    expect(runFiles(fileSystem)).toHaveLength(1);
    const reopened = await openOn(fileSystem, SMALL_BUDGET);
    try {
      expect(reopened.stats().recovery.commits).toBe(0); // the run holds every commit
      await expectExact(reopened, expected);
    } finally {
      await reopened.close();
    }
  });

  it('an abandoned handle (a killed process) writes no run after open', async () => {
    const { fileSystem, expected } = await killedStore(5);
    const store = await openOn(fileSystem, SMALL_BUDGET);
    store[abandonStore]();
    const callsAtAbandon = fileSystem.operationCount;
    await settle();
    expect(fileSystem.operationCount).toBe(callsAtAbandon);
    expect(runFiles(fileSystem)).toEqual([]);
    const reopened = await openOn(fileSystem.crash('keep-all'), SMALL_BUDGET);
    try {
      await expectExact(reopened, expected);
    } finally {
      await reopened.close();
    }
  });

  it('keeps every acknowledged commit through a crash at any call of the open or the flush after it, every mode, and a second crashed open', async () => {
    const probe = await killedStore(7);
    const start = probe.fileSystem.operationCount;
    const opened = await openOn(probe.fileSystem, SMALL_BUDGET);
    const openCalls = probe.fileSystem.operationCount - start;
    await settle();
    expect(opened.stats().storage.flushes).toBe(1);
    const calls = probe.fileSystem.operationCount - start; // the open's and its flush's
    expect(calls).toBeGreaterThan(openCalls + 4); // the flush: run file, syncs, rename, manifest, WAL deletion
    opened[abandonStore]();
    let crashedOpens = 0;
    for (let crashAt = 0; crashAt <= calls; crashAt++) {
      for (const mode of MODES) {
        const { fileSystem, expected } = await killedStore(7);
        fileSystem.crashAfterOperations(crashAt);
        try {
          const store = await openOn(fileSystem, SMALL_BUDGET);
          await settle();
          store[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
          crashedOpens++;
        }
        let rebooted = fileSystem.crash(mode);
        rebooted.crashAfterOperations(Math.floor(crashAt / 2));
        try {
          const store = await openOn(rebooted, SMALL_BUDGET);
          await settle();
          store[abandonStore]();
        } catch (error) {
          if (!crashed(error)) throw error;
        }
        rebooted = rebooted.crash(mode);
        const store = await openOn(rebooted, SMALL_BUDGET);
        try {
          await expectExact(store, expected);
        } finally {
          store[abandonStore]();
        }
      }
    }
    expect(crashedOpens).toBeGreaterThan(openCalls * 2);
  }, 300_000);
});
