/**
 * A seal's cut (and a checkpoint's rotation) moves the WAL to a new small segment and
 * deletes the large next segment prepared in the background. It waited for that
 * segment's whole zero fill and fsync before deleting it: 170-285 ms of stalled
 * commits per seal with 4 KiB values on a busy disk (issue 12). Now the creation is
 * abandoned at its next zero-fill chunk and its partial file removed, and the small
 * segment takes its number.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WAL_ZERO_FILL_AHEAD_BYTES, WAL_ZERO_FILL_STEP_BYTES } from '../src/limits.js';
import { checkpointSegmentSizeBytes, createSegment, segmentFileName } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES, type EncodableOperation } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const MEBIBYTE = 1024 * 1024;
/** segment-files.ts's zero-fill chunk (zeroFillRange): writes of this size to a segment are zero-fill chunks. */
const ZERO_FILL_CHUNK_BYTES = WAL_ZERO_FILL_STEP_BYTES;

/**
 * Counts the writes of each length to each path. A write off the event loop (the zero
 * fill's) completes a turn of the loop later, as one on the thread pool does: the
 * in-memory file system completes every operation in microtasks, where a creation
 * would run to its end before anyone could abandon it.
 */
class WriteCountingFileSystem extends ForwardingFileSystem {
  readonly writes: Array<{ path: string; lengthBytes: number }> = [];

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const writes = this.writes;
    return replaceMethods(handle, {
      write: (data, position) => {
        writes.push({ path, lengthBytes: data.length });
        return handle.write(data, position);
      },
      writeOffThread: async (data, position) => {
        writes.push({ path, lengthBytes: data.length });
        await handle.write(data, position);
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
  }
}

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill(7) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

describe('a cut while the next segment is being prepared', () => {
  it('abandons the preparation at its next zero-fill chunk and creates the small segment in its place', async () => {
    const inner = new FaultFileSystem();
    await inner.mkdir('/wal');
    const fileSystem = new WriteCountingFileSystem(inner);
    const hash = await loadHash64();
    const segmentSizeBytes = 64 * MEBIBYTE;
    const created = await createSegment(fileSystem, '/wal', 1, 8 * MEBIBYTE, hash);
    const writer = new WalWriter({ fileSystem, walDir: '/wal', hash, segmentSizeBytes }, { ...created, offset: SEGMENT_HEADER_BYTES });
    // Past half of segment 1: the writer starts preparing segment 2 (16 MiB, its first WAL_ZERO_FILL_AHEAD_BYTES zero-filled) in the background.
    await writer.writeGroup([commitOf(1, 4 * MEBIBYTE + 1024)]);
    const nextPath = `/wal/${segmentFileName(2)}`;
    const chunksPlanned = WAL_ZERO_FILL_AHEAD_BYTES / ZERO_FILL_CHUNK_BYTES;
    // The preparation looks for a recycled file first (none here): let its zero fill begin.
    const chunksOfNext = (): number => fileSystem.writes.filter((write) => write.path === nextPath && write.lengthBytes === ZERO_FILL_CHUNK_BYTES).length;
    for (let turn = 0; turn < 100 && chunksOfNext() === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(await writer.rotateForCheckpoint()).toBe(true);
    const largeChunks = fileSystem.writes.filter((write) => write.path === nextPath && write.lengthBytes === ZERO_FILL_CHUNK_BYTES).length;
    // The old writer waited for every chunk of the fill (and the fsync) before deleting the file.
    expect(largeChunks).toBeGreaterThan(0);
    expect(largeChunks).toBeLessThan(chunksPlanned);
    // Segment 2 is the new small one (a checkpoint's size), valid and usable.
    expect(writer.segmentNumber).toBe(2);
    expect((await inner.readFile(nextPath)).length).toBe(checkpointSegmentSizeBytes(segmentSizeBytes));
    const result = await writer.writeGroup([commitOf(2, 100)]);
    expect(result.commitCount).toBe(1);
    expect(await inner.readdir('/wal')).toEqual([segmentFileName(1), segmentFileName(2)]);
    await writer.close();
  });

  it('a preparation that finished before the cut is closed and removed as before', async () => {
    const inner = new FaultFileSystem();
    await inner.mkdir('/wal');
    const fileSystem = new WriteCountingFileSystem(inner);
    const hash = await loadHash64();
    const created = await createSegment(fileSystem, '/wal', 1, MEBIBYTE, hash);
    const writer = new WalWriter({ fileSystem, walDir: '/wal', hash, segmentSizeBytes: 64 * MEBIBYTE }, { ...created, offset: SEGMENT_HEADER_BYTES });
    await writer.writeGroup([commitOf(1, MEBIBYTE / 2 + 1024)]);
    // Let the 2 MiB preparation finish: it zero-fills its first WAL_ZERO_FILL_AHEAD_BYTES, here all of it (one event-loop turn per chunk).
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    const nextPath = `/wal/${segmentFileName(2)}`;
    expect(fileSystem.writes.filter((write) => write.path === nextPath && write.lengthBytes === ZERO_FILL_CHUNK_BYTES)).toHaveLength(Math.min(2 * MEBIBYTE, WAL_ZERO_FILL_AHEAD_BYTES) / ZERO_FILL_CHUNK_BYTES);
    expect(await writer.rotateForCheckpoint()).toBe(true);
    expect(writer.segmentNumber).toBe(2);
    expect((await inner.readFile(nextPath)).length).toBe(checkpointSegmentSizeBytes(64 * MEBIBYTE));
    expect((await writer.writeGroup([commitOf(2, 100)])).commitCount).toBe(1);
    await writer.close();
  });
});
