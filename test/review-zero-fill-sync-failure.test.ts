/**
 * Review of the WAL zero fill ahead (9ada270, 9e2c842, 0951254): a fill step's datasync
 * runs through a second handle of the active segment while a record, written through
 * the writer's own handle, waits for its fdatasync. The fault file system models
 * fsyncgate per file: a failed sync drops every pending write of the file, the record's
 * too, and a later sync of the other handle then succeeds with nothing to write (it does
 * not model Linux's errseq report of the error to every open file). So the writer itself
 * must never acknowledge a record whose fdatasync overlapped a failed fill sync.
 *
 * The interleaving is forced: the fill's datasync and the record's are held by a
 * wrapping file system and released in the order a real disk may complete them.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { type FileHandle, type FileSystem, joinPath, type OpenMode } from '../src/fs/file-system.js';
import { createSegment, segmentFileName } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type Hash64, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const SEGMENT_PATH = joinPath(WAL_DIR, segmentFileName(1));

type HandleKind = 'fill' | 'record';

interface HeldSync {
  release(): void;
}

/**
 * Holds the datasync of the chosen kind of handle until the test releases it. The WAL
 * writer opens a segment 'readWrite' only to zero-fill it (kind 'fill'); the segment's
 * own handle is opened 'createExclusive' (kind 'record').
 * `afterFillSyncFailed` runs synchronously when a fill handle's real datasync fails.
 */
class HeldSyncFileSystem extends ForwardingFileSystem {
  readonly hold = { fill: false, record: false };
  afterFillSyncFailed: (() => void) | undefined;
  readonly #held: Record<HandleKind, HeldSync[]> = { fill: [], record: [] };
  readonly #waiters: Array<() => void> = [];

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return this.#wrap(handle, mode === 'readWrite' ? 'fill' : 'record');
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return handle;
  }

  async nextHeld(kind: HandleKind): Promise<HeldSync> {
    while (this.#held[kind].length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.#held[kind].shift()!;
  }

  #wrap(handle: FileHandle, kind: HandleKind): FileHandle {
    return replaceMethods(handle, {
      datasync: async (mayBlock) => {
        if (this.hold[kind]) {
          await new Promise<void>((resolve) => {
            this.#held[kind].push({ release: resolve });
            for (const wake of this.#waiters.splice(0)) wake();
          });
        }
        try {
          await handle.datasync(mayBlock);
        } catch (error) {
          if (kind === 'fill') this.afterFillSyncFailed?.();
          throw error;
        }
      },
    });
  }
}

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function newWriter(fileSystem: FileSystem, hash: Hash64, segmentBytes: number): Promise<WalWriter> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, segmentBytes, hash);
  return new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: segmentBytes }, { ...first, offset: SEGMENT_HEADER_BYTES });
}

async function recoveredVersions(inner: FaultFileSystem, hash: Hash64): Promise<number[]> {
  const versions: number[] = [];
  await recoverWal(inner.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  });
  return versions;
}

/**
 * Record 1 starts a background fill step (a 16 MiB segment has only its first 4 MiB
 * filled); the fill's datasync is held. Record 2 is written, its datasync held; then
 * the fill's datasync fails with `code` (dropping record 2's pending write) and
 * record 2's datasync is released: at once (`releaseRecord: 'at-failure'`, in the
 * same synchronous step as the failure) or a few event-loop turns later.
 */
async function recordBesideFailedFillSync(code: string, releaseRecord: 'at-failure' | 'later') {
  const inner = new FaultFileSystem();
  const fileSystem = new HeldSyncFileSystem(inner);
  const hash = await loadHash64();
  const writer = await newWriter(fileSystem, hash, 16 * MEBIBYTE);
  fileSystem.hold.fill = true;
  await writer.writeGroup([commitOf(1, 4 * KIBIBYTE)]);
  const fillSync = await fileSystem.nextHeld('fill');
  fileSystem.hold.record = true;
  const second = writer.writeGroup([commitOf(2, 4 * KIBIBYTE)]).then(
    () => ({ acknowledged: true as const }),
    (error: unknown) => ({ acknowledged: false as const, error }),
  );
  const recordSync = await fileSystem.nextHeld('record');
  inner.injectFault({ operation: 'datasync', error: code, path: SEGMENT_PATH });
  if (releaseRecord === 'at-failure') fileSystem.afterFillSyncFailed = () => recordSync.release();
  fileSystem.hold.fill = false;
  fillSync.release();
  if (releaseRecord === 'later') {
    await turns(5);
    recordSync.release();
  }
  const outcome = await second;
  fileSystem.hold.record = false;
  // Fail-stop: nothing is acknowledged after a failed fill sync.
  const third = await writer.writeGroup([commitOf(3, 4 * KIBIBYTE)]).then(() => 'acknowledged', () => 'refused');
  await writer.close().catch(() => undefined);
  return { outcome, third, versions: await recoveredVersions(inner, hash) };
}

describe('a fill datasync that fails while a record waits for its own', () => {
  for (const code of ['ENOSPC', 'EIO']) {
    for (const releaseRecord of ['at-failure', 'later'] as const) {
      it(`${code}, record sync completing ${releaseRecord}: the record is refused or durable, and nothing is acknowledged after`, async () => {
        const { outcome, third, versions } = await recordBesideFailedFillSync(code, releaseRecord);
        if (outcome.acknowledged) expect(versions).toContain(2);
        else expect((outcome.error as { code?: string }).code).toBe(code);
        expect(versions).toContain(1);
        expect(third).toBe('refused');
      });
    }
  }
});

describe('a fill datasync that succeeds while a record waits for its own', () => {
  it('the record is acknowledged once the fill sync resolved, durable, and the writer goes on', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new HeldSyncFileSystem(inner);
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash, 16 * MEBIBYTE);
    fileSystem.hold.fill = true;
    await writer.writeGroup([commitOf(1, 4 * KIBIBYTE)]);
    const fillSync = await fileSystem.nextHeld('fill');
    fileSystem.hold.fill = false;
    let acknowledged = false;
    const second = writer.writeGroup([commitOf(2, 4 * KIBIBYTE)]).then(() => {
      acknowledged = true;
    });
    await turns(5);
    // The record's own fdatasync resolved, but a failure of the fill sync could still drop its pages.
    expect(acknowledged).toBe(false);
    fillSync.release();
    await second;
    for (let version = 3; version <= 1200; version++) await writer.writeGroup([commitOf(version, 4 * KIBIBYTE)]);
    await writer.close();
    expect(await recoveredVersions(inner, hash)).toEqual(Array.from({ length: 1200 }, (_, index) => index + 1));
  });
});
