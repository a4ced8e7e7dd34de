/**
 * Review 7, backup: "into a missing or empty directory outside the store's own
 * (InvalidOptionError otherwise)" held only for paths that name the store lexically.
 * Through a symbolic link the check compared two unrelated-looking paths and the
 * backup was written inside the store it copies (`<link to store>/bk`, `<link>/wal/bk`,
 * `<link to the store's parent>/store/bk`): deleting the store deleted its backup.
 * The target is now also checked on disk (the store's lock file among its physical
 * ancestors); a target outside, through a link too, is still accepted.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, restoreBackup } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('review7: a backup target inside the store through a symbolic link', () => {
  it('is refused with InvalidOptionError and nothing is created; targets outside still work', async () => {
    const root = temporaryDirectory();
    const storeDirectory = `${root}/store`;
    const store = await openStore(storeDirectory);
    try {
      for (let index = 0; index < 50; index++) await store.put(`k${index}`, index);
      symlinkSync(storeDirectory, `${root}/link`);
      symlinkSync(root, `${root}/alias`);
      const before = readdirSync(storeDirectory).sort();
      for (const target of [`${root}/link/bk`, `${root}/link/wal/bk`, `${root}/link/runs/bk/deeper`, `${root}/alias/store/bk`, `${root}/link/wal/../bk`]) {
        const error = await store.backup(target).then(() => undefined, (caught: unknown) => caught);
        expect(error, target).toBeInstanceOf(InvalidOptionError);
        expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
        expect((error as InvalidOptionError).option).toBe('targetDirectory');
      }
      expect(readdirSync(storeDirectory).sort()).toEqual(before);
      expect(existsSync(`${storeDirectory}/bk`) || existsSync(`${storeDirectory}/wal/bk`) || existsSync(`${storeDirectory}/runs/bk`)).toBe(false);
      // Outside the store, named through a link or beside another store: accepted.
      const other = await openStore(`${root}/other`);
      await other.close();
      mkdirSync(`${root}/outside`);
      const viaAlias = await store.backup(`${root}/alias/outside/bk`);
      const besideOther = await store.backup(`${root}/other/bk`);
      expect(viaAlias.version).toBe(store.version);
      expect(besideOther.version).toBe(store.version);
      const restored = await restoreBackup(`${root}/outside/bk`, `${root}/restored`);
      expect(restored.version).toBe(viaAlias.version);
    } finally {
      await store.close();
    }
  });
});
