/**
 * Stores with a wrong reserved entry count (RunDescriptor.reservedEntryCount), made
 * through the manifest's own code: a run's descriptor is removed and added back with
 * another count (two edits; the run file is untouched). Shared by the verify/repair
 * tests and the CLI test.
 */
import { expect } from 'vitest';
import { loadHash64 } from '../../src/codec/checksum.js';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import { openStore } from '../../src/index.js';
import { Manifest } from '../../src/manifest/manifest.js';
import type { RunDescriptor } from '../../src/run/run-descriptor.js';
import { temporaryDirectory } from '../helpers.js';

/** A closed store with plain keys in one run and a lease record (plus its bound key) in a second. */
export async function storeWithLeaseRecordRun(): Promise<string> {
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
export async function claimReservedCount(directory: string, claimed: number): Promise<RunDescriptor> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  const holder = manifest.state.runs.find((run) => (run.reservedEntryCount ?? 0) > 0);
  await manifest.close();
  expect(holder).toBeDefined();
  const original = { ...holder! };
  await claimReservedCountOf(directory, original.runId, claimed);
  return original;
}

/** Removes run `runId`'s descriptor and adds it back claiming `claimed` reserved entries. */
export async function claimReservedCountOf(directory: string, runId: number, claimed: number): Promise<void> {
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  try {
    const run = manifest.state.runs.find((candidate) => candidate.runId === runId)!;
    await manifest.apply({ removeRunIds: [runId] });
    await manifest.apply({ addRuns: [{ ...run, reservedEntryCount: claimed }] });
  } finally {
    await manifest.close();
  }
}

/**
 * A closed store where a released lease's record lives on in an older run: run 1 holds
 * the record of lease "job" (live when written) and its bound key "session/a"; run 2
 * holds the release (the record's tombstone and the bound key's) and "session/a"
 * rewritten afterwards without a lease. Both runs counted right; answers their ids.
 */
export async function storeWithReleasedLeaseRecord(): Promise<{ directory: string; recordRunId: number; tombstoneRunId: number }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  try {
    const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
    await store.put('session/a', 'bound', { lease });
    await store.put('plain', 1);
    await store.checkpoint();
    await store.leases.release('job', lease);
    await store.put('session/a', 'rewritten');
    await store.checkpoint();
  } finally {
    await store.close();
  }
  const manifest = await Manifest.open(new NodeFileSystem(), directory, await loadHash64(), { create: false });
  const runs = manifest.state.runs.slice().sort((left, right) => left.minVersion - right.minVersion);
  await manifest.close();
  expect(runs).toHaveLength(2);
  expect(runs.every((run) => (run.reservedEntryCount ?? 0) > 0)).toBe(true);
  return { directory, recordRunId: runs[0]!.runId, tombstoneRunId: runs[1]!.runId };
}
