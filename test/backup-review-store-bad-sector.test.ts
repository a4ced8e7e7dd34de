/**
 * store.backup({ link: false }) (`ladybug backup --copy`) of a store whose run has an
 * unreadable page (EIO at that offset every time: a bad sector) that the run's parity covers.
 * The store reads every key (a read rebuilds the page), but the backup failed with IoError
 * at its copy's first read of the page: no copied backup of the store could be taken. Now the
 * copy reads an unreadable page as zeros and the run scrub of the copy (which every backup
 * runs) rebuilds it from parity, so the backup holds the run byte for byte as written;
 * damage beyond parity (two bad pages of one stripe) fails the backup with CorruptionError
 * naming the store's run, and nothing is left at the target. A hard-linked backup reads the
 * page as zeros for its checksum, its run check rebuilds the page and writes it back (a disk
 * remaps the sector), and the checksum is taken again.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

const KEYS = 400;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'c'.repeat(90) });

async function storeWithRun(seed: number): Promise<{ inner: FaultFileSystem; fileSystem: BadSectorFileSystem; run: string; name: string; bytes: Buffer }> {
  const inner = new FaultFileSystem(seed);
  const fileSystem = new BadSectorFileSystem(inner);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.checkpoint();
  await store.close();
  const [name] = (await inner.readdir('/db/runs')).filter((entry) => entry.endsWith('.run'));
  const run = `/db/runs/${name}`;
  const bytes = Buffer.from(await inner.readFile(run));
  expect(bytes.length).toBeGreaterThan(6 * RUN_PAGE_BYTES);
  return { inner, fileSystem, run, name: name!, bytes };
}

/** Bad sectors of one inode under two names (a run and its hard link in the backup); a write over one remaps it (reads pass again), as a disk does. */
class RemappingBadSectors extends BadSectorFileSystem {
  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    return {
      ...handle,
      path: handle.path,
      write: async (data, position) => {
        await handle.write(data, position);
        for (const [name, ranges] of this.bad) this.bad.set(name, ranges.filter(([start, end]) => !(position <= start && end <= position + data.length)));
      },
    };
  }
}

describe('a copied backup of a store run with an unreadable page', () => {
  for (const page of [1, 2, 3]) {
    it(`page ${page}: the backup rebuilds it from parity and holds the run as written; verify ok, restore exact`, async () => {
      const { inner, fileSystem, run, name, bytes } = await storeWithRun(70 + page);
      fileSystem.markBad(run, page * RUN_PAGE_BYTES + 50, page * RUN_PAGE_BYTES + 60);
      const store = await openStore('/db', { fileSystem });
      expect(await store.get(keyOf(3))).toEqual(valueOf(3));
      await store.backup('/backup', { link: false });
      await store.close();
      expect(Buffer.from(await inner.readFile(`/backup/runs/${name}`))).toEqual(bytes);
      expect((await verifyBackup('/backup', { fileSystem: inner })).ok).toBe(true);
      await restoreBackup('/backup', '/restored', { fileSystem: inner });
      const restored = await openStore('/restored', { fileSystem: inner });
      for (let index = 0; index < KEYS; index++) expect(await restored.get(keyOf(index))).toEqual(valueOf(index));
      await restored.close();
    });
  }

  it('hard-linked: the backup reads the page as zeros, its run check rebuilds it and writes it back (the sector remapped), and the backup holds the run as written', async () => {
    const inner = new FaultFileSystem(90);
    const fileSystem = new RemappingBadSectors(inner);
    const store = await openStore('/db', { fileSystem });
    for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
    await store.checkpoint();
    const [name] = (await inner.readdir('/db/runs')).filter((entry) => entry.endsWith('.run'));
    const bytes = Buffer.from(await inner.readFile(`/db/runs/${name}`));
    for (const path of [`/db/runs/${name}`, `/backup/runs/${name}`]) fileSystem.markBad(path, 2 * RUN_PAGE_BYTES + 50, 2 * RUN_PAGE_BYTES + 60);
    const result = await store.backup('/backup');
    expect(result.linkedFiles).toBe(1);
    expect([...fileSystem.bad.values()].flat()).toEqual([]);
    expect(Buffer.from(await inner.readFile(`/backup/runs/${name}`))).toEqual(bytes);
    expect((await verifyBackup('/backup', { fileSystem: inner })).ok).toBe(true);
    await store.close();
  });

  it('a read of the linked run that fails twice, then passes: the checksum is of the bytes, never of the zeros read for the page', async () => {
    const fileSystem = new FaultFileSystem(91);
    const store = await openStore('/db', { fileSystem });
    for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
    await store.checkpoint();
    const [name] = (await fileSystem.readdir('/db/runs')).filter((entry) => entry.endsWith('.run'));
    // The first read of the link (its whole chunk) and the next (its first page, read again) fail; the run check's reads pass.
    const faults = [1, 2].map(() => fileSystem.injectFault({ operation: 'read', error: 'EIO', path: `/backup/runs/${name}` }));
    await store.backup('/backup');
    expect(faults.map((fault) => fault.triggeredCount)).toEqual([1, 1]);
    const report = await verifyBackup('/backup', { fileSystem });
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    await store.close();
  });

  it('two bad pages in one stripe: CorruptionError naming the store run, no target left', async () => {
    const { inner, fileSystem, run } = await storeWithRun(80);
    fileSystem.markBad(run, RUN_PAGE_BYTES + 10, RUN_PAGE_BYTES + 20);
    fileSystem.markBad(run, 2 * RUN_PAGE_BYTES + 10, 2 * RUN_PAGE_BYTES + 20);
    const store = await openStore('/db', { fileSystem });
    const refused = await store.backup('/backup', { link: false }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect((refused as CorruptionError).file).toBe(run);
    // BadSectorFileSystem has no removeDirectory: the files go, the empty directories stay (README).
    expect(inner.listPaths().filter((path) => path.startsWith('/backup/'))).toEqual([]);
    await store.close();
  });
});
