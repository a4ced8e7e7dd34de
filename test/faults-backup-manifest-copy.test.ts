/**
 * Fault review of restore (restore-backup.ts): a backup holds its store manifest as two
 * copies, MANIFEST-<g>.a and .b, byte for byte the same, and BACKUP.json certifies
 * each with the same size and checksum. One flipped bit (or a lost sector) in one copy
 * made the whole backup unrestorable: restore refused it with BackupError 'corrupt' and
 * verify said restorable: false, while the other copy held exactly the bytes the
 * backup certified for both. Restore now writes a damaged copy from an intact one with
 * the same certified size and checksum (no byte the backup did not certify), verify
 * reports such a copy as rebuildable, and damage to both copies is still refused.
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { BackupError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

const KEYS = 120;
const keyOf = (index: number) => `key-${String(index).padStart(4, '0')}`;
const valueOf = (index: number) => ({ index, text: 'm'.repeat(60 + (index % 11)) });

async function backedUp(): Promise<{ fileSystem: FaultFileSystem; copies: string[] }> {
  const fileSystem = new FaultFileSystem(11);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.compact({ retainFrom: 60 });
  await store.backup('/backup', { link: false });
  await store.close();
  const copies = (await fileSystem.readdir('/backup/manifest')).sort().map((name) => `/backup/manifest/${name}`);
  expect(copies).toHaveLength(2);
  return { fileSystem, copies };
}

async function expectRestoredExactly(fileSystem: FaultFileSystem, target: string): Promise<void> {
  const restored = await openStore(target, { fileSystem });
  try {
    for (let index = 0; index < KEYS; index++) expect(await restored.get(keyOf(index))).toEqual(valueOf(index));
  } finally {
    await restored.close();
  }
}

describe('a backup with one damaged manifest copy', () => {
  for (const which of [0, 1]) {
    it(`copy ${which === 0 ? 'a' : 'b'} with a flipped bit: verify says restorable, restore writes both copies from the intact one and the store opens exact`, async () => {
      const { fileSystem, copies } = await backedUp();
      const intact = await fileSystem.readFile(copies[1 - which]!);
      fileSystem.flipBit(copies[which]!, 40, 3);
      const report = await verifyBackup(fileSystem, '/backup');
      expect(report.ok).toBe(false);
      expect(report.restorable).toBe(true);
      expect(report.problems.map((problem) => [problem.path, problem.rebuildable])).toEqual([[copies[which]!.slice('/backup/'.length), true]]);
      const result = await restoreBackup(fileSystem, '/backup', '/restored');
      expect(result.manifestCopiesFromTwin).toEqual([copies[which]!.slice('/backup/'.length)]);
      for (const name of await fileSystem.readdir('/restored/manifest')) expect(await fileSystem.readFile(`/restored/manifest/${name}`)).toEqual(intact);
      await expectRestoredExactly(fileSystem, '/restored');
    });
  }

  it('a copy missing: restored from the other', async () => {
    const { fileSystem, copies } = await backedUp();
    await fileSystem.unlink(copies[0]!);
    expect((await verifyBackup(fileSystem, '/backup')).restorable).toBe(true);
    await restoreBackup(fileSystem, '/backup', '/restored');
    await expectRestoredExactly(fileSystem, '/restored');
  });

  it('both copies damaged: refused, nothing written', async () => {
    const { fileSystem, copies } = await backedUp();
    fileSystem.flipBit(copies[0]!, 40, 3);
    fileSystem.flipBit(copies[1]!, 50, 1);
    const report = await verifyBackup(fileSystem, '/backup');
    expect(report.restorable).toBe(false);
    const error = await restoreBackup(fileSystem, '/backup', '/restored').then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackupError);
    expect(await fileSystem.exists('/restored')).toBe(false);
  });
});
