/**
 * A backup's manifest is a new manifest as at a store's creation: manifest format 3 with
 * `reservedEntryCounts` (docs/FORMAT.md, "Backup directory"), whatever runs it names.
 * It carried the flag only when one of its runs had a reservedEntryCount, so the backup of
 * an empty store (and the store restored from it) had a format 1 manifest, unlike the
 * store it copied, until its first flush rewrote it.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup } from '../src/index.js';
import { Manifest } from '../src/manifest/manifest.js';

async function manifestState(fileSystem: FaultFileSystem, directory: string) {
  const manifest = await Manifest.open(fileSystem, directory, await loadHash64(), { create: false });
  try {
    return manifest.state;
  } finally {
    await manifest.close();
  }
}

describe('the manifest of a backup', () => {
  it('says reservedEntryCounts for an empty store and for one with runs, as the store does', async () => {
    const fileSystem = new FaultFileSystem(23);
    const store = await openStore('/db', { fileSystem });
    await store.backup('/empty');
    await store.put('a', 1);
    await store.backup('/one');
    await store.close();
    expect((await manifestState(fileSystem, '/db')).reservedEntryCounts).toBe(true);
    for (const backup of ['/empty', '/one']) {
      expect((await manifestState(fileSystem, backup)).reservedEntryCounts, backup).toBe(true);
      await restoreBackup(backup, `${backup}-restored`, { fileSystem });
      expect((await manifestState(fileSystem, `${backup}-restored`)).reservedEntryCounts, `${backup} restored`).toBe(true);
    }
    const restored = await openStore('/one-restored', { fileSystem });
    expect(await restored.get('a')).toBe(1);
    await restored.close();
  });
});
