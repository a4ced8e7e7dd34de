/**
 * Review (wal-review, 2026-12-04): writing resumed after a reopen in a segment made from
 * a recycled file (WAL format 2, 19b338d). Found nothing; kept as a check.
 *
 * The bytes past a recycled segment's records are its earlier use's, so the writer
 * follows each record with an all-zero record header there (WalPosition.recycled): the
 * log's end reads as an end. The position recovery hands the writer after a reopen does
 * not say the segment is recycled, so no such header follows the records written after
 * the reopen; what keeps the log's end an end then is the zero fill: only the resume
 * offset counts as filled, and the writer zero-fills past it before its first record.
 * Checked: after records of other sizes than the earlier use's, sealed by a cut, scrub's
 * check finds the sealed segment whole, and the next open replays every record, finds
 * no torn tail and writes nothing into the segment.
 */
import { Buffer } from 'node:buffer';
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
import { checkSealedSegment } from '../src/wal/wal-scan.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const WAL_DIR = '/wal';
const SEGMENT_BYTES = 64 * KIBIBYTE;

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

async function recover(fileSystem: FaultFileSystem, hash: Hash64, expectedFirstSegment: number) {
  const versions: number[] = [];
  const result = await recoverWal(fileSystem, WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  }, { expectedFirstSegment });
  return { versions, result };
}

describe('writing resumed after a reopen in a recycled segment', () => {
  it('ends the log with an end: the next open finds no torn tail, and scrub finds the sealed segment whole', async () => {
    const hash = await loadHash64();
    let fileSystem = new FaultFileSystem(5);
    await fileSystem.mkdir(WAL_DIR);
    await fileSystem.syncDirectory('/');
    const config = { fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES };
    const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
    let writer = new WalWriter(config, { ...first, offset: SEGMENT_HEADER_BYTES });
    let version = 0;
    // Segment 1 full of 3 KiB records (odd offsets for later records to land in), covered and pooled.
    for (let index = 0; index < 19; index++) await writer.writeGroup([commitOf(++version, 3 * KIBIBYTE)]);
    writer.cutAtNextRecord();
    await writer.rotateAtCut();
    expect(writer.segmentNumber).toBe(2);
    await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
    // Segment 2 fills; segment 3 is made from segment 1's file.
    while (writer.segmentNumber < 3) await writer.writeGroup([commitOf(++version, 3 * KIBIBYTE)]);
    expect(writer.stats().segmentsRecycled).toBe(1);
    await writer.close();
    fileSystem = fileSystem.crash('keep-all');

    // Reopen: writing resumes in segment 3, where it ended; records of another size go there.
    const reopened = await recover(fileSystem, hash, 2);
    expect(reopened.result.tornTail).toBeUndefined();
    expect(reopened.result.resume?.segmentNumber).toBe(3);
    writer = new WalWriter({ ...config, fileSystem }, reopened.result.resume!);
    const acknowledged = [...reopened.versions];
    for (let index = 0; index < 3; index++) {
      await writer.writeGroup([commitOf(++version, 1000 + 77 * index)]);
      acknowledged.push(version);
    }
    // Sealed by a cut: the segment is one scrub checks.
    writer.cutAtNextRecord();
    await writer.rotateAtCut();
    await writer.close();
    expect(await listSegments(fileSystem, WAL_DIR)).toEqual([2, 3, 4]);

    const scrubbed = await checkSealedSegment(fileSystem, WAL_DIR, 3, hash);
    expect(scrubbed.problem, 'scrub of the sealed segment').toBeUndefined();
    const image = Buffer.from(await fileSystem.readFile(`${WAL_DIR}/wal-0000000003.log`));
    fileSystem = fileSystem.crash('keep-all');
    const again = await recover(fileSystem, hash, 2);
    expect(again.versions).toEqual(acknowledged);
    expect(again.result.tornTail, 'a torn tail no crash made').toBeUndefined();
    // The earlier use's bytes past the log's end are left as they are (nothing zeroed at open).
    expect(Buffer.from(await fileSystem.readFile(`${WAL_DIR}/wal-0000000003.log`)).equals(image)).toBe(true);
  });
});
