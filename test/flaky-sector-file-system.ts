/**
 * A file system whose reads of marked byte ranges fail with EIO a set number of times, then
 * work: a transient bad sector, for the tests of repair and scrub around one.
 */
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

/** Reads overlapping a flaky range fail with EIO while the range has failures left (each failed read uses one). */
export class FlakySectorFileSystem extends ForwardingFileSystem {
  readonly flaky: Array<{ path: string; start: number; end: number; failures: number }> = [];

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

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const readSync = handle.readSync;
    return replaceMethods(handle, {
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
    });
  }
}
