/**
 * A backup's run file with an unreadable page (EIO at that offset every time: a bad sector
 * on the backup's disk) is damage its stripe's parity rebuilds, as a flipped bit in it is.
 * Before, restore failed with IoError and verify threw the same instead of a report, though
 * parity held the page: the backup, the last copy, could not be restored. Now verify says
 * the run is rebuildable and restore writes it byte for byte as BACKUP.json certifies
 * (`repaired` names the block); two bad pages in one stripe are beyond parity: verify says
 * not restorable, restore refuses with CorruptionError naming the backup's run and the
 * offset, and writes nothing.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

const KEYS = 400;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'b'.repeat(90) });

async function backedUp(seed: number): Promise<{ fileSystem: FaultFileSystem; run: string; bytes: Buffer }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.backup('/backup', { link: false });
  await store.close();
  const [name] = await fileSystem.readdir('/backup/runs');
  const run = `/backup/runs/${name}`;
  const bytes = Buffer.from(await fileSystem.readFile(run));
  expect(bytes.length).toBeGreaterThan(6 * RUN_PAGE_BYTES);
  return { fileSystem, run, bytes };
}

describe('a backup run with an unreadable page', () => {
  for (const page of [1, 2, 3]) {
    it(`page ${page} fails every read with EIO: verify says rebuildable, restore writes the run exactly, the store opens exact`, async () => {
      const { fileSystem, run, bytes } = await backedUp(50 + page);
      const bad = new BadSectorFileSystem(fileSystem);
      bad.markBad(run, page * RUN_PAGE_BYTES + 100, page * RUN_PAGE_BYTES + 108);

      const report = await verifyBackup('/backup', { fileSystem: bad });
      expect(report.ok).toBe(false);
      expect(report.restorable, JSON.stringify(report.problems)).toBe(true);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ path: run.slice('/backup/'.length), rebuildable: true });

      const restored = await restoreBackup('/backup', '/restored', { fileSystem: bad });
      expect(restored.repaired.length).toBeGreaterThan(0);
      expect(Buffer.from(await fileSystem.readFile(run.replace('/backup/', '/restored/')))).toEqual(bytes);
      const store = await openStore('/restored', { fileSystem });
      for (let index = 0; index < KEYS; index++) expect(await store.get(keyOf(index))).toEqual(valueOf(index));
      await store.close();
    });
  }

  it('two bad pages in one stripe: verify says not restorable, restore refuses with CorruptionError naming the run, nothing written', async () => {
    const { fileSystem, run } = await backedUp(60);
    const bad = new BadSectorFileSystem(fileSystem);
    bad.markBad(run, RUN_PAGE_BYTES + 10, RUN_PAGE_BYTES + 20);
    bad.markBad(run, 2 * RUN_PAGE_BYTES + 10, 2 * RUN_PAGE_BYTES + 20);
    const report = await verifyBackup('/backup', { fileSystem: bad });
    expect(report.restorable).toBe(false);
    const refused = await restoreBackup('/backup', '/restored', { fileSystem: bad }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect((refused as CorruptionError).file).toBe(run);
    expect(await fileSystem.exists('/restored')).toBe(false);
  });
});
