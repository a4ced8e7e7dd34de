/**
 * `ladybug repair` keeps the valid prefix of a damaged WAL: one damaged record costs
 * every commit after it, whole later segments included. verify now says so before
 * anything is dropped: `walRepairWouldDrop` is the report the repair gives once done
 * (recoverWal with repair run over a dry-run view, src/fs/dry-run-view.ts), and the
 * counts are the valid prefix's (they read 0 records and 0 commits beside 11
 * operations). Three kinds of damage: a record in the middle of a segment, a later
 * segment's header (the kept log ends in a full segment: repair writes its version
 * marker into a new one, which the dry run creates in memory), and a missing middle
 * segment. In each, verify leaves every store file as it was, and the repair's own
 * report equals what verify predicted.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { SEGMENT_BYTES_MIN } from '../src/limits.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { flipByte } from './review4-damage.js';

afterEach(removeTemporaryDirectories);

/** A store whose 600 commits are all in the WAL, over several 64 KiB segments. */
async function walStore(): Promise<string> {
  const dir = temporaryDirectory();
  const store = await openStore(dir, { segmentSizeBytes: 64 * 1024, checkpointOnClose: false });
  for (let index = 0; index < 600; index++) await store.put(`key-${String(index).padStart(3, '0')}`, { index, pad: 'x'.repeat(200) });
  await store.close();
  return dir;
}

function segments(dir: string): string[] {
  return readdirSync(join(dir, 'wal')).filter((name) => name.startsWith('wal-')).sort();
}

/** Every file of the store but its lock files (verify takes the lock), with a digest of its bytes. */
function digests(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(dir, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.startsWith('LOCK.')) result[path] = createHash('sha256').update(readFileSync(join(dir, path))).digest('hex');
    }
  };
  walk('');
  return result;
}

/** verify changes no store file, reports the kept prefix and the drop; the repair then reports that drop and keeps that prefix. */
async function expectPreviewMatchesRepair(dir: string): Promise<number> {
  const before = digests(dir);
  const report = await verifyStore(dir);
  expect(digests(dir)).toEqual(before);
  expect(report.ok).toBe(false);
  expect(report.corruption).toBeDefined();
  const keptCommits = report.commits;
  expect(keptCommits).toBeGreaterThan(0);
  expect(keptCommits).toBeLessThan(600);
  // One put per commit, one commit per record here.
  expect({ records: report.records, lastVersion: report.lastVersion }).toEqual({ records: keptCommits, lastVersion: keptCommits });
  expect(report.walRepairWouldDrop).toBeDefined();
  const store = await openStore(dir, { repair: true, checkpointOnClose: false });
  const done = store.stats().recovery.repair;
  const keys = [];
  for await (const [key] of store.scan()) keys.push(key);
  await store.close();
  expect(done).toEqual(report.walRepairWouldDrop);
  expect(keys.length).toBe(keptCommits);
  // The commits of a missing or unreadable segment cannot be counted; the versions can.
  expect(done!.droppedCommits).toBeLessThanOrEqual(600 - keptCommits);
  expect(done!.droppedVersions).toEqual({ first: keptCommits + 1, last: 600 });
  return keptCommits;
}

describe('verify says what repair would drop', () => {
  it('a damaged record in the middle of the first segment: every later commit and segment', async () => {
    const dir = await walStore();
    expect(segments(dir).length).toBeGreaterThanOrEqual(3);
    flipByte(join(dir, 'wal', segments(dir)[0]!), 3000);
    const kept = await expectPreviewMatchesRepair(dir);
    expect(kept).toBeLessThan(20); // 3,000 bytes into the log
  });

  it("a later segment's damaged header: the version marker goes into a new segment, made in memory by the dry run", async () => {
    const dir = await walStore();
    const [first, second] = segments(dir);
    flipByte(join(dir, 'wal', second!), 8);
    expect((await verifyStore(dir)).walRepairWouldDrop!.droppedSegments[0]).toBe(join(dir, 'wal', second!));
    await expectPreviewMatchesRepair(dir);
    // The repair made a new (smallest) segment for its marker where the damaged one was.
    expect(segments(dir)).toEqual([first, second]);
    expect(statSync(join(dir, 'wal', second!)).size).toBe(SEGMENT_BYTES_MIN);
  });

  it('a missing middle segment', async () => {
    const dir = await walStore();
    const names = segments(dir);
    rmSync(join(dir, 'wal', names[1]!));
    await expectPreviewMatchesRepair(dir);
  });

  it('an intact WAL: nothing would be dropped', async () => {
    const dir = await walStore();
    const report = await verifyStore(dir);
    expect(report.ok).toBe(true);
    expect(report.walRepairWouldDrop).toBeUndefined();
    expect(report.commits).toBe(600);
  });
});
