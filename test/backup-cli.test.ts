/**
 * `ladybug backup <dir> <target>`, `ladybug restore <backup> <dir>` and `ladybug
 * verify <backup>`: --json reports, a non-empty restore target refused (exit 1, one
 * line with the error code), a damaged backup reported by verify, its block rebuilt
 * from parity by restore (and reported), damage beyond parity refused, and the restored
 * store reads the same.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath, ladybug } from './support/cli-runner.js';

const run = promisify(execFile);

afterEach(() => removeTemporaryDirectories());

beforeAll(buildCli, 120_000);

describe('ladybug backup and restore', () => {
  it('backs up, verifies and restores with --json; refuses a non-empty target and a damaged backup', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
    for (let index = 0; index < 300; index++) await store.put(`k${index}`, { index });
    const version = store.version;
    await store.close();

    const backup = join(temporaryDirectory(), 'backup');
    const backedUp = JSON.parse((await run(process.execPath, [cliPath, 'backup', directory, backup, '--json'])).stdout) as { version: number; files: number; linkedFiles: number };
    expect(backedUp.version).toBe(version);
    expect(backedUp.linkedFiles).toBeGreaterThan(0);
    const copied = JSON.parse((await run(process.execPath, [cliPath, 'backup', directory, join(temporaryDirectory(), 'copied'), '--copy', '--json'])).stdout) as { linkedFiles: number; copiedFiles: number; files: number };
    // Every file of a --copy backup is copied. Not compared with the first backup's count: each CLI run opens
    // the store, and a 256 KiB budget leaves many runs for the open's background compaction to merge meanwhile.
    expect(copied.files).toBeGreaterThan(0);
    expect(copied).toMatchObject({ linkedFiles: 0, copiedFiles: copied.files });
    const verified = JSON.parse((await run(process.execPath, [cliPath, 'verify', backup, '--json'])).stdout) as { ok: boolean; version: number };
    expect(verified).toMatchObject({ ok: true, version });

    const occupied = temporaryDirectory();
    writeFileSync(join(occupied, 'keep'), 'x');
    const refused = await ladybug('restore', backup, occupied);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/target-not-empty.*\[LADYBUG_BACKUP\]/);

    const target = join(temporaryDirectory(), 'restored');
    const restored = JSON.parse((await run(process.execPath, [cliPath, 'restore', backup, target, '--json'])).stdout) as { version: number };
    expect(restored.version).toBe(version);
    const reopened = await openStore(target);
    for (let index = 0; index < 300; index++) expect(await reopened.get(`k${index}`)).toEqual({ index });
    await reopened.close();

    // Damage a copy of a run in the backup (the original was hard-linked to the store's file).
    const runName = readdirSync(join(backup, 'runs'))[0]!;
    const runPath = join(backup, 'runs', runName);
    const bytes = readFileSync(runPath);
    rmSync(runPath);
    bytes[10]! ^= 0x01;
    writeFileSync(runPath, bytes);
    // Damaged, but restore rebuilds it exactly: exit 3, and the report says so.
    const damaged = await ladybug('verify', backup, '--json');
    expect(damaged.code).toBe(3);
    expect(JSON.parse(damaged.stdout)).toMatchObject({ ok: false, restorable: true, problems: [{ path: `runs/${runName}`, rebuildable: true }] });
    const damagedText = await ladybug('verify', backup);
    expect(damagedText.code).toBe(3);
    expect(damagedText.stdout.split('\n')[0]).toMatch(/^verify backup: DAMAGED, RESTORABLE: restore rebuilds 1 damaged blocks from parity and restores the backup exactly; take a new backup/);
    // One damaged block: rebuilt from parity in the restored copy, and reported.
    const rebuilt = await run(process.execPath, [cliPath, 'restore', backup, join(temporaryDirectory(), 'rebuilt')]);
    expect(rebuilt.stdout.split('\n')[0]).toMatch(/^restored version \d+ into .*, 1 damaged blocks of the backup rebuilt from parity$/);
    // Two damaged pages of one stripe: beyond parity, refused.
    rmSync(runPath);
    bytes[4096 + 10]! ^= 0x01;
    writeFileSync(runPath, bytes);
    const fatal = await ladybug('verify', backup);
    expect(fatal.code).toBe(1);
    expect(fatal.stdout.split('\n')[0]).toBe('verify backup: CORRUPTION FOUND, NOT RESTORABLE: restore refuses this backup');
    expect(fatal.stdout).toMatch(/not rebuildable from parity/);
    const refusedDamaged = await ladybug('restore', backup, join(temporaryDirectory(), 'again'));
    expect(refusedDamaged.code).toBe(1);
    expect(refusedDamaged.stderr).toMatch(/not rebuildable from parity.*\[LADYBUG_CORRUPTION\]/);
  }, 120_000);
});
