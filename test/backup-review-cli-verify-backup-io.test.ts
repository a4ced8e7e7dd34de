/**
 * `ladybug verify <backup>` fails an I/O error as every command does: one line with the
 * typed error's code (LADYBUG_IO), as `ladybug restore` of the same backup already did.
 * It printed the raw Node error without a code ('ladybug: EISDIR: illegal operation on a
 * directory, read') for a backup whose BACKUP.json or one of whose run files is a directory
 * (what a file system hands back for a damaged or hand-edited backup): the command called
 * the internal verifyBackup, outside the typing the public verifyBackup and restore do.
 */
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

describe('ladybug verify of a backup that cannot be read', () => {
  it('a directory where BACKUP.json or a run file should be: exit 1, one line with LADYBUG_IO', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 100; index++) await store.put(`k${index}`, index);
    const backup = join(temporaryDirectory(), 'backup');
    await store.backup(backup, { link: false });
    await store.close();

    const manifestDirectory = join(temporaryDirectory(), 'b1');
    cpSync(backup, manifestDirectory, { recursive: true });
    rmSync(join(manifestDirectory, 'BACKUP.json'));
    mkdirSync(join(manifestDirectory, 'BACKUP.json'));
    const runDirectory = join(temporaryDirectory(), 'b2');
    cpSync(backup, runDirectory, { recursive: true });
    rmSync(join(runDirectory, 'runs', '0000000001.run'));
    mkdirSync(join(runDirectory, 'runs', '0000000001.run'));

    for (const damaged of [manifestDirectory, runDirectory]) {
      for (const args of [[], ['--json']]) {
        const result = await ladybug('verify', damaged, ...args);
        expectTypedFailure(result, `verify ${damaged} ${args.join(' ')}`);
        expect(result.stderr).toMatch(/\[LADYBUG_IO\]/);
      }
      expectTypedFailure(await ladybug('restore', damaged, join(temporaryDirectory(), 'restored')), `restore ${damaged}`);
    }
    expect((await ladybug('verify', backup)).code).toBe(0);
  }, 60_000);
});
