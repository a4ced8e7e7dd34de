/**
 * A backup (and a restore) into a directory whose parents are missing survives a power
 * loss once it resolved. FileSystem#mkdir makes the missing parents too, and the backup's
 * makeDirectory fsynced only the target's own parent, so a parent it had made was not
 * durable in its grandparent: after a crash that drops what was not synced, the whole
 * backup was gone (found by model-backup-parity-random, seed 9: a backup into
 * /backups/b1, /backups new, then a crash; the restore step met ENOENT on /backups/b1/runs).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';

describe('backup and restore into missing parents: durable once resolved', () => {
  it('a backup into /backups/deep/b1 (/backups new) is whole after a crash dropping unsynced state', async () => {
    let fileSystem = new FaultFileSystem(1);
    const store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
    const { version } = await store.backup('/backups/deep/b1', { link: false });
    await store.close();
    fileSystem = fileSystem.crash('drop-unsynced');
    const report = await verifyBackup('/backups/deep/b1', { fileSystem });
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    expect(report.version).toBe(version);
  });

  it('a restore into /restored/deep/r1 (/restored new) opens after a crash dropping unsynced state', async () => {
    let fileSystem = new FaultFileSystem(2);
    const store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
    await store.backup('/b1', { link: false });
    await store.close();
    await restoreBackup('/b1', '/restored/deep/r1', { fileSystem });
    fileSystem = fileSystem.crash('drop-unsynced');
    const restored = await openStore('/restored/deep/r1', { fileSystem });
    expect(await restored.get('a')).toBe(1);
    await restored.close();
  });
});
