/**
 * SlowSyncFileSystem: a FileSystem over a FaultFileSystem whose datasync and sync
 * take `syncDelayMs` before they reach it, as a disk's flush would.
 *
 * The crash worker's power-loss mode uses it for two reasons. A FaultFileSystem
 * completes every call at once, so without it the workload writes far faster than
 * any disk (the log, replayed at every reopen, grows accordingly). And with the
 * delay, a group's write is pending (written, not yet synced) for most of the
 * time, so a power loss often cuts between a WAL write and its fdatasync: the torn
 * and half-synced tails recovery has to handle.
 */
import type { FaultFileSystem } from '../fs/fault-file-system.js';
import type { FileHandle, FileSystem, OpenMode } from '../fs/file-system.js';

export class SlowSyncFileSystem implements FileSystem {
  readonly #inner: FaultFileSystem;
  readonly #syncDelayMs: number;

  constructor(inner: FaultFileSystem, syncDelayMs: number) {
    this.#inner = inner;
    this.#syncDelayMs = syncDelayMs;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.#inner.open(path, mode);
    const delay = () => new Promise<void>((resolve) => setTimeout(resolve, this.#syncDelayMs));
    return {
      path: handle.path,
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: (data, position) => handle.write(data, position),
      datasync: async () => { await delay(); await handle.datasync(); },
      sync: async () => { await delay(); await handle.sync(); },
      truncate: (sizeBytes) => handle.truncate(sizeBytes),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#inner.readFile(path);
  }

  readdir(dir: string): Promise<string[]> {
    return this.#inner.readdir(dir);
  }

  mkdir(dir: string): Promise<void> {
    return this.#inner.mkdir(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return this.#inner.rename(from, to);
  }

  link(existingPath: string, newPath: string): Promise<void> {
    return this.#inner.link(existingPath, newPath);
  }

  unlink(path: string): Promise<void> {
    return this.#inner.unlink(path);
  }

  removeDirectory(dir: string): Promise<void> {
    return this.#inner.removeDirectory(dir);
  }

  exists(path: string): Promise<boolean> {
    return this.#inner.exists(path);
  }

  syncDirectory(dir: string): Promise<void> {
    return this.#inner.syncDirectory(dir);
  }
}
