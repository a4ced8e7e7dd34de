/**
 * Review of WAL format 2 (19b338d): repair of damage inside a segment made from a
 * recycled file. The segment holds 4 records of its own use, then the earlier use's
 * records (checksum-valid, another use tag). Damage in the second record: without
 * repair the open is refused naming the file and offset; with repair exactly the
 * damaged record and the two records of this use after it are dropped (the earlier
 * use's records are neither counted nor replayed), a version marker keeps numbering
 * above them, and the log reopens without repair, takes writes and reopens again.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { createSegment, removeSegmentsBelow, segmentFileName } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
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

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

/** Segment 3, made from segment 1's file, holding versions [first, first + 3] and then segment 1's records. */
async function recycledSegmentWithFourRecords(hash: Hash64): Promise<{ fileSystem: FaultFileSystem; versions: number[]; offsets: number[] }> {
  const fileSystem = new FaultFileSystem(17);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });
  let version = 0;
  for (let index = 0; index < 12; index++) await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
  writer.cutAtNextRecord();
  await writer.rotateAtCut();
  await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
  // One record in segment 2, cut: segment 3 is made from segment 1's file (the pool's only one).
  await writer.writeGroup([commitOf(++version, 100)]);
  writer.cutAtNextRecord();
  await writer.rotateAtCut();
  expect(writer.segmentNumber).toBe(3);
  expect(writer.stats().segmentsRecycled).toBe(1);
  const versions: number[] = [];
  for (let index = 0; index < 4; index++) {
    await writer.writeGroup([commitOf(++version, 3 * KIBIBYTE)]);
    versions.push(version);
  }
  await writer.close();
  const image = Buffer.from(await fileSystem.readFile(`${WAL_DIR}/${segmentFileName(3)}`));
  const offsets: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  for (let index = 0; index < 4; index++) {
    const check = checkRecord(image, offset, hash, recordTagOf(FORMAT_VERSION, 3));
    expect(check.kind).toBe('valid');
    offsets.push(offset);
    if (check.kind === 'valid') offset += check.lengthBytes;
  }
  // Segment 1's records follow this use's (after the zero record header the writer left).
  expect(image.indexOf(Buffer.from('key-12'), offset)).toBeGreaterThan(offset);
  return { fileSystem, versions, offsets };
}

async function recover(fileSystem: FaultFileSystem, hash: Hash64, repair: boolean) {
  const versions: number[] = [];
  const result = await recoverWal(fileSystem, WAL_DIR, hash, repair, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  }, { expectedFirstSegment: 2 });
  return { versions, result };
}

describe('repair in a segment made from a recycled file', () => {
  it('drops the damaged record and this use\'s records after it, not the earlier use\'s; the log then reopens and takes writes', async () => {
    const hash = await loadHash64();
    const { fileSystem, versions, offsets } = await recycledSegmentWithFourRecords(hash);
    const path = `${WAL_DIR}/${segmentFileName(3)}`;
    fileSystem.flipBit(path, offsets[1]! + 500, 2);
    const refused = await recover(fileSystem, hash, false).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect(refused).toMatchObject({ file: path, offset: offsets[1] });

    const repaired = await recover(fileSystem, hash, true);
    expect(repaired.result.repair).toMatchObject({ file: path, offset: offsets[1], droppedRecords: 3, droppedCommits: 3, droppedSegments: [] });
    // Segment 2's record, segment 3's first, then the marker of the highest dropped version.
    expect(repaired.versions).toEqual([versions[0]! - 1, versions[0], versions[3]]);
    expect(repaired.result.resume?.segmentNumber).toBe(3);

    const rebooted = fileSystem.crash('drop-unsynced');
    const again = await recover(rebooted, hash, false);
    expect(again.versions).toEqual([versions[0]! - 1, versions[0], versions[3]]);
    expect(again.result.tornTail).toBeUndefined();
    const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, again.result.resume!);
    const next = versions[3]! + 1;
    await writer.writeGroup([commitOf(next, 2 * KIBIBYTE)]);
    await writer.writeGroup([commitOf(next + 1, 2 * KIBIBYTE)]);
    await writer.close();
    const last = await recover(rebooted.crash('drop-unsynced'), hash, false);
    expect(last.versions).toEqual([versions[0]! - 1, versions[0], versions[3], next, next + 1]);
    expect(last.result.tornTail).toBeUndefined();
  });
});
