/**
 * A scrub that cannot open a run because its footer page is damaged names the footer as
 * the damaged place (README, Self-repair: a finding's kind is the damaged place, 'footer'
 * among them). It said 'index' for every run it could not open, so a damaged footer of a
 * run no read had opened yet (nothing decoded to rebuild it from: unrecoverable, rightly)
 * was reported as index damage. Found by the backup/parity model test, seed 29 (a bulk
 * write flushed a run, its footer was damaged before any read opened it).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';

describe('scrub of a run whose footer is damaged before it was opened', () => {
  it('reports it unrecoverable with kind footer at the footer page', async () => {
    const fileSystem = new FaultFileSystem(29);
    let store = await openStore('/db', { fileSystem });
    for (let index = 0; index < 200; index++) await store.put(`key-${index}`, 'v'.repeat(100));
    await store.close();
    const runs = (await fileSystem.readdir('/db/runs')).filter((name) => name.endsWith('.run'));
    expect(runs).toHaveLength(1);
    const file = `/db/runs/${runs[0]}`;
    const size = (await fileSystem.readFile(file)).length;
    fileSystem.flipBit(file, size - RUN_PAGE_BYTES + 200, 3);
    store = await openStore('/db', { fileSystem });
    try {
      const report = await store.scrub();
      expect(report.repaired).toEqual([]);
      expect(report.unrecoverable.map(({ file: named, kind, logicalOffset }) => ({ file: named, kind, logicalOffset })))
        .toEqual([{ file, kind: 'footer', logicalOffset: size - RUN_PAGE_BYTES }]);
    } finally {
      await store.close();
    }
  });
});
