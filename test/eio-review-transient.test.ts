/**
 * Transient EIO on run pages (a read that fails a few times, then works): one such page
 * in a stripe is worked around (rebuilt from parity or read again), every read answers
 * exactly, nothing is called unrecoverable; two in one stripe fail the reads of the
 * blocks there with StripeCorruptionError while they last, and once they clear every read
 * answers exactly again, nothing stays cached as failed, and stats().storage's
 * unrecoverableBlocks (blocks currently known unrecoverable) and the scrub agree: none.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fileSystemError, type FileHandle, type FileSystem, type OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { StripeCorruptionError } from '../src/stripe/stripe-errors.js';
import { blockBytePages, buildStore, fileSystemOf, key, modelGet, readEverything, STORE, type BuiltStore } from './review-runs-helpers.js';

/** Reads overlapping a flaky range fail with EIO while the range has failures left (each failed read uses one). */
class FlakySectorFileSystem implements FileSystem {
  readonly flaky: Array<{ path: string; start: number; end: number; failures: number }> = [];
  constructor(readonly inner: FileSystem) {}

  markFlaky(path: string, start: number, end: number, failures: number): void {
    this.flaky.push({ path, start, end, failures });
  }

  clear(): void {
    this.flaky.length = 0;
  }

  #fail(path: string, position: number, length: number): void {
    const range = this.flaky.find((r) => r.path === path && r.failures > 0 && position < r.end && position + length > r.start);
    if (range === undefined) return;
    range.failures--;
    throw fileSystemError('EIO', 'read', path);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    const readSync = handle.readSync;
    return {
      path: handle.path,
      read: async (buffer, offset, length, position) => {
        this.#fail(path, position, length);
        return handle.read(buffer, offset, length, position);
      },
      ...(readSync === undefined ? {} : {
        readSync: (buffer: Uint8Array, offset: number, length: number, position: number) => {
          this.#fail(path, position, length);
          return readSync.call(handle, buffer, offset, length, position);
        },
      }),
      write: (data, position) => handle.write(data, position),
      datasync: () => handle.datasync(),
      sync: () => handle.sync(),
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }
  readFile = (path: string) => this.inner.readFile(path);
  readdir = (dir: string) => this.inner.readdir(dir);
  mkdir = (dir: string) => this.inner.mkdir(dir);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  link = (existingPath: string, newPath: string) => this.inner.link(existingPath, newPath);
  unlink = (path: string) => this.inner.unlink(path);
  exists = (path: string) => this.inner.exists(path);
  syncDirectory = (dir: string) => this.inner.syncDirectory(dir);
}

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

const options = (fileSystem: FileSystem) => ({ fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });

describe('one transient EIO in a stripe', () => {
  it.each([1, 2, 3, 5])('a page failing %i read(s) at each page of each run: every read exact, nothing unrecoverable', async (failures) => {
    for (const file of built.runFiles) {
      const pages = (built.image.get(file) as Uint8Array).length / RUN_PAGE_BYTES;
      for (let page = 0; page < pages - 1; page++) {
        const fileSystem = new FlakySectorFileSystem(await fileSystemOf(built.image));
        const store = await openStore(STORE, options(fileSystem));
        fileSystem.markFlaky(file, page * RUN_PAGE_BYTES, (page + 1) * RUN_PAGE_BYTES, failures);
        await readEverything(store, built);
        expect({ file, page, unrecoverable: store.stats().storage.unrecoverableBlocks }).toEqual({ file, page, unrecoverable: 0 });
        const report = await store.scrub();
        expect({ file, page, unrecoverable: report.unrecoverable }).toEqual({ file, page, unrecoverable: [] });
        await store.close();
      }
    }
  }, 60_000);
});

describe('two transient EIOs in one stripe', () => {
  it('fail the block while they last; once they clear, every read is exact and nothing is left unrecoverable', async () => {
    for (const file of built.runFiles) {
      const byPage = blockBytePages(built.image.get(file) as Uint8Array);
      const dataPages = [...byPage.keys()].filter((page) => page < 16);
      if (dataPages.length < 2) continue;
      const [first, second] = [dataPages[0] as number, dataPages[1] as number];
      const fileSystem = new FlakySectorFileSystem(await fileSystemOf(built.image));
      const store = await openStore(STORE, options(fileSystem));
      fileSystem.markFlaky(file, first * RUN_PAGE_BYTES, (first + 1) * RUN_PAGE_BYTES, 1_000);
      fileSystem.markFlaky(file, second * RUN_PAGE_BYTES, (second + 1) * RUN_PAGE_BYTES, 1_000);
      let failed: unknown;
      try {
        await readEverything(store, built);
      } catch (error) {
        failed = error;
      }
      expect(failed, file).toBeInstanceOf(StripeCorruptionError);
      expect(store.stats().storage.unrecoverableBlocks, file).toBeGreaterThan(0);
      fileSystem.clear();
      await readEverything(store, built);
      expect({ file, unrecoverable: store.stats().storage.unrecoverableBlocks }).toEqual({ file, unrecoverable: 0 });
      const report = await store.scrub();
      expect({ file, unrecoverable: report.unrecoverable, repaired: report.repaired }).toEqual({ file, unrecoverable: [], repaired: [] });
      expect(store.stats().storage.unrecoverableBlocks, file).toBe(0);
      await store.close();
      // Nothing was written from a bad rebuild: a fresh open on the same files reads exactly.
      const again = await openStore(STORE, options(fileSystem));
      await readEverything(again, built);
      expect((await again.scrub()).unrecoverable).toEqual([]);
      await again.close();
      expect(modelGet(built.model, key(0))).toBeDefined();
    }
  }, 60_000);
});
