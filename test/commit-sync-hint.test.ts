/**
 * The blocking-fdatasync hint (issue 12): a record whose writers all wait for it
 * (nothing queued now, nothing queued during the previous fdatasync: a sequential
 * writer, or closed-loop writers sharing each group) asks FileHandle#datasync(true) so
 * NodeFileSystem's 'adaptive' syncMode can sync on the main thread instead of paying
 * the thread-pool hop; after commits were queued during a fdatasync (writers arriving
 * on their own) the next record does not ask (the loop keeps queueing during the flush).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

/** Records the hint of every datasync on a WAL segment, then passes the call on. */
class HintRecordingFileSystem implements FileSystem {
  readonly walHints: Array<boolean | undefined> = [];
  readonly #inner: FileSystem;

  constructor(inner: FileSystem) {
    this.#inner = inner;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.#inner.open(path, mode);
    if (!path.includes('/wal/')) return handle;
    const hints = this.walHints;
    const datasync = handle.datasync.bind(handle);
    return Object.assign(Object.create(handle) as FileHandle, {
      path: handle.path,
      datasync: (mayBlock?: boolean) => {
        hints.push(mayBlock);
        return datasync(mayBlock);
      },
      read: handle.read.bind(handle),
      write: handle.write.bind(handle),
      sync: handle.sync.bind(handle),
      truncate: handle.truncate.bind(handle),
      size: handle.size.bind(handle),
      close: handle.close.bind(handle),
    });
  }

  readFile(path: string): Promise<Uint8Array> { return this.#inner.readFile(path); }
  readdir(dir: string): Promise<string[]> { return this.#inner.readdir(dir); }
  mkdir(dir: string): Promise<void> { return this.#inner.mkdir(dir); }
  rename(from: string, to: string): Promise<void> { return this.#inner.rename(from, to); }
  link(existingPath: string, newPath: string): Promise<void> { return this.#inner.link(existingPath, newPath); }
  unlink(path: string): Promise<void> { return this.#inner.unlink(path); }
  exists(path: string): Promise<boolean> { return this.#inner.exists(path); }
  syncDirectory(dir: string): Promise<void> { return this.#inner.syncDirectory(dir); }
}

describe('the WAL datasync hint', () => {
  it('a sequential writer\'s lone commits ask for a blocking fdatasync', async () => {
    const fileSystem = new HintRecordingFileSystem(new FaultFileSystem(1));
    const store = await openStore('/db', { fileSystem });
    fileSystem.walHints.length = 0;
    for (let index = 0; index < 20; index++) await store.put(`key${index}`, index);
    expect(store.stats().fsyncs).toBeGreaterThanOrEqual(20);
    expect(fileSystem.walHints).toHaveLength(20);
    expect(fileSystem.walHints.every((hint) => hint === true)).toBe(true);
    await store.close();
  });

  it('groups of closed-loop writers (each waiting for its own commit) ask for it', async () => {
    const fileSystem = new HintRecordingFileSystem(new FaultFileSystem(1));
    const store = await openStore('/db', { fileSystem });
    fileSystem.walHints.length = 0;
    await Promise.all(Array.from({ length: 8 }, async (_, writer) => {
      for (let round = 0; round < 5; round++) await store.put(`w${writer}`, round);
    }));
    const { groupCommits, groupSizeMax } = store.stats();
    expect(groupSizeMax).toBe(8);
    expect(fileSystem.walHints).toHaveLength(groupCommits);
    // Nothing can be queued during a group's fdatasync: every writer waits for it.
    expect(fileSystem.walHints.every((hint) => hint === true)).toBe(true);
    await store.close();
  });

  it('commits queued during a fdatasync turn the hint off for the next record, until one passes with nothing queued', async () => {
    const gate = new GatedFileSystem(new FaultFileSystem(1));
    const fileSystem = new HintRecordingFileSystem(gate);
    const store = await openStore('/db', { fileSystem });
    fileSystem.walHints.length = 0;
    gate.armed = true;
    const first = store.put('first', 1);
    const held = await gate.nextHeld();
    // Arrive while the first record's fdatasync runs: they go out in the next group.
    const arrivals = Array.from({ length: 4 }, (_, index) => store.put(`arrival${index}`, index));
    gate.armed = false;
    held.release();
    await Promise.all([first, ...arrivals]);
    await store.put('after', 2);
    expect(store.stats().groupCommits).toBeGreaterThanOrEqual(3);
    // The first record asks; the arrivals' record does not (they came during a sync);
    // the next one, after a fdatasync with nothing queued, asks again.
    expect(fileSystem.walHints).toEqual([true, false, true]);
    await store.close();
  });
});

describe("NodeFileSystem syncMode 'adaptive'", () => {
  /** True when `promise` is already settled (a reaction on it runs before one on a fresh resolved promise). */
  async function settledNow(promise: Promise<void>): Promise<boolean> {
    return Promise.race([promise.then(() => true), Promise.resolve().then(() => false)]);
  }

  it('syncs on the calling thread when told it may block, on the thread pool otherwise', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new NodeFileSystem({ syncMode: 'adaptive' });
    const handle = await fileSystem.open(`${directory}/file`, 'createExclusive');
    await handle.write(new Uint8Array([1, 2, 3]), 0);
    expect(await settledNow(handle.datasync(true))).toBe(true);
    const pooled = handle.datasync(false);
    expect(await settledNow(pooled)).toBe(false);
    await pooled;
    await handle.close();
  });

  it("is the default, and 'threadpool' ignores the hint", async () => {
    const directory = temporaryDirectory();
    for (const [fileSystem, blocking] of [[new NodeFileSystem(), true], [new NodeFileSystem({ syncMode: 'threadpool' }), false]] as const) {
      const handle = await fileSystem.open(`${directory}/file-${String(blocking)}`, 'createExclusive');
      const synced = handle.datasync(true);
      expect(await settledNow(synced)).toBe(blocking);
      await synced;
      await handle.close();
    }
  });

  it('a failed blocking fdatasync rejects (never throws synchronously)', async () => {
    const directory = temporaryDirectory();
    const handle = await new NodeFileSystem({ syncMode: 'adaptive' }).open(`${directory}/file`, 'createExclusive');
    await handle.close();
    let synced: Promise<void> | undefined;
    expect(() => { synced = handle.datasync(true); }).not.toThrow();
    await expect(synced).rejects.toThrow();
  });
});
