/**
 * CLI review: `ladybug backup` of a store whose manifest lists a run file that is gone.
 * The backup took the missing file (ENOENT) for a run compaction had just replaced and
 * started again from the manifest's state, which still listed it, five times, then said
 * "backup runs-changed: compaction replaced the runs 5 times during the backup"
 * (LADYBUG_BACKUP), blaming a compaction that never ran; store.backup() the same. The
 * store's reads say "run file missing: the manifest lists run 1" (LADYBUG_CORRUPTION).
 * Now a run file missing while the manifest's current state still lists it is that
 * CorruptionError at once; a run a compaction replaced (the state moved on) still restarts.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError, openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store of two runs, the first run's file then removed. */
async function storeMissingRun(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 200; index++) await store.put(`k${index}`, index);
  await store.checkpoint();
  for (let index = 0; index < 20; index++) await store.put(`m${index}`, index);
  await store.close();
  rmSync(join(directory, 'runs', '0000000001.run'));
  return directory;
}

describe('backup of a store missing a run file', () => {
  it('ladybug backup fails with the CorruptionError naming the run (exit 1), the store unchanged', async () => {
    const directory = await storeMissingRun();
    const before = treeBytes(directory);
    const target = join(temporaryDirectory(), 'backup');
    const result = await ladybug('backup', directory, target);
    expectTypedFailure(result, 'backup');
    expect(existsSync(target)).toBe(false); // the failed attempt removed the target it made (cli-left-backup-failed)
    expect(result.stderr).toMatch(/run file missing: the manifest lists run 1 \[LADYBUG_CORRUPTION\]/);
    expect(treeBytes(directory)).toEqual(before);
  });

  it('store.backup() rejects with CorruptionError naming the run file', async () => {
    const directory = await storeMissingRun();
    const store = await openStore(directory);
    try {
      const error = await store.backup(join(temporaryDirectory(), 'backup')).then(() => undefined, (failure: unknown) => failure);
      expect(error).toBeInstanceOf(CorruptionError);
      expect((error as CorruptionError).file).toBe(join(directory, 'runs', '0000000001.run'));
      expect((error as Error).message).toMatch(/run file missing: the manifest lists run 1/);
    } finally {
      await store.close();
    }
  });
});
