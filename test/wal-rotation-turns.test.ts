/**
 * Rotation keeps ahead of a single writer whose commits never hand the event loop a
 * turn (issue 12), as the zero fill ahead does (wal-zero-fill-turns.test.ts). With
 * syncMode 'adaptive' on a quiet machine a lone awaited writer's fdatasync runs
 * inline: every step of its commit is a settled promise, and the loop turns only now
 * and then. The next segment is prepared in the background once the active one is half
 * full (next-segment.ts); a new segment's creation that yielded a turn of the loop
 * between 256 KiB zero-fill chunks (segment-files.ts zeroFillRange) was overtaken by
 * 4 KiB records, and the rotation then waited for it in the foreground.
 *
 * Here the file system is in memory (FaultFileSystem: no I/O completion needs a turn),
 * so a preparation that needs no turn of its own finishes while the writer fills the
 * second half of the active segment. The writer writes 8 MiB of 4 KiB records back to
 * back from a first-size segment (64 KiB, doubling: new segments up to 4 MiB), and the
 * loop must not have turned meanwhile, nor any rotation waited. Then every record is
 * recovered from a crash image that drops unsynced writes.
 *
 * On the real file system each of the preparation's operations (truncate, zero write
 * off the loop, fsync, directory listing and fsync, rename) completes on the thread
 * pool, a turn of the loop later, while the record's inline fdatasync needs none: the
 * second case models that (ThreadPoolModelFileSystem), and the writer must withhold
 * the inline hint while a preparation is under way, so that its commits give the loop
 * the turns the preparation needs (23 rotations of 26 waited in 20,000 4 KiB puts on
 * /dev/shm before).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileHandle } from '../src/fs/file-system.js';
import { SEGMENT_BYTES_INITIAL } from '../src/limits.js';
import { createSegment } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const RECORD_VALUE_BYTES = 4 * KIBIBYTE;
const COMMITS = (8 * MEBIBYTE) / RECORD_VALUE_BYTES;

function commitOf(version: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(RECORD_VALUE_BYTES).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

function aTurnLater(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * NodeFileSystem's completions over an in-memory file system: writes (synchronous
 * syscalls) and a datasync that may block (inline) complete at once; every other
 * operation completes a turn of the event loop later, as one on the thread pool does.
 */
class ThreadPoolModelFileSystem extends ForwardingFileSystem {
  inlineSyncs = 0;

  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, {
      datasync: async (mayBlock) => {
        if (mayBlock === true) {
          this.inlineSyncs++;
          return handle.datasync(true);
        }
        await handle.datasync(false);
        await aTurnLater();
      },
      writeOffThread: async (data, position) => {
        await handle.write(data, position);
        await aTurnLater();
      },
      sync: async () => {
        await handle.sync();
        await aTurnLater();
      },
      truncate: async (sizeBytes) => {
        await handle.truncate(sizeBytes);
        await aTurnLater();
      },
    });
  }

  override async readdir(dir: string) {
    const names = await this.inner.readdir(dir);
    await aTurnLater();
    return names;
  }
  override async rename(from: string, to: string) {
    await this.inner.rename(from, to);
    await aTurnLater();
  }
  override async unlink(path: string) {
    await this.inner.unlink(path);
    await aTurnLater();
  }
  override async exists(path: string) {
    const exists = await this.inner.exists(path);
    await aTurnLater();
    return exists;
  }
  override async syncDirectory(dir: string) {
    await this.inner.syncDirectory(dir);
    await aTurnLater();
  }
}

describe('WAL rotation ahead of a writer that never yields', () => {
  it('prepares each next segment between commits: 8 MiB of 4 KiB records over growing segments without a turn of the event loop or a rotation wait', async () => {
    const fileSystem = new FaultFileSystem();
    const hash = await loadHash64();
    await fileSystem.mkdir(WAL_DIR);
    await fileSystem.syncDirectory('/');
    const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES_INITIAL, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: 16 * MEBIBYTE }, { ...first, offset: SEGMENT_HEADER_BYTES });

    let turns = 0;
    const turned = setImmediate(() => turns++);
    for (let version = 1; version <= COMMITS; version++) await writer.writeGroup([commitOf(version)], undefined, true);
    const turnsDuringWrites = turns;
    clearImmediate(turned);
    const stats = writer.stats();
    // 64 KiB, 128 KiB, ..., 8 MiB: new segments of 512 KiB and up fill in several chunks.
    expect(stats.segmentNumber).toBeGreaterThanOrEqual(8);
    expect(stats.segmentsCreated).toBeGreaterThanOrEqual(7);
    expect({ turnsDuringWrites, rotationWaits: stats.rotationWaits }).toEqual({ turnsDuringWrites: 0, rotationWaits: 0 });
    await writer.close();

    const versions: number[] = [];
    await recoverWal(fileSystem.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: COMMITS }, (_, index) => index + 1));
  });

  it('on a file system whose other operations complete on the thread pool, inline syncs make way while the next segment is prepared: no rotation waits', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new ThreadPoolModelFileSystem(inner);
    const hash = await loadHash64();
    await inner.mkdir(WAL_DIR);
    await inner.syncDirectory('/');
    const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES_INITIAL, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: 16 * MEBIBYTE }, { ...first, offset: SEGMENT_HEADER_BYTES });
    for (let version = 1; version <= COMMITS; version++) await writer.writeGroup([commitOf(version)], undefined, true);
    const stats = writer.stats();
    expect(stats.segmentNumber).toBeGreaterThanOrEqual(8);
    expect(stats.rotationWaits).toBe(0);
    // The hint is withheld only while a preparation is under way: most records still sync inline.
    expect(fileSystem.inlineSyncs).toBeGreaterThan(COMMITS / 2);
    await writer.close();

    const versions: number[] = [];
    await recoverWal(inner.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: COMMITS }, (_, index) => index + 1));
  });
});
