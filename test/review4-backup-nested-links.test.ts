/**
 * Nested backup paths through a symbolic link, the directory itself or a non-empty one
 * inside it (e676e89): restoreBackup(backup, <link to backup>) and
 * restoreBackup(backup, <link to backup/runs>) were BackupError 'target-not-empty', and
 * store.backup(<link to the store's directory>) too, where the same targets by path are
 * InvalidOptionError 'targetDirectory' naming both directories (api-backup-nested-paths):
 * the on-disk check ran after the emptiness check, so it saw only targets that were
 * missing or empty. Now it runs first: the answer does not depend on how the target is
 * spelled. A target that is neither (an unrelated non-empty directory) is still
 * 'target-not-empty'.
 */
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, ErrorCode, InvalidOptionError, openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function caught(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => undefined, (error: unknown) => error);
}

describe('nested backup paths through a symbolic link', () => {
  it('restore into a link to the backup, or to a non-empty directory inside it: InvalidOptionError, as by path', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    await store.put('a', 1);
    const parent = temporaryDirectory();
    const backup = join(parent, 'backup');
    await store.backup(backup);
    await store.close();
    const before = readdirSync(backup).sort();
    for (const [name, to] of [['link', backup], ['link-runs', join(backup, 'runs')]] as const) {
      const link = join(parent, name);
      symlinkSync(to, link);
      const error = await caught(() => restoreBackup(backup, link));
      expect(error, name).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'targetDirectory' });
      expect((error as Error).message).toContain(link);
      expect((error as Error).message).toContain(backup);
    }
    expect(readdirSync(backup).sort()).toEqual(before);
    expect((await verifyBackup(backup)).ok).toBe(true);
    // An unrelated non-empty target is still the emptiness refusal.
    const other = join(parent, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'file'), 'x');
    const notEmpty = await caught(() => restoreBackup(backup, other));
    expect(notEmpty).toBeInstanceOf(BackupError);
    expect(notEmpty).toMatchObject({ reason: 'target-not-empty' });
  });

  it('store.backup into a link to the store\'s own directory: InvalidOptionError, as by path', async () => {
    const dir = temporaryDirectory();
    const store = await openStore(dir);
    try {
      await store.put('a', 1);
      const link = join(temporaryDirectory(), 'link-to-store');
      symlinkSync(dir, link);
      const error = await caught(() => store.backup(link));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'targetDirectory' });
      expect((error as Error).message).toContain(link);
      expect((error as Error).message).toContain(dir);
      expect(await store.get('a')).toBe(1);
    } finally {
      await store.close();
    }
  });
});
