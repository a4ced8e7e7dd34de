/**
 * A view of a file system on which code that changes files can run to the end while
 * the disk stays byte for byte as it was: reads go through, writes to existing files
 * are dropped (as readOnlyView drops them), and files the code creates live in memory,
 * where it can write, read back, rename and remove them.
 *
 * `ladybug verify` runs WAL repair over it to report what `ladybug repair` would drop
 * (src/store/verify-store.ts): repair may create a segment for its version marker and
 * read it back, which a view that only drops writes cannot answer.
 */
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';
import { fileSystemError, parentDirectory } from './file-system.js';
import { readOnlyView } from './read-only-view.js';

/** A file created in the view: its bytes, grown by writes and truncate. */
class MemoryFile {
  bytes: Uint8Array = new Uint8Array(0);

  resize(sizeBytes: number): void {
    const resized = new Uint8Array(sizeBytes);
    resized.set(this.bytes.subarray(0, Math.min(sizeBytes, this.bytes.length)));
    this.bytes = resized;
  }
}

class MemoryHandle implements FileHandle {
  readonly path: string;
  readonly #file: MemoryFile;
  constructor(path: string, file: MemoryFile) {
    this.path = path;
    this.#file = file;
  }
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const available = Math.max(0, Math.min(length, this.#file.bytes.length - position));
    buffer.set(this.#file.bytes.subarray(position, position + available), offset);
    return available;
  }
  async write(data: Uint8Array, position: number): Promise<void> {
    if (position + data.length > this.#file.bytes.length) this.#file.resize(position + data.length);
    this.#file.bytes.set(data, position);
  }
  async datasync(): Promise<void> {}
  async sync(): Promise<void> {}
  async truncate(sizeBytes: number): Promise<void> {
    this.#file.resize(sizeBytes);
  }
  async size(): Promise<number> {
    return this.#file.bytes.length;
  }
  async close(): Promise<void> {}
}

export function dryRunView(inner: FileSystem): FileSystem {
  const readOnly = readOnlyView(inner);
  const created = new Map<string, MemoryFile>();
  /** Files of `inner` the view removed (unlinked, or renamed away). */
  const removed = new Set<string>();
  const exists = async (path: string): Promise<boolean> => created.has(path) || (!removed.has(path) && await inner.exists(path));
  /** The bytes of `path` as the view sees it, in a new array. */
  const readFile = async (path: string): Promise<Uint8Array> => {
    const file = created.get(path);
    if (file !== undefined) return file.bytes.slice();
    if (removed.has(path)) throw fileSystemError('ENOENT', 'open', path);
    return readOnly.readFile(path);
  };
  const readdir = async (dir: string): Promise<string[]> => {
    const names = (await inner.readdir(dir)).filter((name) => !removed.has(`${dir}/${name}`) && !created.has(`${dir}/${name}`));
    for (const path of created.keys()) if (parentDirectory(path) === dir) names.push(path.slice(dir.length + 1));
    return names;
  };
  return {
    async open(path: string, mode: OpenMode): Promise<FileHandle> {
      const file = created.get(path);
      if (mode === 'createExclusive') {
        if (await exists(path)) throw fileSystemError('EEXIST', 'open', path);
        const fresh = new MemoryFile();
        created.set(path, fresh);
        return new MemoryHandle(path, fresh);
      }
      if (file !== undefined) return new MemoryHandle(path, file);
      if (removed.has(path)) throw fileSystemError('ENOENT', 'open', path);
      return readOnly.open(path, mode);
    },
    readFile,
    readdir,
    exists,
    async mkdir() {},
    async rename(from: string, to: string): Promise<void> {
      const file = new MemoryFile();
      file.bytes = await readFile(from);
      created.delete(from);
      removed.add(from);
      created.set(to, file);
    },
    async link(existingPath: string, newPath: string): Promise<void> {
      if (await exists(newPath)) throw fileSystemError('EEXIST', 'link', newPath);
      const file = new MemoryFile();
      file.bytes = await readFile(existingPath);
      created.set(newPath, file);
    },
    async unlink(path: string): Promise<void> {
      if (!(await exists(path))) throw fileSystemError('ENOENT', 'unlink', path);
      created.delete(path);
      removed.add(path);
    },
    /** A directory of `inner` the view shows empty leaves the view (as removed files do); the disk keeps it. */
    async removeDirectory(dir: string): Promise<void> {
      if (!(await exists(dir))) throw fileSystemError('ENOENT', 'rmdir', dir);
      if (created.has(dir)) throw fileSystemError('ENOTDIR', 'rmdir', dir);
      if ((await readdir(dir)).length > 0) throw fileSystemError('ENOTEMPTY', 'rmdir', dir);
      removed.add(dir);
    },
    async syncDirectory() {},
  };
}
