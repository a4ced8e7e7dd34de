/**
 * A view of a file system that reads through and turns every change into a no-op.
 *
 * `ladybug verify` runs the real recovery code over this view: it classifies every
 * record exactly as an open would (torn tail, unfinished segment, corruption) and
 * reports what an open would change, while the disk stays byte-for-byte as it was.
 * `onReadFile` lets a caller follow progress (one call per file read).
 */
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';
import { fileSystemError } from './file-system.js';

class ReadOnlyHandle implements FileHandle {
  readonly #inner: FileHandle;
  constructor(inner: FileHandle) {
    this.#inner = inner;
  }
  get path(): string {
    return this.#inner.path;
  }
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#inner.read(buffer, offset, length, position);
  }
  async write(): Promise<void> {}
  async datasync(): Promise<void> {}
  async sync(): Promise<void> {}
  async truncate(): Promise<void> {}
  size(): Promise<number> {
    return this.#inner.size();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

export function readOnlyView(inner: FileSystem, onReadFile?: (path: string) => void): FileSystem {
  return {
    async open(path: string, mode: OpenMode): Promise<FileHandle> {
      if (mode === 'createExclusive') throw fileSystemError('EROFS', 'open', path);
      return new ReadOnlyHandle(await inner.open(path, 'read'));
    },
    async readFile(path: string): Promise<Uint8Array> {
      const content = await inner.readFile(path);
      onReadFile?.(path);
      return content;
    },
    readdir: (dir) => inner.readdir(dir),
    exists: (path) => inner.exists(path),
    async mkdir() {},
    async rename() {},
    async link() {},
    async unlink() {},
    async removeDirectory() {},
    async syncDirectory() {},
  };
}
