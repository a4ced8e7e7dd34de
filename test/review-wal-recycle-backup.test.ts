/**
 * Review of WAL format 2 (19b338d): backup and restore of a store whose wal/ holds
 * recycled pool files and segments made from them. The backup copies runs and a fresh
 * manifest only (its WAL starts empty at segment 1), so no pool file travels with it;
 * the restored store's segment 1 is new, and a later segment number it reaches (2, 3,
 * ...) is made only from its own pool, never from the source's files, whose records
 * carry the same use tags. Checked: the restored wal/ starts without pool files, the
 * source keeps writing and recycling after the backup, and both read back exactly after
 * reopens, through several flushes of the restored store.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreBackup } from '../src/index.js';
import { openStore } from '../src/store/open-store.js';

const OPTIONS = { segmentSizeBytes: 64 * 1024, memoryBudgetBytes: 256 * 1024 } as const;

function valueOf(round: number, index: number): string {
  return `${round}:${index}:`.padEnd(900, 'b');
}

describe('backup and restore with a recycled pool', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it('the backup carries no pool file; source and restored store each recycle their own files and read back exactly', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ladybug-review-backup-'));
    directories.push(root);
    const source = join(root, 'source');
    const backup = join(root, 'backup');
    const restored = join(root, 'restored');
    const store = await openStore(source, OPTIONS);
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 120; index++) await store.put(`key-${index}`, valueOf(round, index));
      await store.checkpoint();
    }
    expect(readdirSync(join(source, 'wal')).some((name) => name.startsWith('recycled-'))).toBe(true);
    await store.backup(backup);
    // The source goes on after the backup: these are not in it.
    for (let index = 0; index < 120; index++) await store.put(`key-${index}`, valueOf(9, index));
    await store.close();

    await restoreBackup(backup, restored);
    expect(readdirSync(join(restored, 'wal')).filter((name) => name.startsWith('recycled-'))).toEqual([]);
    const copy = await openStore(restored, OPTIONS);
    for (let index = 0; index < 120; index++) expect(await copy.get(`key-${index}`)).toBe(valueOf(2, index));
    // The restored store's own log: segments from 1 up, recycled from its own pool.
    for (let round = 3; round < 6; round++) {
      for (let index = 0; index < 120; index++) await copy.put(`key-${index}`, valueOf(round, index));
      await copy.checkpoint();
    }
    expect(readdirSync(join(restored, 'wal')).some((name) => name.startsWith('recycled-'))).toBe(true);
    for (let index = 0; index < 60; index++) await copy.put(`key-${index}`, valueOf(6, index));
    await copy.close();
    const reopened = await openStore(restored, OPTIONS);
    for (let index = 0; index < 120; index++) expect(await reopened.get(`key-${index}`)).toBe(valueOf(index < 60 ? 6 : 5, index));
    await reopened.close();
    const sourceAgain = await openStore(source, OPTIONS);
    for (let index = 0; index < 120; index++) expect(await sourceAgain.get(`key-${index}`)).toBe(valueOf(9, index));
    await sourceAgain.close();
  });
});
