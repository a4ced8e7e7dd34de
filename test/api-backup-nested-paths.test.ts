/**
 * Backup and restore paths that nest: restoreBackup(backup, target) with the target
 * inside the backup directory, equal to it, or holding it; store.backup(dir) with dir
 * the store's own directory or one holding it (dir inside the store was refused
 * already). Each is refused up front with InvalidOptionError naming both paths, and
 * nothing is created or changed: the backup still verifies, the store still opens.
 */
import { existsSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function refusal(call: () => Promise<unknown>, option: string, paths: string[]): Promise<void> {
  const error = await call().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option });
  for (const path of paths) expect((error as Error).message).toContain(path);
}

async function storeWithBackup(): Promise<{ dir: string; parent: string; backup: string }> {
  const dir = temporaryDirectory();
  const store = await openStore(dir);
  await store.put('a', 1);
  const parent = temporaryDirectory();
  const backup = join(parent, 'backup');
  await store.backup(backup);
  await store.close();
  return { dir, parent, backup };
}

describe('restoreBackup: target and backup directories that nest', () => {
  it('a target inside the backup directory: refused, nothing created, the backup intact', async () => {
    const { backup } = await storeWithBackup();
    const before = readdirSync(backup).sort();
    for (const target of [join(backup, 'restored'), join(backup, 'a', 'b'), join(backup, 'runs', 'x'), `${backup}/./restored`]) {
      await refusal(() => restoreBackup(backup, target), 'targetDirectory', [target, backup]);
    }
    expect(readdirSync(backup).sort()).toEqual(before);
    expect(existsSync(join(backup, 'restored'))).toBe(false);
    expect((await verifyBackup(backup)).ok).toBe(true);
  });

  it('the target is the backup directory, or holds it: refused with InvalidOptionError', async () => {
    const { parent, backup } = await storeWithBackup();
    await refusal(() => restoreBackup(backup, backup), 'targetDirectory', [backup]);
    await refusal(() => restoreBackup(backup, `${backup}/`), 'targetDirectory', [backup]);
    await refusal(() => restoreBackup(backup, parent), 'targetDirectory', [parent, backup]);
    expect((await verifyBackup(backup)).ok).toBe(true);
    // An unrelated target still restores.
    const target = join(temporaryDirectory(), 'restored');
    expect((await restoreBackup(backup, target)).version).toBe(1);
  });
});

describe('restoreBackup: a target inside the backup through a symbolic link', () => {
  it('is refused with InvalidOptionError and nothing is created; a target outside through a link restores', async () => {
    const { parent, backup } = await storeWithBackup();
    const root = temporaryDirectory();
    symlinkSync(backup, join(root, 'link'));
    symlinkSync(parent, join(root, 'alias'));
    const before = readdirSync(backup).sort();
    for (const target of [join(root, 'link', 'restored'), join(root, 'link', 'runs', 'r', 's'), join(root, 'alias', 'backup', 'restored')]) {
      await refusal(() => restoreBackup(backup, target), 'targetDirectory', [target, backup]);
    }
    expect(readdirSync(backup).sort()).toEqual(before);
    expect((await restoreBackup(join(root, 'link'), join(root, 'alias', 'restored'))).version).toBe(1);
    expect(readdirSync(parent).sort()).toEqual(['backup', 'restored']);
  });
});

describe('store.backup: a target that is the store directory or holds it', () => {
  it('refused with InvalidOptionError naming both paths; the store unchanged', async () => {
    const parent = temporaryDirectory();
    const dir = join(parent, 'store');
    const store = await openStore(dir);
    await store.put('a', 1);
    const runs = store.stats().storage.runs;
    await refusal(() => store.backup(dir), 'targetDirectory', [dir]);
    await refusal(() => store.backup(parent), 'targetDirectory', [parent, dir]);
    await refusal(() => store.backup(join(dir, 'sub')), 'targetDirectory', [join(dir, 'sub'), dir]);
    expect(store.stats().storage.runs).toBe(runs); // no checkpoint ran
    expect(readdirSync(parent)).toEqual(['store']);
    await store.close();
  });
});
