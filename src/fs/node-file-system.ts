/**
 * The real file system, over node:fs.
 *
 * Writes use the synchronous syscall (a page-cache copy that returns in
 * microseconds) so a group commit does not pay a thread-pool round trip for it.
 * `datasync()` is where the time goes; `syncMode` chooses how it runs:
 * - 'threadpool' (default): fdatasync on libuv's thread pool, so the event loop
 *   keeps running (and keeps queueing the next group) while the disk flushes.
 * - 'inline': fdatasync on the main thread. The event loop is blocked for the
 *   flush, but no thread hop is paid; useful when the process does nothing else.
 * - 'adaptive' (default): when the caller says it has nothing else to do
 *   (`datasync(true)`: the WAL writer's lone commit of a sequential writer, nothing
 *   queued behind it), inline or on the thread pool, whichever has measured faster
 *   (src/fs/sync-placement.ts: inline saves the hop on a quiet machine, about 60 µs a
 *   put; on a CPU-contended one it waited ms for a CPU). Inline, the loop is blocked
 *   for that one fdatasync, as in 'inline'. Other syncs run on the thread pool.
 * All are equally durable. See docs/ARCHITECTURE.md ("Group commit").
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import type { FileHandle, FileSystem, OpenMode } from './file-system.js';
import { SyncPlacement } from './sync-placement.js';

/** The most one read request asks for (a read(2) returns at most about 2 GiB). */
const READ_REQUEST_BYTES_MAX = 1024 * 1024 * 1024;

export type SyncMode = 'threadpool' | 'inline' | 'adaptive';

/**
 * One mkdir(2): true when `dir` is a directory now (made, or already there), false when
 * it failed with ENOENT and `parentMissing` is 'report'; any other failure is thrown.
 */
async function mkdirOneLevel(dir: string, parentMissing: 'report' | 'throw'): Promise<boolean> {
  try {
    await fsPromises.mkdir(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await fsPromises.stat(dir)).isDirectory()) return true;
    if (code === 'ENOENT' && parentMissing === 'report') return false;
    throw error;
  }
}

/**
 * `dir` and its missing parents, one level at a time, without node's recursive mode:
 * where mkdir fails with ENOENT although the parent exists (under /proc or /sys),
 * node's recursive mkdir retries for ever on a thread-pool thread and the open never
 * settles. Here a level is tried at most twice (before and after its parent), so that
 * ENOENT is thrown; at most one call per path component.
 */
async function mkdirWithParents(dir: string): Promise<void> {
  if (await mkdirOneLevel(dir, 'report')) return;
  const parent = dirname(dir);
  if (parent !== dir) await mkdirWithParents(parent);
  await mkdirOneLevel(dir, 'throw');
}

/**
 * Opening an existing file on the main thread never blocks: O_NONBLOCK (no effect on a
 * regular file), because open(2) of a fifo with no writer waits for one, and openSync
 * there held the event loop (timers, signals, every store of the process) until then.
 * A worker thread (a merge thread) opens as before: a thread stuck in a call is what its
 * close grace periods bound. Either way a name of the store's own held by a fifo, socket
 * or device (a user's or another tool's) is refused ('EINVAL: not a regular file'), never
 * read; a directory passes (its read fails with EISDIR, as before).
 */
const NO_BLOCK = isMainThread ? (fs.constants.O_NONBLOCK ?? 0) : 0;
const openFlags: Record<OpenMode, string | number> = {
  read: fs.constants.O_RDONLY | NO_BLOCK,
  readWrite: fs.constants.O_RDWR | NO_BLOCK,
  createExclusive: 'wx+',
};

/** `path` opened with `flags` and its fstat; closed and refused unless a regular file or a directory. */
function openWithoutBlocking(path: string, flags: string | number): { descriptor: number; stats: fs.Stats } {
  const descriptor = fs.openSync(path, flags);
  try {
    const stats = fs.fstatSync(descriptor);
    if (stats.isFile() || stats.isDirectory()) return { descriptor, stats };
    const kind = stats.isFIFO() ? 'a fifo' : stats.isSocket() ? 'a socket' : 'a device';
    const error = new Error(`EINVAL: not a regular file (${kind}), open '${path}'`) as NodeJS.ErrnoException;
    error.code = 'EINVAL';
    error.syscall = 'open';
    error.path = path;
    throw error;
  } catch (error) {
    fs.closeSync(descriptor);
    throw error;
  }
}

/** One positional read of up to `length` bytes into `buffer` at `offset` (= the file position), on the thread pool. */
function readAt(descriptor: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(descriptor, buffer, offset, Math.min(length, READ_REQUEST_BYTES_MAX), offset, (error, count) => (error ? reject(error) : resolve(count)));
  });
}

function callbackToPromise(run: (done: (error: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    run((error) => (error ? reject(error) : resolve()));
  });
}

class NodeFileHandle implements FileHandle {
  readonly path: string;
  readonly #syncMode: SyncMode;
  #descriptor: number;

  readonly #placement: SyncPlacement;

  constructor(path: string, descriptor: number, syncMode: SyncMode, placement: SyncPlacement) {
    this.path = path;
    this.#descriptor = descriptor;
    this.#syncMode = syncMode;
    this.#placement = placement;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return fs.readSync(this.#descriptor, buffer, offset, length, position);
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return fs.readSync(this.#descriptor, buffer, offset, length, position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      written += fs.writeSync(this.#descriptor, data, written, data.length - written, position + written);
    }
  }

  async writeOffThread(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const offset = written;
      written += await new Promise<number>((resolve, reject) => {
        fs.write(this.#descriptor, data, offset, data.length - offset, position + offset, (error, count) => (error ? reject(error) : resolve(count)));
      });
    }
  }

  datasync(mayBlock = false): Promise<void> {
    if (mayBlock && this.#syncMode === 'adaptive') return this.#placedDatasync();
    if (this.#syncMode === 'inline') return this.#inlineDatasync();
    return callbackToPromise((done) => fs.fdatasync(this.#descriptor, done));
  }

  #inlineDatasync(): Promise<void> {
    try {
      fs.fdatasyncSync(this.#descriptor);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  /** 'adaptive' with the hint: inline or thread pool as SyncPlacement says, timed for it. */
  #placedDatasync(): Promise<void> {
    const placement = this.#placement;
    const startMs = performance.now();
    if (placement.chooseInline()) {
      const synced = this.#inlineDatasync();
      placement.record(true, performance.now() - startMs);
      return synced;
    }
    return callbackToPromise((done) => fs.fdatasync(this.#descriptor, (error) => {
      placement.record(false, performance.now() - startMs);
      done(error);
    }));
  }

  sync(): Promise<void> {
    return callbackToPromise((done) => fs.fsync(this.#descriptor, done));
  }

  truncate(sizeBytes: number): Promise<void> {
    return callbackToPromise((done) => fs.ftruncate(this.#descriptor, sizeBytes, done));
  }

  async size(): Promise<number> {
    return fs.fstatSync(this.#descriptor).size;
  }

  async close(): Promise<void> {
    const descriptor = this.#descriptor;
    this.#descriptor = -1;
    if (descriptor >= 0) fs.closeSync(descriptor);
  }
}

export class NodeFileSystem implements FileSystem {
  readonly #syncMode: SyncMode;
  /** One placement per file system: every WAL segment's handle shares its measurements. */
  readonly #placement = new SyncPlacement();

  constructor(options: { syncMode?: SyncMode } = {}) {
    this.#syncMode = options.syncMode ?? 'adaptive';
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const { descriptor } = openWithoutBlocking(path, openFlags[mode]);
    return new NodeFileHandle(path, descriptor, this.#syncMode, this.#placement);
  }

  /**
   * The file opened and sized on the calling thread, its bytes read by one request on
   * the thread pool (a loop only for a short read), the descriptor closed on the calling
   * thread. fs.promises.readFile reads in 512 KiB requests, each a thread-pool round
   * trip the event loop must turn for: a WAL segment read ahead while the previous one
   * replays (synchronous, in wal-recovery.ts) got no further than its first request,
   * and its other requests came one turn at a time after the replay, each a wait for a
   * CPU on a busy machine (issue 7: 10 requests for a 4 MiB segment, 40 for the 16 MiB
   * a killed 1M-key store replays). Now the whole read runs beside the replay.
   */
  async readFile(path: string): Promise<Uint8Array> {
    const { descriptor, stats } = openWithoutBlocking(path, openFlags.read);
    try {
      const sizeBytes = stats.size;
      const bytes = Buffer.allocUnsafeSlow(sizeBytes);
      let readBytes = 0;
      while (readBytes < sizeBytes) {
        const count = await readAt(descriptor, bytes, readBytes, sizeBytes - readBytes);
        if (count === 0) break; // shorter than when it was sized
        readBytes += count;
      }
      return readBytes === sizeBytes ? bytes : bytes.subarray(0, readBytes);
    } finally {
      fs.closeSync(descriptor);
    }
  }

  readdir(dir: string): Promise<string[]> {
    return fsPromises.readdir(dir);
  }

  async mkdir(dir: string): Promise<void> {
    await mkdirWithParents(dir);
  }

  rename(from: string, to: string): Promise<void> {
    return fsPromises.rename(from, to);
  }

  link(existingPath: string, newPath: string): Promise<void> {
    return fsPromises.link(existingPath, newPath);
  }

  unlink(path: string): Promise<void> {
    return fsPromises.unlink(path);
  }

  removeDirectory(dir: string): Promise<void> {
    return fsPromises.rmdir(dir);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fsPromises.stat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async syncDirectory(dir: string): Promise<void> {
    const descriptor = fs.openSync(dir, openFlags.read);
    try {
      await callbackToPromise((done) => fs.fsync(descriptor, done));
    } finally {
      fs.closeSync(descriptor);
    }
  }
}
