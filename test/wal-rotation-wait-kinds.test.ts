/**
 * WalWriter#stats().rotationWaits (store.stats().sinceOpen.walRotationWaits, issues 7 and
 * 12) counts every rotation that waited for its segment's creation, of every kind: a full
 * segment's, an outsized commit's, a seal's cut (rotateAtCut, or the next writeGroup when
 * the cut is still pending) and a checkpoint's. Before, only the first two were counted:
 * a cut that made its segment on the commit path, or a checkpoint that held the writer
 * while it made one, left the figure at 0. A rotation that takes a prepared segment
 * already made waits for nothing and is not counted. No timing: creations are held
 * (their open(createExclusive)) where a case needs a preparation unfinished.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle, OpenMode } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_INITIAL } from '../src/limits.js';
import { createSegment } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type FramedCommit, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { settled } from './helpers.js';
import { ForwardingFileSystem } from './support/file-system-wrappers.js';

const WAL_DIR = '/wal';
const KIBIBYTE = 1024;

/** Holds the creation of new WAL segment files (their open(createExclusive)) while armed. */
class HeldCreation extends ForwardingFileSystem<FaultFileSystem> {
  armed = false;
  held = 0;
  #waiting: Array<() => void> = [];

  release(): void {
    this.armed = false;
    for (const resume of this.#waiting.splice(0)) resume();
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    if (this.armed && mode === 'createExclusive' && /\/wal\/wal-\d+\.log$/.test(path)) {
      this.held++;
      await new Promise<void>((resume) => this.#waiting.push(resume));
    }
    return super.open(path, mode);
  }
}

function commitOf(version: number, valueBytes: number): FramedCommit {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill(version % 251) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) } as FramedCommit;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

class Subject {
  version = 0;
  constructor(readonly writer: WalWriter, readonly fileSystem: HeldCreation) {}

  get waits(): number {
    return this.writer.stats().rotationWaits;
  }

  write(valueBytes: number): Promise<unknown> {
    return this.writer.writeGroup([commitOf(++this.version, valueBytes)]);
  }

  /** Writes `logBytes` of log in groups of 64 commits of 4 KiB (split over segments as they fill). */
  async writeLog(logBytes: number): Promise<void> {
    const start = this.writer.bytesWritten;
    while (this.writer.bytesWritten - start < logBytes) {
      let pending = Array.from({ length: 64 }, () => commitOf(++this.version, 4 * KIBIBYTE));
      while (pending.length > 0) pending = pending.slice((await this.writer.writeGroup(pending)).commitCount);
    }
  }

  /** A seal's cut as the commit path makes it. */
  async cut(): Promise<void> {
    this.writer.cutAtNextRecord();
    await this.writer.rotateAtCut();
  }
}

async function subject(): Promise<Subject> {
  const inner = new FaultFileSystem(7);
  await inner.mkdir(WAL_DIR);
  await inner.syncDirectory('/');
  const fileSystem = new HeldCreation(inner);
  const hash = await loadHash64();
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES_INITIAL, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_DEFAULT }, { ...first, offset: SEGMENT_HEADER_BYTES });
  return new Subject(writer, fileSystem);
}

describe('rotation waits: every kind of rotation that waited for its segment is counted', () => {
  it('a full segment: counted while its prepared segment is still being made, not once it is made', async () => {
    const held = await subject();
    held.fileSystem.armed = true;
    // 20 KB records in a 64 KiB segment: the second passes half, and the next segment's preparation (held) begins.
    await held.write(20_000);
    await held.write(20_000);
    await held.write(20_000);
    expect(held.fileSystem.held).toBe(1);
    const rotation = held.write(20_000);
    const rotating = settled(rotation);
    await turns(5);
    expect(rotating.done, 'the record waits for its segment').toBe(false);
    held.fileSystem.release();
    await rotation;
    expect(held.writer.segmentNumber).toBe(2);
    expect(held.waits).toBe(1);
    expect(held.writer.stats().rotationWaitMs).toBeGreaterThan(0);
    await held.writer.close();

    const ready = await subject();
    for (let record = 0; record < 3; record++) await ready.write(20_000);
    await turns(5);
    await ready.write(20_000);
    expect(ready.writer.segmentNumber).toBe(2);
    expect(ready.waits).toBe(0);
    await ready.writer.close();
  });

  it('an outsized commit: the segment made for it is a wait, the prepared one it leaves empty is not', async () => {
    const held = await subject();
    await held.write(40_000);
    await turns(5);
    // Segment 2 (128 KiB) is made; the 300 KB commit takes it, leaves it empty and waits for segment 3 (held).
    held.fileSystem.armed = true;
    const outsized = held.write(300_000);
    const waiting = settled(outsized);
    await turns(5);
    expect(waiting.done).toBe(false);
    expect(held.fileSystem.held).toBe(1);
    held.fileSystem.release();
    await outsized;
    expect(held.writer.segmentNumber).toBe(3);
    expect(held.waits).toBe(1);
    await held.writer.close();
  });

  it('a seal\'s cut: counted when it makes its segment (none prepared, or a larger one removed), not when it takes one made', async () => {
    const quiet = await subject();
    // A quiet store: a few records, no preparation (the segment is not half full); the cut makes its segment.
    for (let record = 0; record < 3; record++) await quiet.write(1000);
    await quiet.cut();
    expect(quiet.writer.segmentNumber).toBe(2);
    expect(quiet.waits).toBe(1);
    // A cut still pending when the next group comes: that group's rotation makes the segment.
    await quiet.write(1000);
    quiet.writer.cutAtNextRecord();
    await quiet.write(1000);
    expect(quiet.writer.segmentNumber).toBe(3);
    expect(quiet.waits).toBe(2);
    await quiet.writer.close();

    const loaded = await subject();
    // The first memtable's log grows the segments, then its cut makes a 2 MiB segment sized by the rate.
    await loaded.writeLog(1.5 * 1024 * KIBIBYTE);
    await loaded.cut();
    const afterFirstCut = loaded.waits;
    // Under the same rate the next segment (2 MiB) is prepared at once; made before the next cut, which takes it.
    await loaded.writeLog(1.5 * 1024 * KIBIBYTE);
    await turns(5);
    const segment = loaded.writer.segmentNumber;
    await loaded.cut();
    expect(loaded.writer.segmentNumber).toBe(segment + 1);
    expect(loaded.waits, 'a cut that took its segment made').toBe(afterFirstCut);
    // The rate falls: the prepared 2 MiB segment is larger than the cut wants, removed, and a 256 KiB one made.
    await loaded.writeLog(200 * KIBIBYTE);
    await turns(5);
    await loaded.cut();
    expect(loaded.waits, 'a cut that removed the prepared segment and made its own').toBe(afterFirstCut + 1);
    await loaded.writer.close();
  });

  it('a checkpoint: counted when it rotates (it makes its small segment), not when it does not', async () => {
    const checkpointed = await subject();
    await checkpointed.write(1000);
    expect(await checkpointed.writer.rotateForCheckpoint()).toBe(true);
    expect(checkpointed.waits).toBe(1);
    expect(await checkpointed.writer.rotateForCheckpoint()).toBe(false);
    expect(checkpointed.waits).toBe(1);
    await checkpointed.writer.close();
  });

  it('store.stats(): a quiet store\'s seals and a checkpoint() are counted in sinceOpen.walRotationWaits', async () => {
    // Memtables of 1/12 of 256 KiB are sealed long before the first 64 KiB segment is half full: every
    // rotation is a seal's cut with no segment prepared, so each one waited.
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(9), memoryBudgetBytes: 256 * KIBIBYTE, checkpointOnClose: false });
    const startSegment = store.stats().walSegment;
    for (let index = 0; index < 120; index++) await store.put(`key-${index}`, 'v'.repeat(400));
    // A seal's cut rotates after the group that sealed is acknowledged: let the last one end.
    await turns(5);
    const afterPuts = store.stats();
    expect(afterPuts.walSegment, 'the seals cut the log more than once').toBeGreaterThan(startSegment + 1);
    expect(afterPuts.sinceOpen.walRotationWaits).toBe(afterPuts.walSegment - startSegment);
    await store.put('last', 1);
    await store.checkpoint();
    const afterCheckpoint = store.stats();
    expect(afterCheckpoint.walSegment).toBe(afterPuts.walSegment + 1);
    expect(afterCheckpoint.sinceOpen.walRotationWaits).toBe(afterPuts.sinceOpen.walRotationWaits + 1);
    await store.close();
  });
});
