/**
 * Review of WAL format 2 (19b338d): I/O errors on a recycled pool file.
 *
 * The pool is an optimisation: a pool file holds nothing of the log, and the writer can
 * always create a new segment instead (createSegment, as before format 2). Yet
 * takeRecycledSegment reads each candidate's header (aliasesLiveSegment) and lets any
 * error but ENOENT escape, so one unreadable sector at the start of a pool file (a read
 * EIO) fails the rotation and the commit that needed the next segment; the file stays in
 * the pool, so the next rotation reads it again. All over a file that is garbage: before
 * format 2 it had been unlinked and nothing ever read it. (Unlinking pool files larger
 * than segmentSizeBytes on the way, 3a39f06, lets an unlink error escape the same way.)
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { createSegment, listSegments, removeSegmentsBelow } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const WAL_DIR = '/wal';
const SEGMENT_BYTES = 64 * KIBIBYTE;
const POOL_FILE = `${WAL_DIR}/recycled-0000000001-${SEGMENT_BYTES}.log`;

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** Segment 1 written, cut and covered (in the pool); the writer in segment 2. */
async function writerWithPool(hash: Hash64): Promise<{ fileSystem: FaultFileSystem; writer: WalWriter; version: number }> {
  const fileSystem = new FaultFileSystem(5);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });
  let version = 0;
  for (let index = 0; index < 11; index++) await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
  writer.cutAtNextRecord();
  await writer.rotateAtCut();
  await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
  expect(await fileSystem.exists(POOL_FILE)).toBe(true);
  return { fileSystem, writer, version };
}

describe('an I/O error on a pool file', () => {
  it('with the pool file readable, segment 3 is made from it (the path the faulty case takes)', async () => {
    const hash = await loadHash64();
    const { fileSystem, writer, version: start } = await writerWithPool(hash);
    let version = start;
    while (writer.segmentNumber < 4) await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
    expect(writer.stats().segmentsRecycled).toBe(1);
    await writer.close();
    expect(await fileSystem.exists(POOL_FILE)).toBe(false);
  });

  it('a read EIO on the pool file\'s header does not fail the commits: the next segment is created new', async () => {
    const hash = await loadHash64();
    const { fileSystem, writer, version: start } = await writerWithPool(hash);
    fileSystem.injectFault({ operation: 'read', error: 'EIO', path: POOL_FILE, persistent: true });
    let version = start;
    const acknowledged: number[] = [];
    // Fails on 19b338d: the writeGroup that needs segment 3 rejects with EIO (read of the pool file).
    while (writer.segmentNumber < 4) {
      await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
      acknowledged.push(version);
    }
    await writer.close();
    expect(await listSegments(fileSystem, WAL_DIR)).toEqual([2, 3, 4]);
    const versions: number[] = [];
    await recoverWal(fileSystem.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    }, { expectedFirstSegment: 2 });
    expect(versions).toEqual(acknowledged);
  });
});
