/**
 * `ladybug` on a directory that holds only a backup's mark: `BACKUP-INCOMPLETE` (a backup or
 * restore killed part way) or an earlier release's `BACKUP-INCOMPLETE.tmp` (killed before its
 * rename). The store's open refuses both as a backup directory (src/backup/backup-marks.ts,
 * BackupError 'not-a-store'), and README says every command that opens a store does; but the
 * commands checked for wal/ or a manifest copy first and said "no ladybug store at DIR" (exit 2),
 * and `verify` took the BACKUP-INCOMPLETE one for an unfinished backup (exit 1) and the .tmp one
 * for no store at all (exit 2). Every command now refuses both as the open does: one line naming
 * the directory and its mark and saying what to do (delete it, take the backup or restore again),
 * LADYBUG_BACKUP, exit 1; `verify` reports both as an unfinished backup; nothing is written.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { expectTypedFailure, treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** Every name under `directory`, lock files included: a refused command must not even take the lock. */
function allNames(directory: string): string[] {
  return readdirSync(directory, { recursive: true }).map(String).sort();
}

describe('ladybug on a directory holding only a backup mark', () => {
  for (const mark of ['BACKUP-INCOMPLETE', 'BACKUP-INCOMPLETE.tmp']) {
    it(`${mark} alone: every command refuses it as an unfinished backup (exit 1, LADYBUG_BACKUP), writing nothing`, async () => {
      const root = temporaryDirectory();
      const directory = join(root, 'cut-short');
      mkdirSync(directory);
      writeFileSync(join(directory, mark), 'backup in progress\n');
      const before = treeBytes(directory);
      const names = allNames(directory);
      const commands = [
        ['stats', directory], ['get', directory, 'k'], ['history', directory, 'k'], ['dump', directory], ['leases', directory],
        ['watch', directory], ['scrub', directory], ['compact', directory], ['repair', directory], ['repair', directory, '--dry-run'],
        ['backup', directory, join(root, 'copy')], ['unlock', directory, '--force'],
      ];
      const results = await Promise.all(commands.map((args) => ladybug(...args))); // none writes: they may run together
      for (const [index, args] of commands.entries()) {
        const what = `${args.join(' ')} (${mark})`;
        const result = results[index]!;
        expectTypedFailure(result, what);
        expect(result.stderr, what).toContain(directory);
        expect(result.stderr, what).toContain(`it holds ${mark}`);
        expect(result.stderr, what).toMatch(/cut short.*delete it/);
        expect(result.stderr, what).toMatch(/\[LADYBUG_BACKUP\]$/m);
      }
      expect(allNames(directory), 'files written').toEqual(names);
      expect(readdirSync(root)).toEqual(['cut-short']);
      for (const json of [false, true]) {
        const result = await ladybug('verify', directory, ...(json ? ['--json'] : []));
        expect(result.code, result.stderr).toBe(1);
        if (json) expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, restorable: false });
        else expect(result.stdout).toMatch(/^verify backup: .*NOT RESTORABLE/);
      }
      expect(treeBytes(directory)).toEqual(before);
      expect(allNames(directory)).toEqual(names);
    });
  }

  it('BACKUP-INCOMPLETE.tmp beside a store an open made: still a store, as the open takes it', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    await store.put('k', 'kept');
    await store.close();
    writeFileSync(join(directory, 'BACKUP-INCOMPLETE.tmp'), 'backup in progress\n');
    const got = await ladybug('get', directory, 'k', '--json');
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ found: true, value: 'kept' });
    const verified = await ladybug('verify', directory, '--json');
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
  });
});
