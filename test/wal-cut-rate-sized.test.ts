/**
 * A seal's cut sizes the next WAL segment by the write rate (segment-rotation.ts
 * cutSizeBytes): the log bytes since the previous cut, rounded up to a power of two.
 * It used to start every cut at the first-segment size (64 KiB), which doubled back
 * over several rotations per memtable, each a wait for the next segment's creation
 * under sustained write load (issue 12), and created the cut's own segment on the
 * commit path. Under a steady rate each memtable now takes one rotation, at its cut,
 * into a segment prepared before the cut; a quiet store's cut stays small, and a
 * slower rate's cut shrinks back; a checkpoint after a loaded cut with no write since
 * leaves that empty segment for a small one. While a fresh store's segments grow, a
 * segment that a few large records filled has its next begun at the rotation, not after
 * the first record (segment-rotation.ts OUTRUN_RECORDS_MAX). No timing: rotations and
 * creations are counted.
 *
 * The workload: groups of 64 commits of 4 KiB (the bench's concurrent-put), a cut
 * (cutAtNextRecord, then rotateAtCut, as the commit path does at a seal) once 1.5 MiB
 * of log was written since the last, as a memtable of that many log bytes would.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_INITIAL } from '../src/limits.js';
import { checkpointSegmentSizeBytes, createSegment, firstSegmentSizeBytes, listSegments, segmentFileName } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type FramedCommit, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const WAL_DIR = '/wal';
const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const GROUP_COMMITS = 64;
const VALUE_BYTES = 4 * KIBIBYTE;
/** A memtable's log bytes: the cut comes once this many were written since the last. */
const MEMTABLE_LOG_BYTES = 1.5 * MEBIBYTE;
const MEMTABLES = 6;

function commitOf(version: number, valueBytes: number): FramedCommit {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill(version % 251) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) } as FramedCommit;
}

interface Cut {
  /** Rotations (segment numbers moved) while the memtable's log was written, its cut included. */
  rotations: number;
  /** Segments created during the cut's rotation itself (on the commit path): 0 when it took a prepared one. */
  createdAtCut: number;
  /** Size of the segment the cut moved to. */
  cutSegmentBytes: number;
}

class Workload {
  version = 0;
  constructor(readonly writer: WalWriter, readonly fileSystem: FaultFileSystem) {}

  /** Writes one group of `commits` commits of `valueBytes`, over as many records as the segments need. */
  async group(commits: number, valueBytes: number): Promise<void> {
    let pending = Array.from({ length: commits }, () => commitOf(++this.version, valueBytes));
    while (pending.length > 0) {
      const { commitCount } = await this.writer.writeGroup(pending);
      pending = pending.slice(commitCount);
    }
  }

  /** Writes `logBytes` of log in groups, then cuts as a seal would; counts what it took. */
  async memtable(logBytes: number, commitsPerGroup = GROUP_COMMITS, valueBytes = VALUE_BYTES): Promise<Cut> {
    const startSegment = this.writer.segmentNumber;
    const startBytes = this.writer.bytesWritten;
    while (this.writer.bytesWritten - startBytes < logBytes) await this.group(commitsPerGroup, valueBytes);
    this.writer.cutAtNextRecord();
    const createdBefore = this.writer.stats().segmentsCreated;
    await this.writer.rotateAtCut();
    const cutSegmentBytes = (await this.fileSystem.readFile(`${WAL_DIR}/${segmentFileName(this.writer.segmentNumber)}`)).length;
    return { rotations: this.writer.segmentNumber - startSegment, createdAtCut: this.writer.stats().segmentsCreated - createdBefore, cutSegmentBytes };
  }
}

async function newWorkload(): Promise<Workload> {
  const fileSystem = new FaultFileSystem(3);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const hash = await loadHash64();
  const first = await createSegment(fileSystem, WAL_DIR, 1, firstSegmentSizeBytes(SEGMENT_BYTES_DEFAULT), hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_DEFAULT }, { ...first, offset: SEGMENT_HEADER_BYTES });
  return new Workload(writer, fileSystem);
}

/** Notes, at the first record written into each segment, how many segments the writer had begun making (WalWriter#stats().segmentsCreated). */
class FirstRecordFileSystem extends ForwardingFileSystem<FaultFileSystem> {
  writer: WalWriter | undefined;
  readonly createdAtFirstRecord = new Map<number, number>();

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const segmentNumber = Number(/wal-(\d+)\.log$/.exec(path)?.[1] ?? 0);
    return replaceMethods(handle, {
      write: (data, position) => {
        // A segment's first record starts right after its header (zero fill and header writes start at 0 and at whole steps).
        if (position === SEGMENT_HEADER_BYTES && this.writer !== undefined && !this.createdAtFirstRecord.has(segmentNumber)) {
          this.createdAtFirstRecord.set(segmentNumber, this.writer.stats().segmentsCreated);
        }
        return handle.write(data, position);
      },
    });
  }
}

describe('a seal\'s cut sizes the next segment by the write rate', () => {
  it('under a steady rate each memtable after the first takes one rotation, into a segment prepared before its cut', async () => {
    const workload = await newWorkload();
    const cuts: Cut[] = [];
    for (let memtable = 0; memtable < MEMTABLES; memtable++) cuts.push(await workload.memtable(MEMTABLE_LOG_BYTES));
    // The first memtable grows from the first segment by doubling (64 KiB .. 1 MiB), as before.
    expect(cuts[0]!.rotations).toBeGreaterThan(3);
    for (const [index, cut] of cuts.entries()) {
      if (index === 0) continue;
      // Before: 5 rotations each (64 KiB, 128 KiB, ... 1 MiB, the cut included), the cut's segment created on the commit path.
      expect(cut.rotations, `memtable ${index}: rotations`).toBe(1);
      expect(cut.createdAtCut, `memtable ${index}: segments created by the cut's rotation`).toBe(0);
    }
    // Sized to hold a memtable's log, and within twice it (the disk bound of one memtable's segments).
    for (const cut of cuts) {
      expect(cut.cutSegmentBytes).toBeGreaterThanOrEqual(MEMTABLE_LOG_BYTES);
      expect(cut.cutSegmentBytes).toBeLessThanOrEqual(2 * MEMTABLE_LOG_BYTES);
    }
    await workload.writer.close();
    // Every commit is in the log, in order (the prepared segment left past the last is valid and empty).
    const versions: number[] = [];
    await recoverWal(workload.fileSystem.crash('drop-unsynced'), WAL_DIR, (await loadHash64()), false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: workload.version }, (_, index) => index + 1));
  });

  it('while groups outrun the growing segments, the next segment is begun at the rotation, before the first record', async () => {
    const inner = new FaultFileSystem(5);
    await inner.mkdir(WAL_DIR);
    const fileSystem = new FirstRecordFileSystem(inner);
    const hash = await loadHash64();
    const first = await createSegment(fileSystem, WAL_DIR, 1, firstSegmentSizeBytes(SEGMENT_BYTES_DEFAULT), hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_DEFAULT }, { ...first, offset: SEGMENT_HEADER_BYTES });
    fileSystem.writer = writer;
    const workload = new Workload(writer, inner);
    // Segments of 64 KiB, 128 KiB, ... 4 MiB; records of about 265 KiB (a group), split where a segment ends.
    while (writer.segmentNumber < 8) await workload.group(GROUP_COMMITS, VALUE_BYTES);
    // Segments 2 to 5 (128 KiB to 1 MiB) follow one that at most 3 records filled: segment n + 1 was begun (n segments
    // made since the first) before segment n's first record. Before, only after that record (at half full): n - 1.
    for (let segmentNumber = 2; segmentNumber <= 5; segmentNumber++) {
      expect(fileSystem.createdAtFirstRecord.get(segmentNumber), `segments begun at segment ${segmentNumber}'s first record`).toBe(segmentNumber);
    }
    // Segment 7 (4 MiB) follows one of 8 or more records: its next is prepared at half full, as before.
    expect(fileSystem.createdAtFirstRecord.get(7)).toBe(6);
    await writer.close();
  });

  it('a quiet store\'s cut stays at the first-segment size, and a slower rate\'s cut shrinks back', async () => {
    const workload = await newWorkload();
    // A few small commits, then a seal (a walCheckpointBytes seal of a quiet store).
    const quiet = await workload.memtable(20 * KIBIBYTE, 4, 1 * KIBIBYTE);
    expect(quiet.cutSegmentBytes).toBe(SEGMENT_BYTES_INITIAL);
    // Loaded: the cut's segments grow to hold a memtable's log.
    await workload.memtable(MEMTABLE_LOG_BYTES);
    const loaded = await workload.memtable(MEMTABLE_LOG_BYTES);
    expect(loaded.cutSegmentBytes).toBe(2 * MEBIBYTE);
    // The rate falls to about 200 KiB a memtable (groups of 8 commits): the prepared 2 MiB segment is larger than the cut wants, and removed.
    const slower = await workload.memtable(200 * KIBIBYTE, 8);
    expect(slower.cutSegmentBytes).toBe(256 * KIBIBYTE);
    expect((await listSegments(workload.fileSystem, WAL_DIR)).at(-1)).toBe(workload.writer.segmentNumber);
    // The writes stop at that cut: a checkpoint leaves the empty, larger-than-first segment for its own small one (issue 7: a quiet store keeps no large segment).
    const activeBytes = async (): Promise<number> => (await workload.fileSystem.readFile(`${WAL_DIR}/${segmentFileName(workload.writer.segmentNumber)}`)).length;
    expect(await workload.writer.rotateForCheckpoint()).toBe(true);
    expect(await activeBytes()).toBe(checkpointSegmentSizeBytes(SEGMENT_BYTES_DEFAULT));
    // An empty segment of at most the first size stays (no rotation), as before.
    expect(await workload.writer.rotateForCheckpoint()).toBe(false);
    // Writes grow it back; a checkpoint's rotation stays at its own small size.
    await workload.group(4, KIBIBYTE);
    expect(await workload.writer.rotateForCheckpoint()).toBe(true);
    expect(await activeBytes()).toBe(checkpointSegmentSizeBytes(SEGMENT_BYTES_DEFAULT));
    await workload.writer.close();
  });
});
