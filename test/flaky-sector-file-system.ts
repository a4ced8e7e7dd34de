/**
 * A file system whose reads of marked byte ranges fail with EIO a set number of times, then
 * work: a transient bad sector, for the tests of repair and scrub around one.
 */
import { fileSystemError, type FileHandle, type FileSystem, type OpenMode } from '../src/fs/file-system.js';

/** Reads overlapping a flaky range fail with EIO while the range has failures left (each failed read uses one). */
export class FlakySectorFileSystem implements FileSystem {
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
