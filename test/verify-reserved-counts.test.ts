/**
 * verifyStore recounts each run's reserved entries (RunDescriptor.reservedEntryCount,
 * manifest format 3) from the file: a descriptor that says 0 while the run holds a
 * lease record would hide the record from the lease restart rule at open, so verify
 * reports the mismatch as a finding naming the run. A clean store has none.
 *
 * The wrong count is crafted through the manifest's own code: the run's descriptor is
 * removed and added back with reservedEntryCount 0 (two edits; the run file is untouched).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => {
  removeTemporaryDirectories();
});

/** A closed store with plain keys in one run and a lease record (plus its bound key) in a second. */
async function storeWithLeaseRecordRun(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  try {
    await store.batch([{ type: 'put', key: '\u0000a', value: 0 }, { type: 'put', key: 'plain', value: 1 }, { type: 'put', key: '~', value: 2 }]);
    await store.checkpoint();
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'alive', { lease });
    await store.checkpoint();
  } finally {
    await store.close();
  }
  return directory;
}

/** Replaces the descriptor of the run holding reserved entries by one claiming `claimed`; returns the original. */
async function claimReservedCount(directory: string, claimed: number): Promise<RunDescriptor> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  const holder = manifest.state.runs.find((run) => (run.reservedEntryCount ?? 0) > 0);
  await manifest.close();
  expect(holder).toBeDefined();
  const original = { ...holder! };
  await claimReservedCountOf(directory, original.runId, claimed);
  return original;
}

/** Removes run `runId`'s descriptor and adds it back claiming `claimed` reserved entries. */
async function claimReservedCountOf(directory: string, runId: number, claimed: number): Promise<void> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  try {
    const run = manifest.state.runs.find((candidate) => candidate.runId === runId)!;
    await manifest.apply({ removeRunIds: [runId] });
    await manifest.apply({ addRuns: [{ ...run, reservedEntryCount: claimed }] });
  } finally {
    await manifest.close();
  }
}

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
