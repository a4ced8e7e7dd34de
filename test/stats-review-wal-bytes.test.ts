/**
 * stats().walBytes (and metrics().walBytesWrittenTotal, ladybug_wal_written_bytes_total)
 * counts the WAL records' bytes: how much the log grew. The store writes more into the WAL
 * files than that: each segment's 64-byte header, the zero fill that prepares a segment,
 * and in a recycled segment a 32-byte all-zero record header after each record (the next
 * record overwrites it). Measured here by a file system that sees every write, and
 * fsyncs against the record fdatasyncs it sees (one per group commit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES } from '../src/wal/wal-format.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const WAL_FILE = /\/wal\/(wal-\d+|recycled-\d+-\d+)\.log$/;

/** Sees every write into a WAL file, and the datasyncs of the handles records are written through. */
class WalWritesFileSystem extends ForwardingFileSystem {
  /** Bytes of every write into WAL files, zero fills and headers included. */
  writtenBytes = 0;
  /** The records' bytes: writes that are neither a segment header nor all zeros, less a recycled segment's end marker. */
  recordBytes = 0;
  /** Datasyncs of handles a record was written through since their previous datasync. */
  recordDatasyncs = 0;

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    if (!WAL_FILE.test(path)) return handle;
    const recycled = path.includes('recycled-');
    let recordWritten = false;
    const count = (data: Uint8Array, position: number): void => {
      this.writtenBytes += data.length;
      if (position === 0 && data.length === SEGMENT_HEADER_BYTES) return;
      if (data.every((byte) => byte === 0)) return;
      const marker = recycled && data.length > RECORD_HEADER_BYTES && data.subarray(data.length - RECORD_HEADER_BYTES).every((byte) => byte === 0) ? RECORD_HEADER_BYTES : 0;
      this.recordBytes += data.length - marker;
      recordWritten = true;
    };
    const offThread = handle.writeOffThread;
    return {
      ...replaceMethods(handle, {
        write: (data, position) => { count(data, position); return handle.write(data, position); },
        datasync: (mayBlock) => {
          if (recordWritten) this.recordDatasyncs++;
          recordWritten = false;
          return handle.datasync(mayBlock);
        },
      }),
      ...(offThread === undefined ? {} : { writeOffThread: (data: Uint8Array, position: number) => { count(data, position); return offThread.call(handle, data, position); } }),
    };
  }
}

describe('stats().walBytes is the WAL records\' bytes, fsyncs their fdatasyncs', () => {
  it('over new and recycled segments, across checkpoints', async () => {
    const fileSystem = new WalWritesFileSystem(new NodeFileSystem());
    const store = await openStore(temporaryDirectory(), { fileSystem });
    try {
      for (let round = 0; round < 6; round++) {
        for (let index = 0; index < 40; index++) await store.put(`key/${round}/${index}`, 'v'.repeat(100 + index));
        await store.batch(Array.from({ length: 30 }, (_, index) => ({ type: 'put' as const, key: `batch/${index}`, value: round })));
        await store.checkpoint();
      }
      const stats = store.stats();
      expect(stats.commits).toBe(6 * 41);
      expect(stats.walBytes).toBe(fileSystem.recordBytes);
      expect(store.metrics().walBytesWrittenTotal).toBe(stats.walBytes);
      expect(fileSystem.writtenBytes).toBeGreaterThan(stats.walBytes);
      expect(stats.fsyncs).toBe(stats.groupCommits);
      expect(stats.fsyncs).toBe(fileSystem.recordDatasyncs);
    } finally {
      await store.close();
    }
  });
});
