/**
 * verifyBackup (and so `ladybug verify <backup>`) names the offset of the damage in a
 * backup's manifest copy. A copy with a flipped byte was reported as 'checksum mismatch'
 * and nothing more, though its twin (the other copy, the same certified bytes) shows
 * where it differs; a damaged run names its blocks' offsets, a manifest copy named none.
 * Now the problem says the first offset at which the copy differs from its twin, also
 * when both copies are damaged (where the two differ), and restore's refusal of two damaged
 * copies names it too.
 */
import { describe, expect, it } from 'vitest';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { BackupError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';

async function backedUp(): Promise<{ fileSystem: FaultFileSystem; copies: string[] }> {
  const fileSystem = new FaultFileSystem(17);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < 80; index++) await store.put(`key-${index}`, { index, text: 'o'.repeat(50) });
  await store.backup('/backup');
  await store.close();
  const copies = (await fileSystem.readdir('/backup/manifest')).sort().map((name) => `/backup/manifest/${name}`);
  expect(copies).toHaveLength(2);
  return { fileSystem, copies };
}

describe('a damaged manifest copy of a backup', () => {
  for (const which of [0, 1]) {
    it(`copy ${which === 0 ? 'a' : 'b'}, a bit flipped at 57: verify names offset 57`, async () => {
      const { fileSystem, copies } = await backedUp();
      fileSystem.flipBit(copies[which]!, 57, 2);
      const report = await verifyBackup(fileSystem, '/backup');
      expect(report.restorable).toBe(true);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]!.path).toBe(copies[which]!.slice('/backup/'.length));
      expect(report.problems[0]!.reason).toMatch(/offset 57\b/);
    });
  }

  it('both copies damaged: verify and restore name where the copies differ', async () => {
    const { fileSystem, copies } = await backedUp();
    fileSystem.flipBit(copies[0]!, 91, 0);
    fileSystem.flipBit(copies[1]!, 120, 5);
    const report = await verifyBackup(fileSystem, '/backup');
    expect(report.restorable).toBe(false);
    expect(report.problems.map((problem) => problem.reason)).toEqual([expect.stringMatching(/offset 91\b/), expect.stringMatching(/offset 91\b/)]);
    const error = await restoreBackup(fileSystem, '/backup', '/restored').then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as Error).message).toMatch(/offset 91\b/);
    expect(await fileSystem.exists('/restored')).toBe(false);
  });
});
