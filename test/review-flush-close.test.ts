/**
 * Review of the flush path (issues 7 and 12), part 3: close() while a flush is in
 * flight and that flush then fails with a full disk.
 *
 * Flusher#close cleared the retry timer and then awaited the running flush; a flush
 * that failed DiskFullError while close waited set a new retry timer after that
 * clear, so FLUSH_RETRY_DELAY_MS after close() had resolved (the WAL closed, the
 * directory lock released: another handle may own the store) the flusher wrote a run
 * file again, under a run id the next owner allocates too. A store closed without
 * its close checkpoint (checkpointOnClose: false) or a failed store reaches close with
 * a background flush running.
 *
 * The run file's first write is held (a gate) until close() waits for the flush,
 * then fails ENOSPC. The test waits a bounded time for any file system call after
 * close() resolved (none must come); it cannot fail by slowness, only pass late.
 */
import { describe, expect, it } from 'vitest';
import { FLUSH_RETRY_DELAY_MS } from '../src/engine/flusher.js';
import { fileSystemError, type FileHandle, type FileSystem, type OpenMode } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { replaceMethods } from './support/file-system-wrappers.js';

/** Forwards to `inner`; the first write of a run's temporary file waits for `release` and fails ENOSPC; records calls after `closed`. */
class GatedRunFileSystem implements FileSystem {
  closed = false;
  readonly callsAfterClose: string[] = [];
  #release: (() => void) | undefined;
  readonly #released: Promise<void>;
  #heldResolve: (() => void) | undefined;
  readonly held: Promise<void>;
  #gated = true;

  constructor(readonly inner: FileSystem) {
    this.#released = new Promise<void>((resolve) => (this.#release = resolve));
    this.held = new Promise<void>((resolve) => (this.#heldResolve = resolve));
  }

  release(): void {
    this.#release?.();
  }

  #note(call: string, path: string): void {
    if (this.closed) this.callsAfterClose.push(`${call} ${path}`);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    this.#note('open', path);
    const handle = await this.inner.open(path, mode);
    if (!path.endsWith('.run.tmp') || !this.#gated) return handle;
    return replaceMethods(handle, {
      write: async (data, position) => {
        if (this.#gated) {
          this.#gated = false;
          this.#heldResolve?.();
          await this.#released;
          throw fileSystemError('ENOSPC', 'write', path);
        }
        return handle.write(data, position);
      },
    });
  }
  readFile(path: string) { this.#note('readFile', path); return this.inner.readFile(path); }
  readdir(dir: string) { this.#note('readdir', dir); return this.inner.readdir(dir); }
  mkdir(dir: string) { this.#note('mkdir', dir); return this.inner.mkdir(dir); }
  rename(from: string, to: string) { this.#note('rename', from); return this.inner.rename(from, to); }
  link(existingPath: string, newPath: string) { this.#note('link', newPath); return this.inner.link(existingPath, newPath); }
  unlink(path: string) { this.#note('unlink', path); return this.inner.unlink(path); }
  exists(path: string) { this.#note('exists', path); return this.inner.exists(path); }
  syncDirectory(dir: string) { this.#note('syncDirectory', dir); return this.inner.syncDirectory(dir); }
}

describe('close while a flush is in flight that then fails disk full', () => {
  it('no flush is retried after close() resolved (no file system call at all after close)', async () => {
    const fileSystem = new GatedRunFileSystem(new FaultFileSystem(11));
    const store = await openStore('/store', { fileSystem, checkpointOnClose: false, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN });
    // Writes until a memtable is sealed and its background flush is held at its run file's first write.
    let held = false;
    void fileSystem.held.then(() => (held = true));
    let written = 0;
    const acknowledged: number[] = [];
    while (!held) {
      const first = written;
      const batch = store.batch(Array.from({ length: 100 }, (_, offset) => ({ type: 'put' as const, key: `key-${first + offset}`, value: { index: first + offset, text: 'v'.repeat(100) } })));
      batch.then(() => acknowledged.push(first), () => undefined);
      await Promise.race([batch, fileSystem.held]);
      written += 100;
    }
    const closing = store.close();
    // close() is now waiting for the running flush; the disk turns out full.
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    fileSystem.release();
    await closing;
    fileSystem.closed = true;
    // Wait well past the retry delay (a late retry would show up; an early pass is impossible).
    await new Promise((resolve) => setTimeout(resolve, FLUSH_RETRY_DELAY_MS * 5));
    expect(fileSystem.callsAfterClose).toEqual([]);

    // The next open finds every write in the WAL.
    fileSystem.closed = false;
    const reopened = await openStore('/store', { fileSystem });
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const first of acknowledged) {
      for (let index = first; index < first + 100; index += 7) expect(await reopened.get(`key-${index}`)).toEqual({ index, text: 'v'.repeat(100) });
    }
    await reopened.close();
  }, 60_000);
});
