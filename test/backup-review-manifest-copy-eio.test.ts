/**
 * A backup's manifest copy that cannot be read (EIO: a bad sector on the backup's disk) is
 * damage its twin covers, as a flipped bit in it is (faults-backup-manifest-copy). Before,
 * restore failed with IoError and verify threw the same instead of a report, although the
 * other copy held exactly the bytes BACKUP.json certifies for both: the backup could not
 * be restored at all. Now restore writes the unreadable copy from its twin
 * (manifestCopiesFromTwin names it) and verify reports it restorable; both copies
 * unreadable is refused as a damaged manifest (BackupError 'corrupt'), nothing written.
 */
import { describe, expect, it } from 'vitest';
import { BackupError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';

const KEYS = 150;
const keyOf = (index: number) => `key-${String(index).padStart(4, '0')}`;

async function backedUp(seed: number): Promise<{ fileSystem: FaultFileSystem; copies: string[] }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), { index });
  await store.backup('/backup', { link: false });
  await store.close();
  const copies = (await fileSystem.readdir('/backup/manifest')).sort().map((name) => `/backup/manifest/${name}`);
  expect(copies).toHaveLength(2);
  return { fileSystem, copies };
}

describe('a backup manifest copy that cannot be read', () => {
  for (const which of [0, 1]) {
    it(`copy ${which === 0 ? 'a' : 'b'} fails every read with EIO: verify says restorable, restore writes it from its twin, the store opens exact`, async () => {
      const { fileSystem, copies } = await backedUp(40 + which);
      const unreadable = copies[which]!;
      const name = unreadable.slice('/backup/'.length);
      const intact = await fileSystem.readFile(copies[1 - which]!);
      const fault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: unreadable, persistent: true });

      const report = await verifyBackup('/backup', { fileSystem });
      expect(report.ok).toBe(false);
      expect(report.restorable).toBe(true);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ path: name, rebuildable: true });
      expect(report.problems[0]!.reason).toMatch(/EIO/);

      const restored = await restoreBackup('/backup', '/restored', { fileSystem });
      expect(restored.manifestCopiesFromTwin).toEqual([name]);
      expect(fault.triggeredCount).toBeGreaterThan(0);
      fault.remove();
      for (const copy of copies) expect(Buffer.from(await fileSystem.readFile(copy.replace('/backup/', '/restored/')))).toEqual(Buffer.from(intact));
      const store = await openStore('/restored', { fileSystem });
      for (let index = 0; index < KEYS; index++) expect(await store.get(keyOf(index))).toEqual({ index });
      await store.close();
    });
  }

  it('both copies unreadable: verify says not restorable, restore refuses with BackupError corrupt and writes nothing', async () => {
    const { fileSystem, copies } = await backedUp(42);
    for (const copy of copies) fileSystem.injectFault({ operation: 'read', error: 'EIO', path: copy, persistent: true });
    const report = await verifyBackup('/backup', { fileSystem });
    expect(report.restorable).toBe(false);
    expect(report.problems.map((problem) => problem.rebuildable)).toEqual([false, false]);
    const refused = await restoreBackup('/backup', '/restored', { fileSystem }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as BackupError).reason).toBe('corrupt');
    expect(await fileSystem.exists('/restored')).toBe(false);
  });
});
