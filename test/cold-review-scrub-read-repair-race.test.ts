/**
 * A scrub step and a read's repair in the same run at once (forced interleaving). The
 * scrub told whether its step repaired a block by the run file's repair counter, which
 * every reader of the run shares: while its read of a sound block was held, a get() that
 * rebuilt another, damaged block of the run raised the counter, and the scrub reported
 * the sound block 'repaired' (an offset where nothing was damaged, with a
 * LADYBUG_BLOCK_REPAIRED-style reason), though README says a block a read rebuilt is not
 * the scrub's repair. Now a step reports a repair only when its own read was repaired.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { buildStore, fileSystemOf, readEverything, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
}, 60_000);

/** Holds the first read of `path` at `position` until released; every other call passes through (no readSync: reads go through read()). */
class GatedFileSystem implements FileSystem {
  #armed = true;
  #release: () => void = () => undefined;
  readonly held: Promise<void>;
  #onHeld: () => void = () => undefined;
  constructor(readonly inner: FaultFileSystem, readonly path: string, readonly position: number) {
    this.held = new Promise((resolve) => {
      this.#onHeld = resolve;
    });
  }
  release(): void {
    this.#release();
  }
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return {
      path: handle.path,
      read: async (buffer, offset, length, position) => {
        if (this.#armed && path === this.path && position === this.position) {
          this.#armed = false;
          const gate = new Promise<void>((resolve) => {
            this.#release = resolve;
          });
          this.#onHeld();
          await gate;
        }
        return handle.read(buffer, offset, length, position);
      },
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

describe('a read repairs a block of the run while a scrub step reads another', () => {
  it("the scrub reports no repair for its sound block (the read's repair is not the scrub's)", async () => {
    // The review store's packed cold run: data blocks at logical 0, 599, 1381, 2115, 2893, 3686 (stripe 0: physical = logical).
    const cold = built.runFiles.find((file) => built.tiers.get(file) !== 0) as string;
    const faults = await fileSystemOf(built.image);
    faults.flipBit(cold, 3000, 4); // inside the block at 2893, scrubbed after the one at 599
    const fileSystem = new GatedFileSystem(faults, cold, 599);
    const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    const scrubbing = store.scrub();
    await fileSystem.held; // the scrub's step reads the block at 599 (sound)
    const before = store.stats().storage.repairedBlocks;
    await readEverything(store, built); // a get rebuilds the block at 2893 from parity
    expect(store.stats().storage.repairedBlocks).toBe(before + 1);
    fileSystem.release();
    const report = await scrubbing;
    await store.close();
    expect(report.unrecoverable).toEqual([]);
    expect(report.repaired).toEqual([]);
  }, 60_000);
});
