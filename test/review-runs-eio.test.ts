/**
 * Review of run reads under EIO (a bad sector that stays bad, test/stripe-helpers.ts
 * BadSectorFileSystem; a one-off failure, FaultFileSystem.injectFault): one unreadable
 * page of a stripe, at every page of every run of the review store
 * (test/review-runs-helpers.ts), and every get, as-of get, history and scan answers
 * exactly (the page is rebuilt from the stripe), and a compaction reading through it
 * writes an output that verifies and reads exact; two unreadable pages holding blocks
 * in one stripe: CorruptionError naming the run, for reads and compaction. The footer
 * is not in a stripe: a read of it that fails is a typed error (IoError EIO), never an
 * answer, and a one-off failure there is retried by the next read.
 * The manifest: a bad sector in one copy (EIO on every read of it) is what the other
 * copy is for: every read exact, verify counts the damaged copy, and the open leaves
 * both copies whole and readable; both copies unreadable is IoError EIO, never a state.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError, IoError } from '../src/errors.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { verifyStore } from '../src/store/verify-store.js';
import { Manifest } from '../src/manifest/manifest.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { blockBytePages, buildStore, fileName, fileSystemOf, openAndRead, readEverything, STORE, type BuiltStore } from './review-runs-helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

async function withBadPages(file: string, pages: number[]): Promise<BadSectorFileSystem> {
  const fileSystem = new BadSectorFileSystem(await fileSystemOf(built.image));
  for (const page of pages) fileSystem.markBad(file, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES);
  return fileSystem;
}

describe('EIO on a run page', () => {
  it('one unreadable page at every page of the striped area of each run: every read exact', async () => {
    for (const file of built.runFiles) {
      const pages = (built.image.get(file) as Uint8Array).length / RUN_PAGE_BYTES;
      for (let page = 0; page < pages - 1; page++) {
        const outcome = await openAndRead(await withBadPages(file, [page]), built);
        expect(outcome, `${file} page ${page}: ${outcome.kind === 'wrong' ? outcome.message : outcome.kind === 'corruption' ? outcome.error.message : ''}`).toEqual({ kind: 'exact' });
      }
    }
  });

  it('the footer unreadable: a typed error naming the run, never an answer', async () => {
    for (const file of built.runFiles) {
      const pages = (built.image.get(file) as Uint8Array).length / RUN_PAGE_BYTES;
      const outcome = await openAndRead(await withBadPages(file, [pages - 1]), built);
      expect(outcome.kind, file).not.toBe('exact');
      if (outcome.kind === 'wrong') expect(outcome.message, file).toMatch(/IoError.*EIO/);
      if (outcome.kind === 'wrong') expect(outcome.message, file).toContain(fileName(file));
    }
  });

  it('two unreadable pages holding blocks in one stripe: CorruptionError naming the run', async () => {
    for (const file of built.runFiles) {
      const pages = [...blockBytePages(built.image.get(file) as Uint8Array).keys()];
      const outcome = await openAndRead(await withBadPages(file, pages.slice(0, 2)), built);
      expect(outcome.kind, `${file}: ${outcome.kind === 'wrong' ? outcome.message : ''}`).toBe('corruption');
      if (outcome.kind === 'corruption') expect(outcome.error.file).toContain(fileName(file));
    }
  });

  it('one-off EIO on the nth run read of an open and its reads: exact, or IoError EIO (footer, no stripe) and then exact on the retry', async () => {
    for (let nth = 1; nth <= 60; nth += 3) {
      const fileSystem = await fileSystemOf(built.image);
      fileSystem.injectFault({ operation: 'read', error: 'EIO', path: /\.run$/, nth });
      const store = await openStore(STORE, { fileSystem, checkpointOnClose: false });
      try {
        const first = await readEverything(store, built).then(() => undefined, (error: unknown) => error);
        if (first !== undefined) {
          expect(first, `nth ${nth}: ${String(first)}`).toBeInstanceOf(IoError);
          expect(first).toMatchObject({ errno: 'EIO' });
          await readEverything(store, built); // a failed run open is retried by the next read
        }
      } finally {
        await store.close();
      }
    }
  });
});

describe('compaction reading through EIO', () => {
  it('one unreadable page of an input: the output verifies and reads exact', async () => {
    for (const file of built.runFiles) {
      const page = [...blockBytePages(built.image.get(file) as Uint8Array).keys()][0] as number;
      const fileSystem = await withBadPages(file, [page]);
      const store = await openStore(STORE, { fileSystem });
      const result = await store.compact();
      await store.close();
      expect(result.outcome, file).toBe('compacted');
      const inner = fileSystem.inner;
      expect((await verifyStore(STORE, { fileSystem: inner })).runs.problems, file).toEqual([]);
      expect(await openAndRead(inner, built), file).toEqual({ kind: 'exact' });
    }
  });

  it('two unreadable pages of an input in one stripe: compaction fails with CorruptionError naming it', async () => {
    for (const file of built.runFiles) {
      const pages = [...blockBytePages(built.image.get(file) as Uint8Array).keys()];
      const fileSystem = await withBadPages(file, pages.slice(0, 2));
      const store = await openStore(STORE, { fileSystem });
      const result = await store.compact().then(() => undefined, (error: unknown) => error);
      await store.close();
      expect(result, file).toBeInstanceOf(CorruptionError);
      expect((result as CorruptionError).file, file).toContain(fileName(file));
    }
  });
});

describe('EIO on a manifest copy', () => {
  it('a bad sector in one copy (anywhere, or the whole file): every read exact; verify counts it; the open rewrites both copies whole', async () => {
    const hash = await loadHash64();
    for (const copy of built.manifestFiles) {
      const size = (built.image.get(copy) as Uint8Array).length;
      for (const [start, end] of [[0, size], [0, 1], [Math.floor(size / 2), Math.floor(size / 2) + 1], [size - 1, size]] as Array<[number, number]>) {
        const where = `${copy} [${start}, ${end})`;
        const badSector = async () => {
          const fileSystem = new BadSectorFileSystem(await fileSystemOf(built.image));
          fileSystem.markBad(copy, start, end);
          return fileSystem;
        };
        const report = await verifyStore(STORE, { fileSystem: await badSector() });
        expect(report.manifest?.damagedCopies, where).toBe(1);
        const fileSystem = await badSector();
        const outcome = await openAndRead(fileSystem, built);
        expect(outcome, `${where}: ${outcome.kind === 'wrong' ? outcome.message : outcome.kind === 'corruption' ? outcome.error.message : ''}`).toEqual({ kind: 'exact' });
        const after = await Manifest.inspect(fileSystem, STORE, hash);
        expect(after.damagedCopies, where).toBe(0);
        expect(after.path, where).not.toBe(copy.replace(/\.b$/, '.a'));
      }
    }
  });

  it('both copies unreadable: IoError EIO, never a state', async () => {
    const fileSystem = new BadSectorFileSystem(await fileSystemOf(built.image));
    for (const copy of built.manifestFiles) fileSystem.markBad(copy, 0, 1);
    const outcome = await openAndRead(fileSystem, built);
    expect(outcome.kind).toBe('wrong');
    if (outcome.kind === 'wrong') expect(outcome.message).toMatch(/IoError.*EIO/);
  });
});
