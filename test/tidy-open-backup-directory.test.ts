/**
 * openStore on a backup directory (BACKUP.json, or BACKUP-INCOMPLETE of one cut short):
 * it opened as a store, writing a LOCK file and a WAL segment into the backup (and
 * wal/ where a killed backup had none yet), so the backup no longer matched what it
 * was, and its next open or a later backup into it met a store. Now refused with
 * BackupError (LADYBUG_BACKUP, reason 'not-a-store') that points to restoreBackup /
 * `ladybug restore`, before anything is written; the CLI commands that open a store
 * refuse it the same way, and `ladybug verify` still checks it as a backup.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { BackupError, ErrorCode, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, cliPath, ladybug } from './support/cli-runner.js';

const run = promisify(execFile);

afterEach(() => removeTemporaryDirectories());

/** Every path under `root` (directories end in '/') with the bytes of each file, hex. */
async function tree(fileSystem: FileSystem, root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await fileSystem.readdir(root)).sort()) {
    const path = `${root}/${name}`;
    const entries = await fileSystem.readdir(path).then((names) => names, () => undefined);
    if (entries === undefined) out[path] = Buffer.from(await fileSystem.readFile(path)).toString('hex');
    else Object.assign(out, { [`${path}/`]: '' }, await tree(fileSystem, path));
  }
  return out;
}

function diskTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(root).sort()) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) Object.assign(out, { [`${path}/`]: '' }, diskTree(path));
    else out[path] = readFileSync(path).toString('hex');
  }
  return out;
}

async function refusal(call: () => Promise<unknown>): Promise<BackupError> {
  const error = await call().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(BackupError);
  expect((error as BackupError).code).toBe(ErrorCode.Backup);
  expect((error as BackupError).reason).toBe('not-a-store');
  expect((error as BackupError).message).toMatch(/restoreBackup.*ladybug restore/);
  return error as BackupError;
}

async function backedUpStore(fileSystem: FileSystem): Promise<number> {
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: 256 * 1024 });
  for (let index = 0; index < 200; index++) await store.put(`k${index}`, { index, text: 'v'.repeat(40) });
  const { version } = await store.backup('/backup');
  await store.close();
  return version;
}

describe('openStore on a backup directory', () => {
  it('refuses a finished backup, writing nothing; verify and restore still work', async () => {
    const fileSystem = new FaultFileSystem(11);
    const version = await backedUpStore(fileSystem);
    const before = await tree(fileSystem, '/backup');
    expect(Object.keys(before)).toContain('/backup/BACKUP.json');
    const error = await refusal(() => openStore('/backup', { fileSystem }));
    expect(error.path).toBe('/backup');
    await refusal(() => openStore('/backup/', { fileSystem, repair: true }));
    expect(await tree(fileSystem, '/backup')).toEqual(before);
    expect(await verifyBackup('/backup', { fileSystem })).toMatchObject({ ok: true, version });
    await restoreBackup('/backup', '/restored', { fileSystem });
    const restored = await openStore('/restored', { fileSystem });
    expect(restored.version).toBe(version);
    expect(await restored.get('k7')).toMatchObject({ index: 7 });
    await restored.close();
  });

  it('refuses a backup cut short (BACKUP-INCOMPLETE, no wal/ yet): creates no wal/ and no lock', async () => {
    const fileSystem = new FaultFileSystem(12);
    await fileSystem.mkdir('/killed');
    const handle = await fileSystem.open('/killed/BACKUP-INCOMPLETE', 'createExclusive');
    await handle.write(Buffer.from('incomplete'), 0);
    await handle.close();
    await fileSystem.mkdir('/killed/runs');
    const before = await tree(fileSystem, '/killed');
    await refusal(() => openStore('/killed', { fileSystem }));
    expect(await tree(fileSystem, '/killed')).toEqual(before);
  });
});

describe('the CLI commands that open a store, on a backup directory', () => {
  beforeAll(buildCli, 120_000);

  it('stats, scrub, compact and repair refuse it (exit 1, LADYBUG_BACKUP), change nothing; verify checks it', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 100; index++) await store.put(`k${index}`, { index });
    const backup = join(temporaryDirectory(), 'backup');
    await store.backup(backup);
    await store.close();
    const before = diskTree(backup);
    for (const command of [['stats'], ['scrub'], ['compact'], ['repair']]) {
      const result = await ladybug(...command, backup);
      expect(result.code, `${command[0]}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toMatch(/not-a-store.*ladybug restore.*\[LADYBUG_BACKUP\]/);
    }
    expect(diskTree(backup)).toEqual(before);
    const verified = JSON.parse((await run(process.execPath, [cliPath, 'verify', backup, '--json'])).stdout) as { ok: boolean };
    expect(verified.ok).toBe(true);
  }, 60_000);
});
