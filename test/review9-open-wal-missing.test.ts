/**
 * Review (review9): a store directory whose wal/ is gone while its manifest and runs are
 * there. The open made a fresh wal/ and opened the store without the acknowledged
 * commits after the last flush (seen: version 759 of 900, 141 puts gone), and new
 * commits then took their versions again. wal/ is created and synced before any manifest is
 * written, so no crash leaves this state: the open is now refused with CorruptionError
 * (as runs without a manifest are), writes nothing, and the store opens whole once wal/
 * is back. A new store, and a directory made by a crash before the manifest, still open.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;

/** Every file under `directory` with its bytes, by relative path. */
function snapshotFiles(directory: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (/LOCK\./.test(entry.name)) continue; // the directory lock's own file
    files.set(path.slice(directory.length), readFileSync(path).toString('base64'));
  }
  return files;
}

describe('open: a store whose wal/ directory is missing', () => {
  it('is refused with CorruptionError naming wal/, changing nothing; with wal/ back every commit is there', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024, checkpointOnClose: false });
    for (let index = 0; index < 600; index++) await store.put(key(index), index);
    await store.checkpoint(); // versions 1-600 in runs
    for (let index = 600; index < 900; index++) await store.put(key(index), index); // the last ones only in the WAL
    expect(store.version).toBe(900);
    await store.close();
    const saved = temporaryDirectory();
    cpSync(join(directory, 'wal'), join(saved, 'wal'), { recursive: true });
    rmSync(join(directory, 'wal'), { recursive: true });
    const before = snapshotFiles(directory);

    const refused = await openStore(directory).then(async (opened) => {
      const version = opened.version;
      await opened.close();
      return version;
    }, (error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect((refused as CorruptionError).code).toBe('LADYBUG_CORRUPTION');
    expect((refused as CorruptionError).file).toBe(join(directory, 'wal'));
    expect(existsSync(join(directory, 'wal'))).toBe(false);
    expect(snapshotFiles(directory)).toEqual(before);

    cpSync(join(saved, 'wal'), join(directory, 'wal'), { recursive: true });
    const reopened = await openStore(directory);
    expect(reopened.version).toBe(900);
    for (let index = 0; index < 900; index += 13) expect(await reopened.get(key(index))).toBe(index);
    expect(await reopened.get(key(899))).toBe(899);
    await reopened.close();
  });

  it('a new store in a missing or an empty directory opens, and so does one whose wal/ exists without a manifest', async () => {
    const fresh = join(temporaryDirectory(), 'store');
    const created = await openStore(fresh);
    await created.put('a', 1);
    await created.close();

    const empty = temporaryDirectory();
    const inEmpty = await openStore(empty);
    await inEmpty.put('a', 1);
    await inEmpty.close();

    const walOnly = temporaryDirectory(); // a crash after mkdir wal/, before the manifest
    mkdirSync(join(walOnly, 'wal'));
    const opened = await openStore(walOnly);
    expect(opened.version).toBe(0);
    await opened.close();
  });
});
