/**
 * A fresh store's first seal: its cut takes a segment prepared in the background, not
 * one created on the commit path (issue 12). While a fresh store's segments grow
 * (64 KiB, 128 KiB, ...), a cut wants a segment sized by the log since the last cut
 * (segment-rotation.ts cutSizeBytes): twice the active one's once that segment holds
 * more than 64 KiB of records, which is the size the growth prepares next. The next
 * segment used to be prepared only at half full, so a seal that came earlier found
 * none and created its segment (a 4 MiB zero fill, fsync, directory fsync) while every
 * writer waited: 68-121 ms in the probe, 64 writers of 100 B values, at 3-4 s.
 * No timing: segment creations are counted.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { SEGMENT_BYTES_DEFAULT } from '../src/limits.js';
import { createSegment, firstSegmentSizeBytes, segmentFileName } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type FramedCommit, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const WAL_DIR = '/wal';
const KIBIBYTE = 1024;
/** The bench's concurrent-put groups: 64 commits of 100 B values. */
const GROUP_COMMITS = 64;
const VALUE_BYTES = 100;

async function newWriter(): Promise<{ writer: WalWriter; fileSystem: FaultFileSystem }> {
  const fileSystem = new FaultFileSystem(7);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const hash = await loadHash64();
  const first = await createSegment(fileSystem, WAL_DIR, 1, firstSegmentSizeBytes(SEGMENT_BYTES_DEFAULT), hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_DEFAULT }, { ...first, offset: SEGMENT_HEADER_BYTES });
  return { writer, fileSystem };
}

let version = 0;
function group(commits: number): FramedCommit[] {
  return Array.from({ length: commits }, () => {
    const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${++version}`, value: new Uint8Array(VALUE_BYTES).fill(version % 251) }];
    return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) } as FramedCommit;
  });
}

async function writeGroup(writer: WalWriter, commits: number): Promise<void> {
  let pending = group(commits);
  while (pending.length > 0) pending = pending.slice((await writer.writeGroup(pending)).commitCount);
}

describe('a fresh store\'s first cut', () => {
  it('takes the segment prepared while the segments grow, even before the active one is half full', async () => {
    version = 0;
    const { writer, fileSystem } = await newWriter();
    const firstVersion = version + 1;
    // Grow to segment 6 (2 MiB after 64 KiB .. 1 MiB).
    while (writer.segmentNumber < 6) await writeGroup(writer, GROUP_COMMITS);
    const segmentStartBytes = writer.bytesWritten;
    // A seal at 300 KiB into it: past its first 64 KiB, well before half full (1 MiB).
    while (writer.bytesWritten - segmentStartBytes < 300 * KIBIBYTE) await writeGroup(writer, GROUP_COMMITS);
    expect(writer.segmentNumber).toBe(6);
    writer.cutAtNextRecord();
    const createdBefore = writer.stats().segmentsCreated;
    await writer.rotateAtCut();
    // Before: 1 (nothing was prepared below half full; the cut created its 4 MiB segment on the commit path).
    expect(writer.stats().segmentsCreated - createdBefore, 'segments created by the cut\'s rotation').toBe(0);
    expect(writer.segmentNumber).toBe(7);
    // The cut's segment is the size a cut sizes by the log since open (2 MiB + 300 KiB, rounded up): 4 MiB.
    expect((await fileSystem.readFile(`${WAL_DIR}/${segmentFileName(7)}`)).length).toBe(4096 * KIBIBYTE);
    await writeGroup(writer, GROUP_COMMITS);
    await writer.close();
    const versions: number[] = [];
    await recoverWal(fileSystem.crash('drop-unsynced'), WAL_DIR, await loadHash64(), false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: version - firstVersion + 1 }, (_, index) => firstVersion + index));
  });

  it('a quiet store prepares nothing while its first segment is less than half full', async () => {
    version = 0;
    const { writer } = await newWriter();
    // 4 groups of 4 commits of 100 B: about 2 KiB of a 64 KiB segment.
    for (let index = 0; index < 4; index++) await writeGroup(writer, 4);
    expect(writer.segmentNumber).toBe(1);
    expect(writer.stats().segmentsCreated).toBe(0);
    await writer.close();
  });
});
