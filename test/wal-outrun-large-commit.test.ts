/**
 * A commit larger than the segment prepared ahead, right after a rotation that began the
 * next segment early (segment-rotation.ts OUTRUN_RECORDS_MAX, 1bb19ce). A segment that at
 * most 4 records filled past half has its next prepared as the rotation to it ends, at
 * twice its size. When that rotation was for a commit too large for the segment it took
 * (itself prepared at half full, before the commit was known), the writer rotates again
 * at once and takes the early-begun one, whatever its size: sized only by doubling, it
 * did not hold the commit either, and the writer's assertion (a segment made for the
 * commit holds it) failed the store on a valid put: a fresh store's 40 KB put then a
 * 300 KB one (segments 64 KiB, 128 KiB, 256 KiB).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_INITIAL } from '../src/limits.js';
import { createSegment, firstSegmentSizeBytes } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type FramedCommit, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const WAL_DIR = '/wal';
/** Past half of the 64 KiB first segment, in one record: the next segment (128 KiB) is prepared after it. */
const HALF_FILLING_BYTES = 40_000;
/** Larger than the 128 KiB and 256 KiB segments prepared ahead (segment 2 at half full, 3 as the rotation to 2 ends). */
const LARGE_BYTES = 300_000;

function commitOf(version: number, valueBytes: number): FramedCommit {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill(version) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) } as FramedCommit;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('a commit larger than the segments prepared ahead, after an outrun segment', () => {
  it('the writer writes it (into a segment made for it) and recovery reads it back', async () => {
    const fileSystem = new FaultFileSystem(3);
    await fileSystem.mkdir(WAL_DIR);
    await fileSystem.syncDirectory('/');
    const hash = await loadHash64();
    expect(firstSegmentSizeBytes(SEGMENT_BYTES_DEFAULT)).toBe(SEGMENT_BYTES_INITIAL);
    const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES_INITIAL, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_DEFAULT }, { ...first, offset: SEGMENT_HEADER_BYTES });
    await writer.writeGroup([commitOf(1, HALF_FILLING_BYTES)]);
    // The 128 KiB segment 2, prepared at half full, is ready.
    await turns(20);
    const result = await writer.writeGroup([commitOf(2, LARGE_BYTES)]);
    expect(result.commitCount).toBe(1);
    // Segment 2 (128 KiB) is left empty; segment 3, begun early by the rotation to 2, holds the commit.
    expect(writer.segmentNumber).toBe(3);
    const segment3 = await fileSystem.readFile(`${WAL_DIR}/wal-0000000003.log`);
    expect(segment3.length).toBeGreaterThanOrEqual(SEGMENT_HEADER_BYTES + LARGE_BYTES);
    await writer.writeGroup([commitOf(3, 100)]);
    await writer.close();
    const versions: number[] = [];
    await recoverWal(fileSystem.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual([1, 2, 3]);
  });

  it('a store takes a 40 KB put then a 300 KB put, and both survive a power loss', async () => {
    const fileSystem = new FaultFileSystem(4);
    const store = await openStore('/db', { fileSystem, checkpointOnClose: false });
    await store.put('small', new Uint8Array(HALF_FILLING_BYTES).fill(1));
    await turns(20);
    // Before the fix: StoreFailedError (assertion failed: a segment made for the commit holds it).
    await store.put('large', new Uint8Array(LARGE_BYTES).fill(2));
    await store.put('after', 3);
    expect(store.stats().failed).toBe(false);
    await store.close();
    const reopened = await openStore('/db', { fileSystem: fileSystem.crash('drop-unsynced') });
    expect(await reopened.get('small')).toEqual(new Uint8Array(HALF_FILLING_BYTES).fill(1));
    expect(await reopened.get('large')).toEqual(new Uint8Array(LARGE_BYTES).fill(2));
    expect(await reopened.get('after')).toBe(3);
    await reopened.close();
  });
});
