/**
 * Errors without a stable `code` are internal: they must never reach a caller of the
 * store (src/errors.ts: every error a caller sees is typed, with a `code`).
 *
 * - FlushThreadExited (src/engine/flush-thread.ts): a thread ended under a flush makes
 *   the flusher write the memtable in process (test/flush-thread.test.ts); on a handle
 *   abandoned as a dead process the flush fails, and a checkpoint() waiting for it
 *   rejects with StoreClosedError (LADYBUG_STORE_CLOSED), the exit as its cause. It
 *   rejected with the bare FlushThreadExited before.
 * - SegmentCreationAbandoned (src/wal/segment-files.ts): a checkpoint's rotation
 *   abandons the large next segment being zero-filled in the background; the
 *   rejection stays inside the WAL writer: the checkpoint resolves, nothing is left
 *   unhandled, the store writes on and reopens exact.
 *
 * No timing: the flush is held by flushThreadTestHooks.holdNextFlush; the abandoned
 * creation is seen on its handle (zero-fill writes, no sync). The checkpoint reaches
 * the rotation in microtasks, the fill moves one chunk per event-loop turn (its writes
 * off the event loop complete a turn later, as on the thread pool).
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FlushThreadExited, flushThreadTestHooks, flushWorkerBuilt } from '../src/engine/flush-thread.js';
import { FLUSH_THREAD_MIN_MEMTABLE_BYTES, flushSettings } from '../src/engine/flusher.js';
import { isLadybugError, StoreClosedError } from '../src/errors.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { WAL_ZERO_FILL_STEP_BYTES } from '../src/limits.js';
import { abandonStore } from '../src/store/store.js';
import { segmentFileName } from '../src/wal/segment-files.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { ensureMergeWorkerBuilt } from './support/merge-worker-build.js';

const MEBIBYTE = 1024 * 1024;
/** segment-files.ts's zero-fill chunk (zeroFillRange): writes of this size to a segment are zero-fill chunks. */
const ZERO_FILL_CHUNK_BYTES = WAL_ZERO_FILL_STEP_BYTES;

/** Records each handle's writes (their lengths) and syncs, per path in the order the handles were opened. */
class HandleRecordingFileSystem extends ForwardingFileSystem {
  readonly handles: Array<{ path: string; writeLengths: number[]; syncs: number }> = [];

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const record = { path, writeLengths: [] as number[], syncs: 0 };
    this.handles.push(record);
    return replaceMethods(handle, {
      write: (data, position) => {
        record.writeLengths.push(data.length);
        return handle.write(data, position);
      },
      // Completes a turn of the event loop later, as a write on the thread pool does.
      writeOffThread: async (data, position) => {
        record.writeLengths.push(data.length);
        await handle.write(data, position);
        await new Promise((resolve) => setImmediate(resolve));
      },
      sync: () => {
        record.syncs++;
        return handle.sync();
      },
    });
  }
}

/** Collects unhandled rejections while `body` runs and a few turns after it. */
async function unhandledRejectionsDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  try {
    await body();
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('FlushThreadExited never reaches a caller', () => {
  beforeAll(async () => {
    await ensureMergeWorkerBuilt();
    expect(flushWorkerBuilt()).toBe(true);
  }, 180_000);

  beforeEach(() => {
    flushSettings.threadMinMemtableBytes = 0;
  });

  afterEach(() => {
    flushSettings.threadMinMemtableBytes = FLUSH_THREAD_MIN_MEMTABLE_BYTES;
    flushThreadTestHooks.holdNextFlush = false;
    flushThreadTestHooks.onHeld = undefined;
    removeTemporaryDirectories();
  });

  it('a checkpoint waiting for a thread flush of a handle abandoned meanwhile rejects StoreClosedError, the exit as its cause', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { memoryBudgetBytes: 32 * MEBIBYTE });
    const written = new Map<string, string>();
    for (let index = 0; index < 4000; index++) {
      const key = `key-${String(index).padStart(6, '0')}`;
      written.set(key, 'flush thread '.repeat(8 + (index % 9)));
    }
    await store.batch([...written].map(([key, value]) => ({ type: 'put' as const, key, value })));
    flushThreadTestHooks.holdNextFlush = true;
    const held = new Promise<void>((resolve) => (flushThreadTestHooks.onHeld = resolve));
    const checkpointing = store.checkpoint();
    checkpointing.catch(() => undefined);
    await held;
    store[abandonStore]();
    const error = await checkpointing.then(() => undefined, (reason: unknown) => reason);
    expect(error).toBeInstanceOf(StoreClosedError);
    expect(isLadybugError(error)).toBe(true);
    expect((error as StoreClosedError).code).toBe('LADYBUG_STORE_CLOSED');
    expect((error as StoreClosedError).cause).toBeInstanceOf(FlushThreadExited);
    // Nothing acknowledged is lost: the next open replays the WAL.
    const reopened = await openStore(directory, { memoryBudgetBytes: 32 * MEBIBYTE });
    for (const [key, value] of written) expect(await reopened.get(key)).toBe(value);
    await reopened.close();
  }, 120_000);
});

describe('SegmentCreationAbandoned never reaches a caller', () => {
  it('a checkpoint abandons the next segment being zero-filled: it resolves, nothing unhandled, the store writes on and reopens exact', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new HandleRecordingFileSystem(inner);
    const options = { fileSystem, segmentSizeBytes: 64 * MEBIBYTE };
    const store = await openStore('/db', options);
    const large = 'x'.repeat(8 * MEBIBYTE);
    const unhandled = await unhandledRejectionsDuring(async () => {
      // An 8 MiB record moves the log to segment 2 (sized for it) and fills it past half:
      // the writer starts preparing segment 3 (16 MiB, 4 zero-fill chunks) in the background.
      await store.put('large', large);
      // The checkpoint comes once segment 3's preparation has zero-filled a chunk (it looks
      // for a recycled file first, WAL format 2, so it may not have started by the time the put resolves).
      const segment3Path = `/db/wal/${segmentFileName(3)}`;
      for (let turn = 0; turn < 100_000; turn++) {
        if (fileSystem.handles.some((handle) => handle.path === segment3Path && handle.writeLengths.includes(ZERO_FILL_CHUNK_BYTES))) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await store.checkpoint();
      await store.put('after', 'the checkpoint');
    });
    expect(unhandled).toEqual([]);
    // Segment 3's first handle is the background preparation: it zero-filled and was
    // abandoned before its header and sync (createSegment syncs once the fill is done);
    // the second is the small segment the rotation made in its place.
    const segment3 = fileSystem.handles.filter((handle) => handle.path === `/db/wal/${segmentFileName(3)}`);
    expect(segment3.length).toBe(2);
    expect(segment3[0]!.writeLengths.filter((length) => length === ZERO_FILL_CHUNK_BYTES).length).toBeGreaterThan(0);
    expect(segment3[0]!.syncs).toBe(0);
    expect(segment3[1]!.syncs).toBeGreaterThan(0);
    expect(await store.get('large')).toBe(large);
    await store.close();
    const reopened = await openStore('/db', { ...options, fileSystem: inner.crash('keep-all') });
    expect(await reopened.get('large')).toBe(large);
    expect(await reopened.get('after')).toBe('the checkpoint');
    await reopened.close();
  }, 120_000);
});
