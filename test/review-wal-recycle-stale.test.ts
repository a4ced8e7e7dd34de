/**
 * Review of WAL format 2 (19b338d): an earlier use's bytes in a recycled segment that
 * the writer prepared ahead (empty, its header fsynced) while the last record of the
 * segment before it was torn by a crash.
 *
 * Recovery tells a torn tail from lost data by asking whether any later segment holds
 * records (wal-recovery.ts segmentHasRecords). For a format-2 segment it counts as data
 * when "its first record is not an end": a checksum-valid record of the earlier use is
 * an end, but an earlier-use record whose bytes were damaged while the file sat covered
 * or in the pool (nothing reads or checks covered segments) is 'invalid', not 'end', so
 * the empty prepared segment "holds data" and the ordinary torn tail before it becomes
 * CorruptionError: the store refuses to open over damage in bytes that are no data of
 * its log at all. Before format 2 such a file was unlinked (and a new segment is zeros).
 * Only one group write is ever in flight, so an empty later segment with no
 * checksum-valid record of its own use tag cannot hold an acknowledged commit while the
 * segment before it has a torn tail.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { createSegment, listSegments, removeSegmentsBelow, segmentFileName } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  encodeRecord,
  FORMAT_VERSION,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  recordTagOf,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { checkRecord } from '../src/wal/wal-record-read.js';
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

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Segment 1 written and covered (pooled); segment 2 written past half, so the writer
 * prepares segment 3 from segment 1's file; then the next record of segment 2 is torn
 * (its first 700 bytes written, as 'torn-last-write' leaves a record write).
 * `damagePool` flips one bit of segment 1's first record while the file is in the pool.
 */
async function tornTailBeforePreparedRecycledSegment(hash: Hash64, damagePool: boolean): Promise<{ fileSystem: FaultFileSystem; acknowledged: number[]; tornOffset: number }> {
  const fileSystem = new FaultFileSystem(21);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });
  let version = 0;
  for (let index = 0; index < 11; index++) await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
  writer.cutAtNextRecord();
  await writer.rotateAtCut();
  expect(writer.segmentNumber).toBe(2);
  // A flush covered segment 1 (the manifest's WAL start is 2): it goes to the pool.
  await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
  expect((await fileSystem.readdir(WAL_DIR)).sort()).toEqual([`recycled-0000000001-${SEGMENT_BYTES}.log`, segmentFileName(2)]);
  // Damage in the garbage: a byte of segment 1's first record's payload (covered, never read again).
  if (damagePool) fileSystem.flipBit(POOL_FILE, SEGMENT_HEADER_BYTES + 200, 3);
  const acknowledged: number[] = [];
  for (let index = 0; index < 7; index++) {
    await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
    acknowledged.push(version);
  }
  await turns(20);
  expect(writer.segmentNumber).toBe(2);
  // Past half of segment 2: the next segment was prepared from the pool file.
  expect(await listSegments(fileSystem, WAL_DIR)).toEqual([2, 3]);
  expect(writer.stats().segmentsRecycled).toBe(1);
  await writer.close();
  // The next group's write, torn by the crash (never acknowledged).
  const path = `${WAL_DIR}/${segmentFileName(2)}`;
  const image = Buffer.from(await fileSystem.readFile(path));
  const tag = recordTagOf(FORMAT_VERSION, 2);
  let tornOffset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const check = checkRecord(image, tornOffset, hash, tag);
    if (check.kind !== 'valid') break;
    tornOffset += check.lengthBytes;
  }
  const record = Buffer.alloc(6 * KIBIBYTE);
  encodeRecord([commitOf(++version, 5 * KIBIBYTE)], record, 0, hash, tag);
  const handle = await fileSystem.open(path, 'readWrite');
  await handle.write(record.subarray(0, 700), tornOffset);
  await handle.sync();
  await handle.close();
  return { fileSystem, acknowledged, tornOffset };
}

async function recover(fileSystem: FaultFileSystem, hash: Hash64) {
  const versions: number[] = [];
  const result = await recoverWal(fileSystem, WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  }, { expectedFirstSegment: 2 });
  return { versions, result };
}

describe('a torn tail before an empty segment made from a recycled file', () => {
  it('is a torn tail when the earlier use\'s bytes are intact: every acknowledged commit, and writing resumes', async () => {
    const hash = await loadHash64();
    const { fileSystem, acknowledged, tornOffset } = await tornTailBeforePreparedRecycledSegment(hash, false);
    const { versions, result } = await recover(fileSystem, hash);
    expect(versions).toEqual(acknowledged);
    expect(result.tornTail).toMatchObject({ file: `${WAL_DIR}/${segmentFileName(2)}`, offset: tornOffset });
    expect(result.resume?.segmentNumber).toBe(3);
  });

  it('is still a torn tail when a byte of the earlier use\'s record in that file was damaged in the pool (not CorruptionError)', async () => {
    const hash = await loadHash64();
    const { fileSystem, acknowledged, tornOffset } = await tornTailBeforePreparedRecycledSegment(hash, true);
    // Fails on 19b338d: CorruptionError at wal-0000000002.log, the torn record's offset
    // ('record checksum mismatch'): segment 3 counts as holding data because its first
    // bytes (segment 1's damaged record, use tag 1) read as 'invalid', not 'end'.
    const { versions, result } = await recover(fileSystem, hash);
    expect(versions).toEqual(acknowledged);
    expect(result.tornTail).toMatchObject({ file: `${WAL_DIR}/${segmentFileName(2)}`, offset: tornOffset });
  });
});
