/**
 * A file system that can be switched off: once `kill()` is called every call, and
 * every handle call, fails, including calls already in flight when it returns.
 *
 * A store wraps its file system in one, so that a handle abandoned as a dead process
 * (tests, the crash harness) stops all I/O at once: queued commits can no longer be
 * written, synced or acknowledged, and a background segment creation cannot touch
 * a directory a new handle now owns.
 *
 * `refuseWrites()` is the half switch for a store whose directory lock another process
 * took over (src/store/open-store.ts): from then on every call that could change the
 * directory (open for writing, write, sync, truncate, rename, link, unlink, mkdir,
 * rmdir, directory sync) fails with LOCK_LOST_CODE, reads still answer. The flush and merge
 * threads write run files with file systems of their own, outside this one: they write
 * only a temporary file, and its rename, the directory fsync and its removal are made by
 * the main thread through this one (src/run/run-install.ts), which refuses them.
 */
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';
import { fileSystemError } from './file-system.js';

export const KILLED_CODE = 'ESTOREABANDONED';
/** The code of a change refused once the directory lock was lost (refuseWrites). */
export const LOCK_LOST_CODE = 'ESTORELOCKLOST';

export class KillableFileSystem implements FileSystem {
  readonly #inner: FileSystem;
  #killed = false;
  #writesRefused = false;
  #confirmHolder: (() => Promise<boolean>) | undefined;
  #lockPath: string | undefined;

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

  /** From now on every change to the directory fails (LOCK_LOST_CODE); reads still answer. */
  refuseWrites(): void {
    this.#writesRefused = true;
  }

  /**
   * From now on every rename, link, unlink and exclusive create first asks `confirm` whether the directory
   * lock is still this handle's (src/store/lock-holder-check.ts); once it says no, writes
   * are refused (refuseWrites), that call first. The heartbeat finds a takeover up to
   * LOCK_HEARTBEAT_INTERVAL_MS late; these are the calls that can replace or remove a
   * file the new holder has. `lockPath` is the holder's lock file: the flush and merge
   * threads, outside this file system, confirm against it before their exclusive create
   * (src/run/run-install.ts).
   */
  confirmBeforeNameChanges(confirm: () => Promise<boolean>, lockPath?: string): void {
    this.#confirmHolder = confirm;
    this.#lockPath = lockPath;
  }

  /** See confirmBeforeNameChanges (undefined until open wires it). */
  get lockPath(): string | undefined {
    return this.#lockPath;
  }

  /** guardWrite() for a rename, link, unlink or exclusive create: the holder is confirmed first (confirmBeforeNameChanges). */
  async #guardName<T>(syscall: string, path: string, call: () => Promise<T>): Promise<T> {
    const confirm = this.#confirmHolder;
    if (confirm !== undefined && !this.#writesRefused && !this.#killed && !(await confirm())) this.refuseWrites();
    return this.guardWrite(syscall, path, call);
  }

  /** guard() for a call that changes the directory: refused once writes are (refuseWrites). */
  guardWrite<T>(syscall: string, path: string, call: () => Promise<T>): Promise<T> {
    if (this.#writesRefused) return Promise.reject(fileSystemError(LOCK_LOST_CODE, syscall, path));
    return this.guard(syscall, path, call);
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
    const open = (): Promise<FileHandle> => this.#inner.open(path, mode);
    // A new name too is confirmed: an old holder's new WAL segment took the number the new holder's next one needed.
    const inner = await (mode === 'read' ? this.guard('open', path, open) : mode === 'createExclusive' ? this.#guardName('open', path, open) : this.guardWrite('open', path, open));
    return new KillableHandle(this, inner);
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.guard('readFile', path, () => this.#inner.readFile(path));
  }
  readdir(dir: string): Promise<string[]> {
    return this.guard('readdir', dir, () => this.#inner.readdir(dir));
  }
  mkdir(dir: string): Promise<void> {
    return this.guardWrite('mkdir', dir, () => this.#inner.mkdir(dir));
  }
  rename(from: string, to: string): Promise<void> {
    return this.#guardName('rename', from, () => this.#inner.rename(from, to));
  }
  link(existingPath: string, newPath: string): Promise<void> {
    return this.#guardName('link', newPath, () => this.#inner.link(existingPath, newPath));
  }
  unlink(path: string): Promise<void> {
    return this.#guardName('unlink', path, () => this.#inner.unlink(path));
  }
  /** The inner file system's; ENOTSUP where it has none (the interface makes it optional). */
  removeDirectory(dir: string): Promise<void> {
    return this.#guardName('rmdir', dir, () => (this.#inner.removeDirectory !== undefined ? this.#inner.removeDirectory(dir) : Promise.reject(fileSystemError('ENOTSUP', 'rmdir', dir))));
  }
  exists(path: string): Promise<boolean> {
    return this.guard('exists', path, () => this.#inner.exists(path));
  }
  syncDirectory(dir: string): Promise<void> {
    return this.guardWrite('syncDirectory', dir, () => this.#inner.syncDirectory(dir));
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
    return this.#owner.guardWrite('write', this.path, () => this.#inner.write(data, position));
  }
  /** Guarded as a write; the inner handle's own writeOffThread, else its write. */
  writeOffThread(data: Uint8Array, position: number): Promise<void> {
    return this.#owner.guardWrite('write', this.path, () => (this.#inner.writeOffThread !== undefined ? this.#inner.writeOffThread(data, position) : this.#inner.write(data, position)));
  }
  datasync(mayBlock?: boolean): Promise<void> {
    return this.#owner.guardWrite('datasync', this.path, () => this.#inner.datasync(mayBlock));
  }
  sync(): Promise<void> {
    return this.#owner.guardWrite('sync', this.path, () => this.#inner.sync());
  }
  truncate(sizeBytes: number): Promise<void> {
    return this.#owner.guardWrite('truncate', this.path, () => this.#inner.truncate(sizeBytes));
  }
  size(): Promise<number> {
    return this.#owner.guard('size', this.path, () => this.#inner.size());
  }
  close(): Promise<void> {
    return this.#owner.guard('close', this.path, () => this.#inner.close());
  }
}
