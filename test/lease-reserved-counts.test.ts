/**
 * The per-run count of reserved entries (RunDescriptor.reservedEntryCount, manifest
 * format 3) and what it buys: the lease restart scan at open skips every run that
 * says it holds no key under "\u0000ladybug/", so a store without lease records
 * reopens without opening a run; a run written before the count (no field) is still
 * scanned, so the leases of such a store are still expired.
 *
 * The count is checked against the run file itself (its entries read back), after a
 * flush, a compaction in process and a merge in the merge thread, including runs
 * that hold only tombstones of reserved keys.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MergeThread, mergeThreadsRunning } from '../src/compaction/merge-thread.js';
import { runMayHoldKey, runMayHoldRange } from '../src/engine/merged-scan.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { installTemporaryRun } from '../src/run/run-install.js';
import { openStore, type Store } from '../src/index.js';
import { LEASE_RECORD_PREFIX } from '../src/lease/lease-record.js';
import { isReservedKey, RESERVED_KEY_PREFIX, rangeInsideReservedPrefix } from '../src/lease/reserved-prefix.js';
import { MANIFEST_FORMAT_VERSION_NO_FLOOR, MANIFEST_FORMAT_VERSION_RESERVED_COUNTS, stateFormatVersion } from '../src/manifest/manifest-format.js';
import { applyEdit, EMPTY_MANIFEST_STATE } from '../src/manifest/manifest-state.js';
import { Manifest } from '../src/manifest/manifest.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { runDescriptor } from './manifest-helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'store-lease-pre-counts');
/** Runs per store here: below the tier-0 merge trigger, so no compaction opens a run at open. */
const RUN_COUNT = 3;

beforeAll(async () => {
  await ensureMergeWorkerBuilt();
}, 180_000);

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

/** Counts the opens of run files (each is a footer and top-level index read at least). */
class RunOpenCountingFileSystem extends ForwardingFileSystem {
  runOpens = 0;

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (path.endsWith('.run')) this.runOpens++;
    return super.open(path, mode);
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }
}

/** RUN_COUNT runs, each spanning the reserved prefix ("\u0000a" .. "~"), random-looking keys between. */
async function writeSpanningRuns(store: Store, rounds = RUN_COUNT): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const operations: Array<{ type: 'put'; key: string; value: unknown }> = [
      { type: 'put', key: '\u0000a', value: round },
      { type: 'put', key: '~', value: round },
    ];
    for (let index = 0; index < 50; index++) operations.push({ type: 'put', key: `k${(index * 7919 + round) % 1000}`, value: { round, index } });
    await store.batch(operations);
    await store.checkpoint();
  }
}

async function manifestState(directory: string) {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  const state = manifest.state;
  await manifest.close();
  return state;
}

/** Every entry of the run file, read back: how many are under the reserved prefix, and how many of those are tombstones. */
async function reservedEntriesInFile(directory: string, descriptor: RunDescriptor): Promise<{ entries: number; tombstones: number }> {
  const reader = await RunReader.open(new NodeFileSystem(), join(directory, 'runs'), descriptor, await loadHash64(), new BlockCache(1 << 20), {});
  const cursor = await reader.cursor({}, false, { fillCache: false });
  let entries = 0;
  let tombstones = 0;
  try {
    while (cursor.current !== undefined) {
      if (isReservedKey(cursor.current.key)) {
        entries++;
        if (cursor.current.value === undefined) tombstones++;
      }
      const pending = cursor.advance();
      if (pending !== undefined) await pending;
    }
  } finally {
    cursor.close();
    await reader.close();
  }
  return { entries, tombstones };
}

async function expectCountsMatchFiles(directory: string): Promise<RunDescriptor[]> {
  const state = await manifestState(directory);
  for (const run of state.runs) {
    expect(run.reservedEntryCount, `run ${run.runId}`).toBe((await reservedEntriesInFile(directory, run)).entries);
  }
  return state.runs;
}

describe('reopen of a store without lease records opens no run for the restart scan', () => {
  it('every run says 0 reserved entries, and openStore opens none of them', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await writeSpanningRuns(store);
    await store.close();
    const runs = await expectCountsMatchFiles(directory);
    expect(runs).toHaveLength(RUN_COUNT);
    for (const run of runs) {
      expect(run.reservedEntryCount).toBe(0);
      // Every run's span covers the lease records' range: the span alone cannot rule it out.
      expect(run.smallestKey < LEASE_RECORD_PREFIX && run.largestKey > `${LEASE_RECORD_PREFIX}\xff`).toBe(true);
    }
    const fileSystem = new RunOpenCountingFileSystem(new NodeFileSystem());
    const reopened = await openStore(directory, { fileSystem });
    try {
      expect(fileSystem.runOpens).toBe(0);
      expect(reopened.leases.stats().expiries).toBe(0);
      // The first lease operations read the record by point reads: no run says it may hold one.
      const lease = await reopened.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
      await reopened.put('session/a', 'alive', { lease });
      await reopened.leases.renew('job', { owner: 'a', token: lease.token });
      expect(fileSystem.runOpens).toBe(0);
      // The release reads the bound key's history (is it still the lease's? lease-bound-keys.ts): that read may open runs.
      await reopened.leases.release('job', { owner: 'a', token: lease.token });
      expect(await reopened.get('session/a')).toBeUndefined();
      // The reads still work, and the wrapper sees run opens when a read needs one.
      expect(await reopened.get('~')).toBe(RUN_COUNT - 1);
      expect(fileSystem.runOpens).toBeGreaterThan(0);
    } finally {
      await reopened.close();
    }
  });
});

describe('a store with lease records of an earlier open', () => {
  it('expires them at reopen; the runs count the records and, after the expiry, their tombstones', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await writeSpanningRuns(store, 1);
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'alive', { lease });
    await store.checkpoint();
    await store.close();
    const withRecord = await expectCountsMatchFiles(directory);
    expect(withRecord.at(-1)!.reservedEntryCount).toBeGreaterThan(0);

    const fileSystem = new RunOpenCountingFileSystem(new NodeFileSystem());
    const reopened = await openStore(directory, { fileSystem });
    try {
      expect(reopened.leases.stats().expiries).toBe(1);
      expect(await reopened.get('session/a')).toBeUndefined();
      await reopened.checkpoint();
    } finally {
      await reopened.close();
    }
    const afterExpiry = await expectCountsMatchFiles(directory);
    const newest = afterExpiry.at(-1)!;
    const inFile = await reservedEntriesInFile(directory, newest);
    // The run flushed after the expiry holds the record's deletion only: tombstones count.
    expect(inFile.tombstones).toBeGreaterThan(0);
    expect(inFile.tombstones).toBe(inFile.entries);
    expect(newest.reservedEntryCount).toBe(inFile.entries);

    const third = await openStore(directory);
    try {
      expect(third.leases.stats().expiries).toBe(0);
      expect(await third.leases.acquire('job', { owner: 'b', ttlMs: 1_000 })).toMatchObject({ owner: 'b' });
    } finally {
      await third.close();
    }
  });
});

describe('the count after a compaction merge', () => {
  for (const mergeThread of ['main', 'worker'] as const) {
    it(`store.compact() with mergeThread '${mergeThread}': the merged run's count matches its file`, async () => {
      compactionSettings.mergeThread = mergeThread;
      const directory = temporaryDirectory();
      const store = await openStore(directory);
      await writeSpanningRuns(store, 1);
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
      await store.put('session/a', 'alive', { lease });
      await store.checkpoint();
      await store.leases.release('job', { owner: 'a', token: lease.token });
      await store.checkpoint(); // a run holding the record's tombstone
      await writeSpanningRuns(store, 1);
      await store.compact();
      await store.close();
      const runs = await expectCountsMatchFiles(directory);
      expect(runs.every((run) => run.reservedEntryCount !== undefined)).toBe(true);
    }, 60_000);
  }

  it('the merge thread answers a descriptor with the count of the merged reserved entries, tombstones included', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { maxVersionsPerKey: 4 });
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'alive', { lease });
    await writeSpanningRuns(store, 1);
    await store.leases.release('job', { owner: 'a', token: lease.token });
    await writeSpanningRuns(store, 1);
    await store.close();
    const inputs = (await manifestState(directory)).runs.slice().reverse();
    expect(inputs).toHaveLength(2);
    const thread = new MergeThread();
    try {
      const outcome = await thread.merge({
        runsDirectory: join(directory, 'runs'), inputs, rule: { maxVersionsPerKey: 4, horizon: Infinity, includesOldest: false, retentionFloor: 0 },
        runId: 999, generation: 7, level: 1, compression: 'none',
      }, new AbortController().signal, undefined);
      await installTemporaryRun(new NodeFileSystem(), join(directory, 'runs'), 999); // the main side's half (run-install.ts)
      const merged = outcome.descriptor!;
      const inFile = await reservedEntriesInFile(directory, merged);
      expect(inFile.tombstones).toBeGreaterThan(0);
      expect(merged.reservedEntryCount).toBe(inFile.entries);
      const inputEntries = (await reservedEntriesInFile(directory, inputs[0]!)).entries + (await reservedEntriesInFile(directory, inputs[1]!)).entries;
      expect(merged.reservedEntryCount).toBe(inputEntries); // nothing dropped above the horizon with includesOldest false
    } finally {
      await thread.close();
    }
    expect(mergeThreadsRunning()).toBe(0);
  }, 60_000);
});

describe('stores written before the count (manifest format 1, no field)', () => {
  it('the fixture opens, its runs (no field) are scanned, and its lease is expired', async () => {
    const directory = temporaryDirectory();
    cpSync(FIXTURE, directory, { recursive: true });
    const before = await manifestState(directory);
    expect(before.runs).toHaveLength(3);
    expect(before.runs.every((run) => run.reservedEntryCount === undefined)).toBe(true);
    expect(before.reservedEntryCounts).toBeUndefined();
    expect(readFileSync(join(directory, 'manifest', 'MANIFEST-0000000001.a')).length).toBeGreaterThan(0);

    const fileSystem = new RunOpenCountingFileSystem(new NodeFileSystem());
    const store = await openStore(directory, { fileSystem });
    try {
      // No descriptor says 0: every run is a possible holder and is scanned.
      expect(fileSystem.runOpens).toBe(3);
      expect(store.leases.stats().expiries).toBe(1);
      expect(await store.get('bound/session')).toBeUndefined();
      expect(await store.get('key-2-19')).toEqual({ round: 2, index: 19 });
      await store.checkpoint(); // the first counted run: the manifest is rewritten as format 3
    } finally {
      await store.close();
    }
    const after = await manifestState(directory);
    expect(after.reservedEntryCounts).toBe(true);
    expect(stateFormatVersion(after)).toBe(MANIFEST_FORMAT_VERSION_RESERVED_COUNTS);
    // The flushed run (or, if the fourth run started a merge, its output) carries the count.
    const counted = after.runs.filter((run) => run.reservedEntryCount !== undefined);
    expect(counted.length).toBeGreaterThan(0);
    for (const run of counted) expect(run.reservedEntryCount).toBe((await reservedEntriesInFile(directory, run)).entries);

    const again = await openStore(directory);
    try {
      expect(again.leases.stats().expiries).toBe(0);
      expect(await again.get('key-0-0')).toEqual({ round: 0, index: 0 });
    } finally {
      await again.close();
    }
  });
});

describe('the rules, directly', () => {
  it('rangeInsideReservedPrefix: only ranges whose every key starts with the prefix', () => {
    expect(rangeInsideReservedPrefix({ gte: LEASE_RECORD_PREFIX, lt: `${LEASE_RECORD_PREFIX}\xef\xbf\xbf` })).toBe(true);
    expect(rangeInsideReservedPrefix({ gt: RESERVED_KEY_PREFIX, lte: `${RESERVED_KEY_PREFIX}z` })).toBe(true);
    expect(rangeInsideReservedPrefix({ gte: RESERVED_KEY_PREFIX, lt: '\u0000ladybug0' })).toBe(true);
    expect(rangeInsideReservedPrefix({ gte: RESERVED_KEY_PREFIX, lt: '\u0000ladybug1' })).toBe(false);
    expect(rangeInsideReservedPrefix({ gte: RESERVED_KEY_PREFIX })).toBe(false);
    expect(rangeInsideReservedPrefix({ lt: `${RESERVED_KEY_PREFIX}z` })).toBe(false);
    expect(rangeInsideReservedPrefix({ gte: '\u0000ladybug', lt: `${RESERVED_KEY_PREFIX}z` })).toBe(false);
    expect(rangeInsideReservedPrefix({})).toBe(false);
  });

  it('runMayHoldRange: a run saying 0 is skipped only for a range inside the prefix; no field means it may hold some', () => {
    const inside = { gte: LEASE_RECORD_PREFIX, lt: `${LEASE_RECORD_PREFIX}\xff` };
    const spanning = { ...runDescriptor(1), smallestKey: '\u0000', largestKey: '\xff' };
    expect(runMayHoldRange(inside, { ...spanning, reservedEntryCount: 0 })).toBe(false);
    expect(runMayHoldRange(inside, { ...spanning, reservedEntryCount: 2 })).toBe(true);
    expect(runMayHoldRange(inside, spanning)).toBe(true);
    expect(runMayHoldRange({ gte: '\u0000', lt: '\u0001' }, { ...spanning, reservedEntryCount: 0 })).toBe(true);
    expect(runMayHoldRange(inside, { ...spanning, smallestKey: 'a', reservedEntryCount: 5 })).toBe(false);
    const record = `${LEASE_RECORD_PREFIX}job`;
    expect(runMayHoldKey(record, { ...spanning, reservedEntryCount: 0 })).toBe(false);
    expect(runMayHoldKey(record, { ...spanning, reservedEntryCount: 1 })).toBe(true);
    expect(runMayHoldKey(record, spanning)).toBe(true);
    expect(runMayHoldKey('\u0000a', { ...spanning, reservedEntryCount: 0 })).toBe(true);
    expect(runMayHoldKey(record, { ...spanning, smallestKey: 'a', reservedEntryCount: 1 })).toBe(false);
  });

  it('a state holding a counted run is format 3, and an edit adding one raises a format 1 state to it', () => {
    const old = applyEdit(EMPTY_MANIFEST_STATE, { addRuns: [runDescriptor(1)], nextRunId: 2 });
    expect(typeof old).not.toBe('string');
    if (typeof old === 'string') return;
    expect(stateFormatVersion(old)).toBe(MANIFEST_FORMAT_VERSION_NO_FLOOR);
    const next = applyEdit(old, { addRuns: [{ ...runDescriptor(2), reservedEntryCount: 0 }], nextRunId: 3 });
    if (typeof next === 'string') throw new Error(next);
    expect(next.reservedEntryCounts).toBe(true);
    expect(stateFormatVersion(next)).toBe(MANIFEST_FORMAT_VERSION_RESERVED_COUNTS);
    // Removing every counted run keeps the format (it never goes down).
    const removed = applyEdit(next, { removeRunIds: [2] });
    if (typeof removed === 'string') throw new Error(removed);
    expect(stateFormatVersion(removed)).toBe(MANIFEST_FORMAT_VERSION_RESERVED_COUNTS);
    expect(applyEdit(old, { addRuns: [{ ...runDescriptor(2), reservedEntryCount: -1 }] })).toMatch(/reservedEntryCount/);
  });
});
