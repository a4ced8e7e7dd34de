/**
 * `ladybug repair --dry-run` on a backup directory is refused as `ladybug repair` (and every
 * command that opens a store) refuses it: BackupError 'not-a-store' (LADYBUG_BACKUP, exit 1),
 * nothing written. It took the directory lock of the backup as a store's (a LOCK file written
 * into the backup) and reported "nothing to drop from the WAL", exit 0, as if the backup were
 * a store that repair could work on, where `ladybug repair` of it is refused.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

afterEach(() => removeTemporaryDirectories());

function diskTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(root).sort()) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) Object.assign(out, { [`${path}/`]: '' }, diskTree(path));
    else out[path] = readFileSync(path).toString('hex');
  }
  return out;
}

describe('ladybug repair --dry-run on a backup directory', () => {
  beforeAll(buildCli, 120_000);

  it('is refused (exit 1, LADYBUG_BACKUP), text and --json, the backup unchanged; verify still checks it', async () => {
    const store = await openStore(temporaryDirectory());
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, { index });
    const backup = join(temporaryDirectory(), 'backup');
    await store.backup(backup);
    await store.close();
    const before = diskTree(backup);
    for (const extra of [[], ['--json']]) {
      const result = await ladybug('repair', backup, '--dry-run', ...extra);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^ladybug: .*not-a-store.*ladybug restore.*\[LADYBUG_BACKUP\]\n$/);
    }
    expect(diskTree(backup)).toEqual(before);
    expect((await ladybug('verify', backup)).code).toBe(0);
  }, 60_000);
});
