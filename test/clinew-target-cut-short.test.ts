/**
 * `ladybug backup` or `restore` run again into the target a killed one left (a crash-recovery
 * script retrying): the directory holds BACKUP-INCOMPLETE (or an earlier release's
 * BACKUP-INCOMPLETE.tmp) beside what it had copied. Both refused it as "the backup target must be missing or empty" /
 * "restore needs a missing or empty target directory", which does not say the directory is
 * their own leftover or that deleting it is the way on (README: "delete it"). The refusal
 * keeps its code and status (LADYBUG_BACKUP target-not-empty, exit 1) and now says so; the
 * target is left as it was.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug backup and restore into the target a killed one left', () => {
  it('BACKUP-INCOMPLETE or .tmp in the target: refused naming the mark and saying to delete it', async () => {
    const root = temporaryDirectory();
    const store = join(root, 'data');
    const opened = await openStore(store);
    await opened.put('k', 'v');
    await opened.close();
    const backup = join(root, 'backup');
    expect((await ladybug('backup', store, backup)).code).toBe(0);
    for (const mark of ['BACKUP-INCOMPLETE', 'BACKUP-INCOMPLETE.tmp']) {
      const target = join(root, `left-${mark}`);
      mkdirSync(join(target, 'runs'), { recursive: true }); // what the killed one had copied
      writeFileSync(join(target, mark), 'in progress\n');
      for (const args of [['backup', store, target], ['restore', backup, target]]) {
        const result = await ladybug(...args);
        const what = `${args[0]!} into ${mark}`;
        expectTypedFailure(result, what);
        expect(result.stderr, what).toContain(`backup target-not-empty (${target}): `);
        expect(result.stderr, what).toContain(`it holds ${mark}, left by a backup or restore cut short: delete ${target} and run the ${args[0]!} again`);
        expect(readdirSync(target).sort(), what).toEqual([mark, 'runs']);
      }
    }
  });
});
