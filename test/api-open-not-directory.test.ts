/**
 * openStore(path) where the path is a file, or lies below one: an IoError ENOTDIR
 * ("open ... failed: ENOTDIR: not a directory, stat '<file>/wal'"), which read as a
 * failure of the disk. Now InvalidOptionError 'directory' saying which path is a file,
 * as backup and restore refuse theirs (api-backup-not-directory): nothing is created,
 * the file is unchanged, and the same path as a directory opens.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { optionRefusal } from './support/option-refusal.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('openStore: a file where the store directory is expected', () => {
  it('the path is a file, or below one: InvalidOptionError directory, nothing created', async () => {
    const parent = temporaryDirectory();
    const file = join(parent, 'file');
    writeFileSync(file, 'mine');
    const atFile = await optionRefusal(() => openStore(file));
    expect(atFile.option).toBe('directory');
    expect(atFile.message).toContain(`${file} is a file, not a directory`);
    const below = await optionRefusal(() => openStore(join(file, 'store', 'deeper')));
    expect(below.option).toBe('directory');
    expect(below.message).toContain(`${join(file, 'store', 'deeper')} is not a directory: ${file} is a file`);
    expect(readdirSync(parent)).toEqual(['file']);
    expect(readFileSync(file, 'utf8')).toBe('mine');
    const store = await openStore(join(parent, 'store'));
    await store.put('a', 1);
    await store.close();
  });

  it('the same on the in-memory file system', async () => {
    const fileSystem = new FaultFileSystem(5);
    const handle = await fileSystem.open('/file', 'createExclusive');
    await handle.close();
    const atFile = await optionRefusal(() => openStore('/file', { fileSystem }));
    expect(atFile.message).toContain('/file is a file, not a directory');
    const below = await optionRefusal(() => openStore('/file/store', { fileSystem }));
    expect(below.message).toContain('/file/store is not a directory: /file is a file');
    expect(await fileSystem.readdir('/')).toEqual(['file']);
  });
});
