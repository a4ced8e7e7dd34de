/**
 * The two fsyncs of the segment writing resumes in (src/wal/wal-resume.ts,
 * openForResume): the segment's sync and the wal/ directory's. They run together (issue
 * 7: on every clean reopen they were two device cache flushes one after the other), the
 * open returns only once both are done, and a failure of either fails the open with no
 * handle left open and the lock released, so a later open reads every commit. A crash
 * at each call of a reopen, in every mode, is swept in reopen-open-syncs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { ErrorCode } from '../src/errors.js';
import { countedHandle, ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { closedStore } from './support/closed-store.js';
import { openOn, scanAll, WAL_DIR } from './workload.js';

const WAL_SEGMENT = /\/wal-\d+\.log$/;


/** Records syncs in order; a WAL segment's sync() can be held (after the real one) until released. */
class ResumeSyncFileSystem extends ForwardingFileSystem {
  readonly calls: string[] = [];
  readonly counter = { openHandles: 0 };
  holdSegmentSync = false;
  releaseSegmentSync: (() => void) | undefined;

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const sync = async (): Promise<void> => {
      this.calls.push(`sync ${path}`);
      await handle.sync();
      if (this.holdSegmentSync && WAL_SEGMENT.test(path)) {
        this.calls.push(`sync held ${path}`);
        await new Promise<void>((resolve) => { this.releaseSegmentSync = resolve; });
      }
      this.calls.push(`sync done ${path}`);
    };
    return countedHandle(replaceMethods(handle, { sync }), this.counter);
  }
  override async syncDirectory(dir: string): Promise<void> {
    this.calls.push(`syncDirectory ${dir}`);
    await super.syncDirectory(dir);
    this.calls.push(`syncDirectory done ${dir}`);
  }
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe("the resume segment's fsyncs at open", () => {
  it('the segment and wal/ are synced together, and the open returns only once both are done', async () => {
    const { fileSystem: inner, expected } = await closedStore(11, 20);
    const fileSystem = new ResumeSyncFileSystem(inner);
    fileSystem.holdSegmentSync = true;
    let returned = false;
    const opening = openOn(fileSystem as unknown as FaultFileSystem).then((store) => {
      returned = true;
      return store;
    });
    for (let turn = 0; turn < 1000 && fileSystem.releaseSegmentSync === undefined; turn++) await turns(1);
    expect(fileSystem.releaseSegmentSync).toBeDefined();
    const held = fileSystem.calls.findIndex((call) => call.startsWith('sync held '));
    // The wal/ sync of the resume starts while the segment's sync is held (before: only after it).
    for (let turn = 0; turn < 200 && !fileSystem.calls.slice(held).includes(`syncDirectory done ${WAL_DIR}`); turn++) await turns(1);
    expect(fileSystem.calls.slice(held)).toContain(`syncDirectory done ${WAL_DIR}`);
    await turns(20);
    expect(returned).toBe(false);
    fileSystem.holdSegmentSync = false;
    fileSystem.releaseSegmentSync!();
    const store = await opening;
    try {
      expect(await scanAll(store)).toEqual(expected);
    } finally {
      await store.close();
    }
  });

  for (const failing of ['the segment', 'wal/'] as const) {
    it(`a failed fsync of ${failing} fails the open, no handle is left open, and a later open reads every commit`, async () => {
      const { fileSystem: inner, expected } = await closedStore(failing === 'wal/' ? 12 : 13, 20);
      if (failing === 'wal/') {
        // The first sync of wal/ is the open's re-sync of its directories; the second is the resume's.
        inner.injectFault({ operation: 'syncDirectory', error: 'EIO', path: WAL_DIR, nth: 2 });
      } else {
        inner.injectFault({ operation: 'sync', error: 'EIO', path: WAL_SEGMENT });
      }
      const fileSystem = new ResumeSyncFileSystem(inner);
      const error = await openOn(fileSystem as unknown as FaultFileSystem).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: ErrorCode.Io });
      expect(fileSystem.counter.openHandles).toBe(0);
      const store = await openOn(inner);
      try {
        expect(await scanAll(store)).toEqual(expected);
      } finally {
        await store.close();
      }
    });
  }
});
