/**
 * CLI review: `ladybug verify` on a store whose manifest copies are gone while runs/
 * still holds its run files (a restored backup's WAL starts at segment 1, empty). Every
 * command that opens the store refuses it ("no manifest copy can be read, while runs/
 * holds 2 run files ... restore from a backup", LADYBUG_CORRUPTION, exit 1), yet verify
 * said `verify: ok` and exit 0, and `repair --dry-run` found nothing: verify read no
 * manifest and took the store for one that never flushed. Now verify reports the loss
 * as the open does (corruption naming manifest/, ok false, exit 1), writing nothing.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, restoreBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A restored backup of two runs (WAL empty, from segment 1), its manifest directory then removed. */
async function runsWithoutManifest(): Promise<string> {
  const source = temporaryDirectory();
  const store = await openStore(source);
  for (let index = 0; index < 200; index++) await store.put(`k${index}`, index);
  await store.checkpoint();
  for (let index = 0; index < 20; index++) await store.put(`m${index}`, index);
  const backup = join(temporaryDirectory(), 'backup');
  await store.backup(backup);
  await store.close();
  const restored = join(temporaryDirectory(), 'restored');
  await restoreBackup(backup, restored);
  rmSync(join(restored, 'manifest'), { recursive: true });
  return restored;
}

describe('ladybug verify: run files without a manifest', () => {
  it('verify and repair --dry-run report the lost manifest (exit 1) and write nothing; stats refuses it', async () => {
    const directory = await runsWithoutManifest();
    const before = treeBytes(directory);
    const verify = await ladybug('verify', directory, '--json');
    expect(verify.code, verify.stdout).toBe(1);
    const report = JSON.parse(verify.stdout) as { ok: boolean; corruption: { file: string; reason: string } | null };
    expect(report.ok).toBe(false);
    expect(report.corruption?.file).toBe(join(directory, 'manifest'));
    expect(report.corruption?.reason).toMatch(/no manifest copy can be read, while runs\/ holds 2 run files/);
    const text = await ladybug('verify', directory);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^verify: CORRUPTION FOUND/);
    const dryRun = await ladybug('repair', directory, '--dry-run', '--json');
    expect(dryRun.code, dryRun.stdout).toBe(1);
    expect((JSON.parse(dryRun.stdout) as { corruption: { reason: string } | null }).corruption?.reason).toMatch(/no manifest copy can be read/);
    expect(treeBytes(directory)).toEqual(before);
    expectTypedFailure(await ladybug('stats', directory), 'stats');
    expect(treeBytes(directory)).toEqual(before);
  });
});
