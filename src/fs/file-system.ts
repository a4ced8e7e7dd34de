/**
 * The one file-system interface every byte of the store goes through.
 *
 * Two implementations: NodeFileSystem (src/fs/node-file-system.ts) for real use
 * and FaultFileSystem (src/fs/fault-file-system.ts) for tests, which keeps
 * unsynced data apart so a simulated crash can drop it, tear it, forget directory
 * entries that were never fsynced, and fail chosen operations.
 *
 * Durability contract (what the store may rely on, and all it may rely on):
 * - Bytes written through a handle are durable only after `datasync()`/`sync()` on
 *   that handle resolves.
 * - A created, renamed, linked, unlinked or removed directory entry is durable only after
 *   `syncDirectory()` on its parent directory resolves.
 * - A failed sync is final: the caller must not retry it and trust the data.
 * - Errors are Node-style: an Error with `code` ('ENOENT', 'EEXIST', 'ENOSPC', 'EIO', ...).
 *
 * Paths are plain strings joined with '/'.
 */

export type OpenMode =
  /** read only; the file must exist */
  | 'read'
  /** read and write; the file must exist */
  | 'readWrite'
  /** read and write; create the file, failing with EEXIST if it exists */
  | 'createExclusive';

export interface FileHandle {
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `buffer` from `offset`; returns the count read (0 at end of file). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * read(), answered on the calling thread (a positional read of the page cache costs a
   * syscall, no promise and no microtask): optional; callers fall back to read() where
   * absent. Same faults as read() in the fault file system (it is counted as a 'read').
   */
  readSync?(buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes all of `data` at `position`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /**
   * write(), performed off the calling thread where the file system can (the node file
   * system: libuv's thread pool), for large writes nothing waits on at once, such as a
   * new WAL segment's zero fill: copying them into the page cache on the event loop
   * took 8.6% of a 200k-key load's main-thread CPU. Optional; callers fall back to
   * write(). Same meaning and durability as write(); `data` must not change until
   * the promise settles.
   */
  writeOffThread?(data: Uint8Array, position: number): Promise<void>;
  /**
   * Makes the file's data (and the size needed to read it) durable.
   * `mayBlock`: a hint that the caller has nothing else to do until this resolves (a
   * lone commit of a sequential writer); an implementation may then sync on the
   * calling thread instead of handing the call to another. Same durability either way.
   */
  datasync(mayBlock?: boolean): Promise<void>;
  /** Makes the file's data and all its metadata durable. */
  sync(): Promise<void>;
  /** Sets the file's size, dropping or zero-filling bytes. */
  truncate(sizeBytes: number): Promise<void>;
  /** The file's current size. */
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /**
   * The whole file's bytes in a new array the caller owns: it may keep, view or change
   * them (WAL replay reads a segment through it without a copy and zeroes a torn tail in
   * place), and no later call sees those changes.
   */
  readFile(path: string): Promise<Uint8Array>;
  /** Entry names (not paths) in `dir`, in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /** Creates `dir` and its missing parents; no error if it exists. */
  mkdir(dir: string): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /** Creates `newPath` as another name for `existingPath`; fails with EEXIST if it exists. Atomic. */
  link(existingPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /**
   * Removes the empty directory `dir` (rmdir(2)): ENOTEMPTY if it holds anything, ENOENT if
   * missing, ENOTDIR if a file. Durable only after `syncDirectory()` on its parent. Optional,
   * so a file system written before it still satisfies the interface: without it a failed
   * backup removes the files it made and leaves its empty directories (src/backup/backup-undo.ts).
   */
  removeDirectory?(dir: string): Promise<void>;
  /** True if `path` names an existing file or directory. */
  exists(path: string): Promise<boolean>;
  /** Makes the directory's entries (creations, renames, links, unlinks) durable. */
  syncDirectory(dir: string): Promise<void>;
}

/** A Node-style error with a `code`, as the file-system implementations throw. */
export interface FileSystemError extends Error {
  code: string;
}

export function isFileSystemError(error: unknown, code?: string): error is FileSystemError {
  if (!(error instanceof Error)) return false;
  const errorCode = (error as { code?: unknown }).code;
  return typeof errorCode === 'string' && (code === undefined || errorCode === code);
}

/** Unlinks `path`; a file already gone (ENOENT: another remover took it, or a crash never made it) is fine. */
export async function unlinkIfPresent(fileSystem: FileSystem, path: string): Promise<void> {
  try {
    await fileSystem.unlink(path);
  } catch (error) {
    if (!isFileSystemError(error, 'ENOENT')) throw error;
  }
}

export function fileSystemError(code: string, syscall: string, path: string): FileSystemError {
  const error = new Error(`${code}: ${syscall} '${path}'`) as FileSystemError;
  error.code = code;
  return error;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function parentDirectory(path: string): string {
  const index = path.lastIndexOf('/');
  if (index < 0) return '.';
  if (index === 0) return '/';
  return path.slice(0, index);
}
