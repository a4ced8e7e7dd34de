/**
 * close() while the WAL writer's next segment is being prepared in the background: the
 * close waits for the preparation (its handle is closed, none is left open), a
 * preparation that fails meanwhile rejects nothing unhandled and does not fail the close,
 * and the next open reads the log exactly (the prepared segment, if left, is a valid empty
 * one it resumes in; a failed one left no file) and writes on. With checkpointOnClose the
 * close's checkpoint removes the larger prepared segment for its small one instead; a
 * failed preparation is then reported by that close (the checkpoint could not rotate),
 * and the close called again completes without a checkpoint.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { settled } from './helpers.js';
import { countedHandle, ForwardingFileSystem } from './support/file-system-wrappers.js';

const VALUE = 'v'.repeat(10_000);

/** Holds the creation of WAL segment 2 while armed; counts the segment handles open. */
class HeldPreparation extends ForwardingFileSystem<FaultFileSystem> {
  armed = true;
  held = false;
  openHandles = 0;
  #resume: (() => void) | undefined;

  release(): void {
    this.armed = false;
    this.#resume?.();
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!/\/wal\/wal-\d+\.log$/.test(path)) return handle;
    return countedHandle(handle, this);
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (this.armed && mode === 'createExclusive' && path.endsWith('/wal/wal-0000000002.log')) {
      this.held = true;
      await new Promise<void>((resume) => {
        this.#resume = resume;
      });
    }
    return super.open(path, mode);
  }
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('close() while the next WAL segment is being prepared', () => {
  for (const checkpointOnClose of [false, true]) {
    for (const failing of [false, true]) {
      it(`checkpointOnClose ${checkpointOnClose}, the preparation ${failing ? 'failing (EIO on its fsync)' : 'succeeding'}: close waits for it, leaves no handle, and the log reopens exactly`, async () => {
        const inner = new FaultFileSystem(31);
        const fileSystem = new HeldPreparation(inner);
        const store = await openStore('/db', { fileSystem, checkpointOnClose });
        if (failing) inner.injectFault({ operation: 'sync', error: 'EIO', path: '/db/wal/wal-0000000002.log' });
        // Past half of the 64 KiB first segment: segment 2 is prepared, and its creation held.
        for (let index = 0; index < 4; index++) await store.put(`key-${index}`, VALUE);
        await turns(5);
        expect(fileSystem.held).toBe(true);
        const closing = store.close();
        const close = settled(closing);
        await turns(10);
        if (!checkpointOnClose) expect(close.done, 'close waits for the preparation').toBe(false);
        fileSystem.release();
        if (checkpointOnClose && failing) {
          // The close's checkpoint removes the prepared segment and meets its failure: reported (IoError), and
          // final for the writer; close called again skips the checkpoint (the WAL keeps the data) and completes.
          await expect(closing).rejects.toMatchObject({ message: expect.stringContaining('EIO') });
          await store.close();
        } else {
          await closing;
        }
        expect(fileSystem.openHandles, 'segment handles left open').toBe(0);
        const walFiles = (await inner.readdir('/db/wal')).filter((name) => name.startsWith('wal-')).sort();
        const reopened = await openStore('/db', { fileSystem: inner.crash('drop-unsynced') });
        expect(reopened.stats().recovery.removedSegments, walFiles.join(' ')).toEqual([]);
        for (let index = 0; index < 4; index++) expect(await reopened.get(`key-${index}`)).toBe(VALUE);
        await reopened.put('after', 1);
        expect(await reopened.get('after')).toBe(1);
        await reopened.close();
      });
    }
  }
});
