/**
 * A path that is a file where backup, verify or restore expects a directory (the path
 * itself, or one of its ancestors): store.backup(file) and verifyBackup(file) failed
 * with an IoError ENOTDIR from deep inside (a readdir or a stat of BACKUP.json), and so
 * did restoreBackup from or into a file; verifyBackup(file/x) too. Each is now an
 * InvalidOptionError naming the argument (`option`) and the path, saying which path is
 * a file, before anything is done: the file is unchanged, nothing is created next to it,
 * the store does not checkpoint. A missing backup directory is still a report
 * ('incomplete') for verify and BackupError 'incomplete' for restore.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BackupError, ErrorCode, InvalidOptionError, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function refusal(call: () => Promise<unknown>, option: string, message: string): Promise<void> {
  const error = await call().then(() => undefined, (caught: unknown) => caught);
  expect(error, message).toBeInstanceOf(InvalidOptionError);
  expect(error, message).toMatchObject({ code: ErrorCode.InvalidOption, option });
  expect((error as Error).message).toContain(message);
}

/** A directory holding one file `file` ("mine"). */
function fileInDirectory(): { parent: string; file: string } {
  const parent = temporaryDirectory();
  const file = join(parent, 'file');
  writeFileSync(file, 'mine');
  return { parent, file };
}

function unchanged(parent: string, file: string): void {
  expect(readdirSync(parent)).toEqual(['file']);
  expect(readFileSync(file, 'utf8')).toBe('mine');
}

describe('backup, verify and restore: a file where a directory is expected', () => {
  it('store.backup into a file, or below one: InvalidOptionError targetDirectory, nothing written, no checkpoint', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    const { parent, file } = fileInDirectory();
    expect(store.stats().storage.runs).toBe(0);
    await refusal(() => store.backup(file), 'targetDirectory', `${file} is a file, not a directory`);
    await refusal(() => store.backup(join(file, 'sub', 'deeper')), 'targetDirectory', `${join(file, 'sub', 'deeper')} is not a directory: ${file} is a file`);
    unchanged(parent, file);
    expect(store.stats().storage.runs).toBe(0); // a backup checkpoints first: none ran
    expect(await store.get('a')).toBe(1);
    expect((await store.backup(join(parent, 'backup'))).version).toBe(1);
    await store.close();
  });

  it('verifyBackup and restoreBackup from a file, restoreBackup into one: InvalidOptionError naming the argument', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    const backup = join(temporaryDirectory(), 'backup');
    await store.backup(backup);
    await store.close();
    const { parent, file } = fileInDirectory();
    await refusal(() => verifyBackup(file), 'backupDirectory', `${file} is a file, not a directory`);
    await refusal(() => verifyBackup(join(file, 'x')), 'backupDirectory', `${join(file, 'x')} is not a directory: ${file} is a file`);
    const target = join(temporaryDirectory(), 'target');
    await refusal(() => restoreBackup(file, target), 'backupDirectory', `${file} is a file, not a directory`);
    await refusal(() => restoreBackup(backup, file), 'targetDirectory', `${file} is a file, not a directory`);
    await refusal(() => restoreBackup(backup, join(file, 'restored')), 'targetDirectory', `${join(file, 'restored')} is not a directory: ${file} is a file`);
    unchanged(parent, file);
    expect(readdirSync(join(target, '..'))).toEqual([]);
    // What is not a file is answered as before.
    const missing = join(temporaryDirectory(), 'none');
    expect(await verifyBackup(missing)).toMatchObject({ ok: false, restorable: false });
    expect(await restoreBackup(missing, target).catch((error: unknown) => error)).toBeInstanceOf(BackupError);
    expect((await verifyBackup(backup)).ok).toBe(true);
    expect((await restoreBackup(backup, target)).version).toBe(1);
  });

  it('the same on the in-memory file system', async () => {
    const fileSystem = new FaultFileSystem(3);
    const store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
    const handle = await fileSystem.open('/file', 'createExclusive');
    await handle.close();
    await refusal(() => store.backup('/file'), 'targetDirectory', '/file is a file, not a directory');
    await refusal(() => store.backup('/file/sub'), 'targetDirectory', '/file/sub is not a directory: /file is a file');
    await store.backup('/backup');
    await store.close();
    await refusal(() => verifyBackup('/file/sub', { fileSystem }), 'backupDirectory', '/file/sub is not a directory: /file is a file');
    await refusal(() => restoreBackup('/backup', '/file', { fileSystem }), 'targetDirectory', '/file is a file, not a directory');
    expect((await verifyBackup('/backup', { fileSystem })).ok).toBe(true);
  });
});
