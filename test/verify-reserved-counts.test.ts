/**
 * verifyStore recounts each run's reserved entries (RunDescriptor.reservedEntryCount,
 * manifest format 3) from the file: a descriptor that says 0 while the run holds a
 * lease record would hide the record from the lease restart rule at open, so verify
 * reports the mismatch as a finding naming the run. A clean store has none.
 *
 * The wrong count is crafted through the manifest's own code: the run's descriptor is
 * removed and added back with reservedEntryCount 0 (two edits; the run file is untouched).
 *
 * repairReservedEntryCounts (ladybug repair) opens without trusting the counts, so the
 * hidden record is expired and its bound key deleted, then rewrites the runs by a
 * compaction; on a clean store it writes nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { repairReservedEntryCounts } from '../src/store/repair-reserved-counts.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories } from './helpers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';
import { claimReservedCount, claimReservedCountOf, storeWithLeaseRecordRun } from './support/reserved-count-stores.js';

beforeAll(async () => {
  await ensureMergeWorkerBuilt(); // repair compacts, in the merge thread by default
}, 180_000);

afterEach(() => {
  removeTemporaryDirectories();
});

describe('verify recounts reserved entries', () => {
  it('a clean store: every counted run is recounted and no finding', async () => {
    const directory = await storeWithLeaseRecordRun();
    const report = await verifyStore(directory);
    expect(report.runs.files).toBe(2);
    expect(report.runs.reservedCountsChecked).toBe(2);
    expect(report.runs.reservedCountMismatches).toEqual([]);
    expect(report.runs.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('a descriptor claiming 0 for a run holding a lease record is a finding naming the run', async () => {
    const directory = await storeWithLeaseRecordRun();
    const original = await claimReservedCount(directory, 0);
    expect(original.reservedEntryCount).toBeGreaterThan(0);
    const report = await verifyStore(directory);
    expect(report.ok).toBe(false);
    expect(report.runs.reservedCountMismatches).toEqual([
      { file: expect.stringContaining(original.fileName), runId: original.runId, recorded: 0, counted: original.reservedEntryCount },
    ]);
    expect(report.runs.problems).toHaveLength(1);
    expect(report.runs.problems[0]!.reason).toContain(`run ${original.runId}`);
    expect(report.runs.problems[0]!.file).toContain(original.fileName);
  });

  it('a count too high is a finding too (the run is opened for nothing, but the manifest is wrong)', async () => {
    const directory = await storeWithLeaseRecordRun();
    const original = await claimReservedCount(directory, 0);
    // The run also holds the bound key "session/a": its entryCount (the manifest's upper bound for the count) is higher.
    expect(original.entryCount).toBeGreaterThan(original.reservedEntryCount!);
    await claimReservedCountOf(directory, original.runId, original.entryCount);
    const report = await verifyStore(directory);
    expect(report.runs.reservedCountMismatches.map((mismatch) => [mismatch.runId, mismatch.recorded, mismatch.counted]))
      .toEqual([[original.runId, original.entryCount, original.reservedEntryCount]]);
  });
});

describe('repair of a wrong reserved count', () => {
  it('a clean store: counts checked, nothing rewritten', async () => {
    const directory = await storeWithLeaseRecordRun();
    const repair = await repairReservedEntryCounts(directory);
    expect(repair).toEqual({ checked: 2, mismatches: [], rewritten: false, runsIn: 0, runsOut: 0, expiries: 0, remaining: [] });
  });

  it('a run saying 0 while it holds a lease record: the open misses the record; repair\'s open expires it and the runs are rewritten', async () => {
    const directory = await storeWithLeaseRecordRun();
    const original = await claimReservedCount(directory, 0);
    // The harm: the restart rule skips the run, so the lease of the earlier open survives with its bound key.
    const missed = await openStore(directory);
    try {
      expect(missed.leases.stats().expiries).toBe(0);
      expect(await missed.get('session/a')).toBe('alive');
    } finally {
      await missed.close();
    }

    const repair = await repairReservedEntryCounts(directory);
    expect(repair.mismatches.map((mismatch) => [mismatch.runId, mismatch.recorded, mismatch.counted])).toEqual([[original.runId, 0, original.reservedEntryCount]]);
    expect(repair.rewritten).toBe(true);
    expect(repair.runsIn).toBe(2);
    expect(repair.expiries).toBe(1);
    expect(repair.remaining).toEqual([]);

    const report = await verifyStore(directory);
    expect(report.ok).toBe(true);
    expect(report.runs.reservedCountMismatches).toEqual([]);
    const store = await openStore(directory);
    try {
      expect(await store.get('session/a')).toBeUndefined();
      expect(await store.get('plain')).toBe(1);
      expect(await store.leases.get('job')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
