/**
 * Test file systems that wrap another one: forward every call, change one behaviour
 * of the handles they open.
 * - GatedFileSystem: while armed, a WAL segment's datasync waits until the test
 *   releases it (then the real datasync runs) or fails it (the real one never runs:
 *   the write stays unsynced, as after a failed fsync).
 * - RunReadCounter: counts the bytes read from run files.
 * - HangingSyncFileSystem: once `hang` is set, datasync and sync never complete (a
 *   process killed while its fdatasync is in flight, its write in the page cache).
 */
import type { FileHandle, FileSystem, OpenMode } from '../../src/fs/file-system.js';

export abstract class ForwardingFileSystem<Inner extends FileSystem = FileSystem> implements FileSystem {
  /** The inner file system's removeDirectory (optional in FileSystem): none where it has none. */
  readonly removeDirectory?: (dir: string) => Promise<void>;

  constructor(readonly inner: Inner) {
    if (inner.removeDirectory !== undefined) this.removeDirectory = (dir) => inner.removeDirectory!(dir);
  }

  /** The handle given to callers for `handle` (opened on `path` of the inner file system). */
  protected abstract wrapHandle(handle: FileHandle, path: string): FileHandle;

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return this.wrapHandle(await this.inner.open(path, mode), path);
  }
  readFile(path: string) { return this.inner.readFile(path); }
  readdir(dir: string) { return this.inner.readdir(dir); }
  mkdir(dir: string) { return this.inner.mkdir(dir); }
  rename(from: string, to: string) { return this.inner.rename(from, to); }
  link(existingPath: string, newPath: string) { return this.inner.link(existingPath, newPath); }
  unlink(path: string) { return this.inner.unlink(path); }
  exists(path: string) { return this.inner.exists(path); }
  syncDirectory(dir: string) { return this.inner.syncDirectory(dir); }
}

/**
 * Handles without the optional readSync: every block read takes the promise path (as
 * a file system that cannot read synchronously would).
 */
export class NoReadSyncFileSystem<Inner extends FileSystem = FileSystem> extends ForwardingFileSystem<Inner> {
  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, {});
  }
}

/** Counts the bytes read from run files (`*.run`), by either read path (read, readSync). */
export class RunReadCounter<Inner extends FileSystem = FileSystem> extends ForwardingFileSystem<Inner> {
  bytes = 0;
  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!path.endsWith('.run')) return handle;
    const wrapped = replaceMethods(handle, {
      read: async (buffer, offset, length, position) => {
        const read = await handle.read(buffer, offset, length, position);
        this.bytes += read;
        return read;
      },
    });
    if (handle.readSync !== undefined) {
      const readSync = handle.readSync.bind(handle);
      wrapped.readSync = (buffer, offset, length, position) => {
        const read = readSync(buffer, offset, length, position);
        this.bytes += read;
        return read;
      };
    }
    return wrapped;
  }
}

/** `handle` with some of its methods replaced (readSync, optional, is not passed on). */
export function replaceMethods(handle: FileHandle, replacements: Partial<Omit<FileHandle, 'path'>>): FileHandle {
  return {
    path: handle.path,
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: (data, position) => handle.write(data, position),
    datasync: (mayBlock) => handle.datasync(mayBlock),
    sync: () => handle.sync(),
    truncate: (sizeBytes) => handle.truncate(sizeBytes),
    size: () => handle.size(),
    close: () => handle.close(),
    ...replacements,
  };
}

/**
 * `handle`, counted in `counter.openHandles` until its first close: a test's check that
 * nothing is left holding a descriptor.
 */
export function countedHandle(handle: FileHandle, counter: { openHandles: number }): FileHandle {
  counter.openHandles++;
  let closed = false;
  return replaceMethods(handle, {
    close: async () => {
      if (!closed) counter.openHandles--;
      closed = true;
      await handle.close();
    },
  });
}

export interface HeldDatasync {
  path: string;
  release(): void;
  fail(error: Error): void;
}

const WAL_SEGMENT = /wal-\d+\.log$/;
/**
 * A WAL segment, or a recycled pool file (segment-files.ts): a segment made from one
 * keeps the handle opened under its pool name, so WAL_SEGMENT never matches its syncs.
 */
export const WAL_SEGMENT_OR_RECYCLED = /(wal-\d+|recycled-\d+-\d+)\.log$/;

export class GatedFileSystem<Inner extends FileSystem = FileSystem> extends ForwardingFileSystem<Inner> {
  armed = false;
  /** The files whose datasync is held while armed (by the path they were opened under). */
  heldPaths: RegExp = WAL_SEGMENT;
  readonly events: string[] = [];
  readonly #held: HeldDatasync[] = [];
  #waiters: Array<() => void> = [];

  /** Resolves with the next held datasync (one already held, or the next to arrive). */
  async nextHeld(): Promise<HeldDatasync> {
    while (this.#held.length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.#held.shift()!;
  }

  /** Takes a held datasync if there is one, without waiting. */
  takeHeld(): HeldDatasync | undefined {
    return this.#held.shift();
  }

  /** Disarms and releases everything held now. */
  releaseAll(): void {
    this.armed = false;
    for (let held = this.takeHeld(); held !== undefined; held = this.takeHeld()) held.release();
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      datasync: async () => {
        if (!this.armed || !this.heldPaths.test(path)) return handle.datasync();
        this.events.push('datasync held');
        await new Promise<void>((resolve, reject) => {
          this.#held.push({ path, release: resolve, fail: reject });
          for (const wake of this.#waiters.splice(0)) wake();
        });
        await handle.datasync();
        this.events.push('datasync done');
      },
    });
  }
}

export class HangingSyncFileSystem<Inner extends FileSystem = FileSystem> extends ForwardingFileSystem<Inner> {
  hang = false;

  protected wrapHandle(handle: FileHandle): FileHandle {
    const never = () => new Promise<void>(() => undefined);
    return replaceMethods(handle, {
      datasync: () => (this.hang ? never() : handle.datasync()),
      sync: () => (this.hang ? never() : handle.sync()),
    });
  }
}
