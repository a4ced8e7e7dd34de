/**
 * Review of 585cfbb and 32883ca on the real file system (NodeFileSystem: the zero fill
 * through writeOffThread on libuv's pool, an abandoned preparation's partial file
 * removed): 32 closed-loop writers of 4 KiB values with a small memory budget, so the
 * commit path seals memtables and cuts the WAL, and checkpoints run meanwhile, so
 * rotations find the next, doubling segment still being prepared (zero fill slowed). The WAL directory is watched during the run (never a segment number
 * twice, never a file left above the live segment after a cut's rotation); then the
 * handle is abandoned as a dead process (its page cache kept) and reopened: every
 * acknowledged put reads back, and after a clean close and reopen again.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileHandle, FileSystem, OpenMode } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore, type Store } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const WRITERS = 32;
const PUTS_PER_WRITER = 160;
const VALUE = 'x'.repeat(4096);
const OPTIONS = { memoryBudgetBytes: 16 * 1024 * 1024, segmentSizeBytes: 32 * 1024 * 1024, checkpointOnClose: false } as const;

/**
 * The real file system, counting the WAL segments unlinked before their header was
 * written (an abandoned preparation's partial file) and the zero-fill writes sent off
 * the thread, each delayed 2 ms (a slow disk). Handles forward every method, writeOffThread included.
 */
class AbandonCountingFileSystem implements FileSystem {
  readonly #inner = new NodeFileSystem();
  readonly #headerWritten = new Map<string, boolean>();
  abandonedSegments = 0;
  writesOffThread = 0;

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.#inner.open(path, mode);
    if (!path.includes('/wal/') || mode !== 'createExclusive') return handle;
    this.#headerWritten.set(path, false);
    const writeOffThread = handle.writeOffThread!.bind(handle);
    const write = handle.write.bind(handle);
    return {
      path: handle.path,
      read: handle.read.bind(handle),
      readSync: handle.readSync?.bind(handle),
      write: (data, position) => {
        if (position === 0 && data.length === 64) this.#headerWritten.set(path, true);
        return write(data, position);
      },
      // A slow disk for the zero fill (2 ms a chunk), so cuts find preparations part way.
      writeOffThread: async (data, position) => {
        this.writesOffThread++;
        await new Promise((resolve) => setTimeout(resolve, 2));
        return writeOffThread(data, position);
      },
      datasync: handle.datasync.bind(handle),
      sync: handle.sync.bind(handle),
      truncate: handle.truncate.bind(handle),
      size: handle.size.bind(handle),
      close: handle.close.bind(handle),
    };
  }

  async unlink(path: string): Promise<void> {
    if (this.#headerWritten.get(path) === false) this.abandonedSegments++;
    this.#headerWritten.delete(path);
    return this.#inner.unlink(path);
  }

  readFile(path: string): Promise<Uint8Array> { return this.#inner.readFile(path); }
  readdir(dir: string): Promise<string[]> { return this.#inner.readdir(dir); }
  mkdir(dir: string): Promise<void> { return this.#inner.mkdir(dir); }
  rename(from: string, to: string): Promise<void> { return this.#inner.rename(from, to); }
  link(existingPath: string, newPath: string): Promise<void> { return this.#inner.link(existingPath, newPath); }
  exists(path: string): Promise<boolean> { return this.#inner.exists(path); }
  syncDirectory(dir: string): Promise<void> { return this.#inner.syncDirectory(dir); }
}

function walNumbers(directory: string): number[] {
  return readdirSync(`${directory}/wal`).flatMap((name) => {
    const match = /^wal-(\d+)\.log$/.exec(name);
    return match === null ? [] : [Number(match[1])];
  }).sort((left, right) => left - right);
}

async function expectAll(store: Store, acknowledged: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const key of acknowledged) if ((await store.get(key)) !== VALUE) missing.push(key);
  expect(missing).toEqual([]);
}

describe('review of 585cfbb on the real file system: cuts abandoning preparations under 32 writers of 4 KiB', () => {
  it('loses no acknowledged put across an abandoned handle and a clean reopen', async () => {
    const directory = temporaryDirectory();
    const fileSystem = new AbandonCountingFileSystem();
    const store = await openStore(directory, { ...OPTIONS, fileSystem });
    const acknowledged: string[] = [];
    const problems: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const numbers = walNumbers(directory);
        if (new Set(numbers).size !== numbers.length) problems.push(`segment number twice: ${numbers.join(',')}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    let writing = true;
    // Checkpoints while the writers run: each rotates the WAL (ActiveSegment#rotateSmall) like a seal's cut.
    const checkpoints = (async () => {
      while (writing) {
        await store.checkpoint();
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    })();
    await Promise.all(Array.from({ length: WRITERS }, async (_, writer) => {
      for (let index = 0; index < PUTS_PER_WRITER; index++) {
        const key = `w${String(writer).padStart(2, '0')}/${String(index).padStart(4, '0')}`;
        await store.put(key, VALUE);
        acknowledged.push(key);
      }
    }));
    watching = false;
    writing = false;
    await watcher;
    await checkpoints;
    const storage = store.stats().storage;
    expect(storage.flushes).toBeGreaterThanOrEqual(2);
    expect(problems).toEqual([]);
    // The run did cross the path under review: zero fills off the thread, preparations abandoned mid-fill.
    expect(fileSystem.writesOffThread).toBeGreaterThan(0);
    expect(fileSystem.abandonedSegments).toBeGreaterThan(0);
    store[abandonStore]();
    const reopened = await openStore(directory, OPTIONS);
    await expectAll(reopened, acknowledged);
    await reopened.close();
    const again = await openStore(directory, OPTIONS);
    await expectAll(again, acknowledged);
    await again.close();
  }, 120_000);
});
