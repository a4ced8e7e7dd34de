/**
 * A file system that can be switched off: once `kill()` is called every call, and
 * every handle call, fails, including calls already in flight when it returns.
 *
 * A store wraps its file system in one, so that a handle abandoned as a dead process
 * (tests, the crash harness) stops all I/O at once: queued commits can no longer be
 * written, synced or acknowledged, and a background segment creation cannot touch
 * a directory a new handle now owns.
 */
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';
import { fileSystemError } from './file-system.js';

export const KILLED_CODE = 'ESTOREABANDONED';

export class KillableFileSystem implements FileSystem {
  readonly #inner: FileSystem;
  #killed = false;

  constructor(inner: FileSystem) {
    this.#inner = inner;
  }

  /** The file system it wraps (the compactor merges in a thread only over the real one). */
  get inner(): FileSystem {
    return this.#inner;
  }

  kill(): void {
    this.#killed = true;
  }

  /** Fails a synchronous call (nothing can be in flight across a kill) once killed. */
  throwIfKilled(syscall: string, path: string): void {
    if (this.#killed) throw fileSystemError(KILLED_CODE, syscall, path);
  }

  /** Runs `call` unless killed, and fails its result if the switch flipped meanwhile. */
  async guard<T>(syscall: string, path: string, call: () => Promise<T>): Promise<T> {
    if (this.#killed) throw fileSystemError(KILLED_CODE, syscall, path);
    const result = await call();
    if (this.#killed) throw fileSystemError(KILLED_CODE, syscall, path);
    return result;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const inner = await this.guard('open', path, () => this.#inner.open(path, mode));
    return new KillableHandle(this, inner);
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.guard('readFile', path, () => this.#inner.readFile(path));
  }
  readdir(dir: string): Promise<string[]> {
    return this.guard('readdir', dir, () => this.#inner.readdir(dir));
  }
  mkdir(dir: string): Promise<void> {
    return this.guard('mkdir', dir, () => this.#inner.mkdir(dir));
  }
  rename(from: string, to: string): Promise<void> {
    return this.guard('rename', from, () => this.#inner.rename(from, to));
  }
  link(existingPath: string, newPath: string): Promise<void> {
    return this.guard('link', newPath, () => this.#inner.link(existingPath, newPath));
  }
  unlink(path: string): Promise<void> {
    return this.guard('unlink', path, () => this.#inner.unlink(path));
  }
  exists(path: string): Promise<boolean> {
    return this.guard('exists', path, () => this.#inner.exists(path));
  }
  syncDirectory(dir: string): Promise<void> {
    return this.guard('syncDirectory', dir, () => this.#inner.syncDirectory(dir));
  }
}

class KillableHandle implements FileHandle {
  readonly #owner: KillableFileSystem;
  readonly #inner: FileHandle;

  /** Present exactly when the inner handle reads synchronously (callers test for it). */
  readonly readSync: ((buffer: Uint8Array, offset: number, length: number, position: number) => number) | undefined;

  constructor(owner: KillableFileSystem, inner: FileHandle) {
    this.#owner = owner;
    this.#inner = inner;
    const innerReadSync = inner.readSync;
    this.readSync =
      innerReadSync === undefined
        ? undefined
        : (buffer, offset, length, position) => {
            owner.throwIfKilled('read', inner.path);
            return innerReadSync.call(inner, buffer, offset, length, position);
          };
  }

  get path(): string {
    return this.#inner.path;
  }
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#owner.guard('read', this.path, () => this.#inner.read(buffer, offset, length, position));
  }
  write(data: Uint8Array, position: number): Promise<void> {
    return this.#owner.guard('write', this.path, () => this.#inner.write(data, position));
  }
  /** Guarded as a write; the inner handle's own writeOffThread, else its write. */
  writeOffThread(data: Uint8Array, position: number): Promise<void> {
    return this.#owner.guard('write', this.path, () => (this.#inner.writeOffThread !== undefined ? this.#inner.writeOffThread(data, position) : this.#inner.write(data, position)));
  }
  datasync(mayBlock?: boolean): Promise<void> {
    return this.#owner.guard('datasync', this.path, () => this.#inner.datasync(mayBlock));
  }
  sync(): Promise<void> {
    return this.#owner.guard('sync', this.path, () => this.#inner.sync());
  }
  truncate(sizeBytes: number): Promise<void> {
    return this.#owner.guard('truncate', this.path, () => this.#inner.truncate(sizeBytes));
  }
  size(): Promise<number> {
    return this.#owner.guard('size', this.path, () => this.#inner.size());
  }
  close(): Promise<void> {
    return this.#owner.guard('close', this.path, () => this.#inner.close());
  }
}
