/**
 * The `ladybug` CLI, run as a real process from the build (npm test builds first):
 * JSON and text report the same facts; damage, a locked store and bad arguments give
 * one clear line and a non-zero exit, never a stack trace.
 */
import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { claimReservedCount, claimReservedCountOf, storeWithLeaseRecordRun, storeWithReleasedLeaseRecord } from './support/reserved-count-stores.js';

/** A store of 51 commits; with `checkpointOnClose: false` they stay in the WAL, else the close moves them to a run. */
async function makeStore(checkpointOnClose = true): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir, { segmentSizeBytes: 64 * 1024, maxValueBytes: 8 * 1024, checkpointOnClose });
  for (let index = 0; index < 50; index++) await store.put(`key-${String(index).padStart(2, '0')}`, { index });
  await store.put('key-00', { index: 100 });
  await store.close();
  return dir;
}

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug CLI', () => {
  it('stats: text and --json report the same facts', async () => {
    const dir = await makeStore();
    const json = JSON.parse((await ladybug('stats', dir, '--json')).stdout) as Record<string, unknown>;
    const text = (await ladybug('stats', dir)).stdout;
    expect(json.version).toBe(51);
    expect(json.keys).toBe(50);
    for (const field of ['version', 'keys', 'versions', 'walSegment']) {
      expect(text).toMatch(new RegExp(`\\b${field}\\s+${String(json[field])}\\n`));
    }
  });

  it('get, history and dump read the store', async () => {
    const dir = await makeStore();
    const got = JSON.parse((await ladybug('get', dir, 'key-00', '--as-of', '1', '--json')).stdout);
    expect(got).toEqual({ key: 'key-00', version: 1, found: true, value: { index: 0 } });
    const history = JSON.parse((await ladybug('history', dir, 'key-00', '--json')).stdout);
    expect(history.versions.map((entry: { version: number }) => entry.version)).toEqual([51, 1]);
    const dump = (await ladybug('dump', dir, '--gte', 'key-10', '--limit', '2', '--json')).stdout.trim().split('\n');
    expect(dump.map((line) => JSON.parse(line))).toEqual([{ key: 'key-10', value: { index: 10 } }, { key: 'key-11', value: { index: 11 } }]);
  });

  it('verify checks the manifest and every run block of a checkpointed store', async () => {
    const dir = await makeStore();
    const clean = await ladybug('verify', dir, '--json');
    expect(clean.code).toBe(0);
    const report = JSON.parse(clean.stdout);
    expect(report).toMatchObject({ ok: true, commits: 0, corruption: null, manifest: { runs: 1, flushedVersion: 51 } });
    expect(report.runs.files).toBe(1);
    expect(report.runs.blocks).toBeGreaterThan(0);
    expect(report.runs.problems).toEqual([]);
  });

  it('verify passes a clean store and names the file and offset of a damaged record', async () => {
    const dir = await makeStore(false);
    const clean = await ladybug('verify', dir, '--json');
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ ok: true, commits: 51, corruption: null });
    const segment = join(dir, 'wal', 'wal-0000000001.log');
    const file = openSync(segment, 'r+');
    const byte = Buffer.alloc(1);
    readSync(file, byte, 0, 1, 200);
    byte[0] = byte[0]! ^ 0x40;
    writeSync(file, byte, 0, 1, 200);
    closeSync(file);
    const damaged = await ladybug('verify', dir, '--json');
    expect(damaged.code).toBe(1);
    const report = JSON.parse(damaged.stdout);
    expect(report.ok).toBe(false);
    expect(report.corruption.file).toBe(segment);
    expect(report.corruption.offset).toBeLessThanOrEqual(200);
    const text = await ladybug('verify', dir);
    expect(text.stdout).toContain('CORRUPTION');
    expect(text.stdout).toContain(segment);
  });

  it('verify names a run whose reserved entry count is wrong; repair rewrites the runs and expires the hidden lease', async () => {
    const dir = await storeWithLeaseRecordRun();
    const original = await claimReservedCount(dir, 0);
    const found = await ladybug('verify', dir, '--json');
    expect(found.code).toBe(1);
    expect(JSON.parse(found.stdout).runs.reservedCountMismatches).toMatchObject([{ runId: original.runId, recorded: 0, counted: original.reservedEntryCount }]);
    const text = await ladybug('verify', dir);
    expect(text.stdout).toContain(`run ${original.runId}: the manifest says reservedEntryCount 0`);

    const repaired = await ladybug('repair', dir, '--json');
    expect(repaired.code).toBe(0);
    // The WAL-repair open reads every run whatever the counts say: it expires the hidden lease.
    expect(JSON.parse(repaired.stdout).leaseExpiries).toBe(1);
    const counts = JSON.parse(repaired.stdout).reservedCounts;
    expect(counts).toMatchObject({ rewritten: true, expiries: 0, remaining: [] });
    expect(counts.mismatches).toHaveLength(1);
    expect((await ladybug('verify', dir)).code).toBe(0);
    expect((await ladybug('repair', dir)).stdout).toMatch(/^repair: nothing to repair\n/);
  }, 60_000);

  it('repair does not expire a released lease again when the run holding its release says 0 reserved entries', async () => {
    // The record lives on in an older run; the newer run (counted 0 here) holds its tombstone and the key rewritten since.
    const { directory: dir, tombstoneRunId } = await storeWithReleasedLeaseRecord();
    await claimReservedCountOf(dir, tombstoneRunId, 0);
    const repaired = await ladybug('repair', dir, '--json');
    expect(repaired.code).toBe(0);
    const store = await openStore(dir);
    try {
      expect(await store.get('session/a')).toBe('rewritten');
    } finally {
      await store.close();
    }
    const report = JSON.parse(repaired.stdout);
    expect(report.leaseExpiries).toBe(0);
    expect(report.reservedCounts).toMatchObject({ rewritten: true, expiries: 0, remaining: [] });
  }, 60_000);

  it('a store locked by another handle gives one clear line and a non-zero exit', async () => {
    const dir = await makeStore();
    const store = await openStore(dir);
    try {
      const result = await ladybug('stats', dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`locked by pid ${process.pid}`);
      expect(result.stderr).toContain('LADYBUG_STORE_LOCKED');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await store.close();
    }
  });

  it('bad arguments and a missing store exit with status 2 and no stack trace', async () => {
    const missing = await ladybug('stats', join(temporaryDirectory(), 'nothing-here'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no ladybug store');
    const badVersion = await ladybug('get', await makeStore(), 'key-00', '--as-of', 'yesterday');
    expect(badVersion.code).toBe(2);
    expect(badVersion.stderr).toContain('not a version number');
    const unknown = await ladybug('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    for (const result of [missing, badVersion, unknown]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
