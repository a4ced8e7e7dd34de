/**
 * A backup whose run file has a bad sector on a zero padding page of its last stripe (no
 * block lives there; its content is known). Restore and verify check a backup's run with
 * the scrub's steps (in memory, through the patched view), so before f458f13 the parity
 * step's give-up at an unreadable data page made verifyBackup call the backup NOT
 * RESTORABLE and restoreBackup refuse it with CorruptionError ('data page at physical
 * offset ... unreadable: the stripe's parity is not checked'): the last copy of the data
 * refused for a page that holds none of it. Now verify says the run is rebuildable and
 * restore writes it byte for byte as BACKUP.json certifies; the restored store reads exact.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

const KEYS = 400;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'b'.repeat(90) });

describe('a backup run with a bad sector on a padding page of its last stripe', () => {
  it('verify says rebuildable; restore writes the run exactly; the store opens exact', async () => {
    const fileSystem = new FaultFileSystem(7);
    const store = await openStore('/db', { fileSystem });
    for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
    await store.backup('/backup', { link: false });
    await store.close();
    const [name] = await fileSystem.readdir('/backup/runs');
    const run = `/backup/runs/${name}`;
    const bytes = Buffer.from(await fileSystem.readFile(run));
    // The last stripe's trailing all-zero data pages (K = 16: its parity page, then the footer, end the file).
    const pages = bytes.length / RUN_PAGE_BYTES;
    const stripeStart = pages - 1 - 17;
    let padding = -1;
    for (let page = pages - 3; page >= stripeStart; page--) {
      if (!bytes.subarray(page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES).every((byte) => byte === 0)) break;
      padding = page;
    }
    expect(padding).toBeGreaterThan(stripeStart);
    const bad = new BadSectorFileSystem(fileSystem);
    bad.markBad(run, padding * RUN_PAGE_BYTES + 100, padding * RUN_PAGE_BYTES + 108);

    const report = await verifyBackup('/backup', { fileSystem: bad });
    expect(report.restorable, JSON.stringify(report.problems)).toBe(true);
    expect(report.problems).toEqual([expect.objectContaining({ path: run.slice('/backup/'.length), rebuildable: true })]);

    const restored = await restoreBackup('/backup', '/restored', { fileSystem: bad });
    expect(restored.repaired).toEqual([expect.objectContaining({ file: run, kind: 'parity' })]);
    expect(Buffer.from(await fileSystem.readFile(run.replace('/backup/', '/restored/')))).toEqual(bytes);
    const reopened = await openStore('/restored', { fileSystem });
    for (let index = 0; index < KEYS; index++) expect(await reopened.get(keyOf(index))).toEqual(valueOf(index));
    await reopened.close();
  });
});
