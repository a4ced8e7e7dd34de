/**
 * A failed `ladybug backup` leaves the target as it found it. A backup of a store whose
 * manifest lists a run file that is gone failed (LADYBUG_CORRUPTION, exit 1) but left the
 * target it had made holding empty runs/ and wal/ directories: a half backup at first
 * sight (verify: incomplete), and a second attempt into it refused (target-not-empty)
 * once anything more was there. Now, as pg_basebackup does, the command removes what
 * the failed backup created and only that: a target (and its parents) it made, or, in a
 * target that was an empty directory, the entries a backup writes.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store of two runs, the first run's file then removed: every backup of it fails after making its target's directories. */
async function storeMissingRun(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 100; index++) await store.put(`k${index}`, index);
  await store.checkpoint();
  for (let index = 0; index < 10; index++) await store.put(`m${index}`, index);
  await store.close();
  rmSync(join(directory, 'runs', '0000000001.run'));
  return directory;
}

async function healthyStore(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  await store.put('a', 1);
  await store.close();
  return directory;
}

describe('a failed ladybug backup', () => {
  it('removes the target and the parents it created; a second backup into the same path then succeeds', async () => {
    const damaged = await storeMissingRun();
    const parent = temporaryDirectory();
    const target = join(parent, 'new', 'backup');
    const result = await ladybug('backup', damaged, target);
    expectTypedFailure(result, 'backup');
    expect(result.stderr).toMatch(/run file missing.*\[LADYBUG_CORRUPTION\]/);
    expect(readdirSync(parent)).toEqual([]);
    const again = await ladybug('backup', await healthyStore(), target, '--json');
    expect(again.code, again.stderr).toBe(0);
    expect((await ladybug('verify', target)).code).toBe(0);
  }, 60_000);

  it('leaves a target that was an empty directory empty, and one that was not empty untouched', async () => {
    const damaged = await storeMissingRun();
    const empty = join(temporaryDirectory(), 'empty');
    mkdirSync(empty);
    expectTypedFailure(await ladybug('backup', damaged, empty), 'backup into an empty directory');
    expect(readdirSync(empty)).toEqual([]);

    const occupied = temporaryDirectory();
    mkdirSync(join(occupied, 'runs'));
    writeFileSync(join(occupied, 'runs', 'mine'), 'keep');
    writeFileSync(join(occupied, 'BACKUP.json'), 'mine too');
    const before = treeBytes(occupied);
    const refused = await ladybug('backup', damaged, occupied);
    expectTypedFailure(refused, 'backup into a directory that is not empty');
    expect(refused.stderr).toMatch(/target-not-empty|must be missing or empty/);
    expect(treeBytes(occupied)).toEqual(before);
    expect(existsSync(join(occupied, 'wal'))).toBe(false);
  }, 60_000);
});
