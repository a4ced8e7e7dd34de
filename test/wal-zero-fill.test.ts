/**
 * The WAL's zero fill ahead of the write position (issue 12). A segment was zero-filled
 * whole at creation: with segments growing to 64 MiB, a 1.8 s run of 4 KiB puts wrote
 * 2 bytes of zeros per record byte, in bursts of up to 32 MiB plus an fsync, beside the
 * commits' fdatasyncs. Now a segment is sized with truncate, its first
 * WAL_ZERO_FILL_AHEAD_BYTES zero-filled, and the writer fills WAL_ZERO_FILL_STEP_BYTES at
 * a time in the background ahead of its records.
 *
 * Checked here: what creation writes; that every record lands in bytes zero-filled and
 * synced before its write (so its fdatasync allocates nothing); the zeros written per
 * segment; a failed fill is final (fail-stop, as a failed fdatasync); a full disk during
 * a fill is DiskFullError and the writer stays usable; a crash at any operation of a
 * workload crossing fill steps recovers every acknowledged commit.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { DiskFullError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle, type FileSystem, type OpenMode } from '../src/fs/file-system.js';
import { WAL_ZERO_FILL_AHEAD_BYTES, WAL_ZERO_FILL_STEP_BYTES } from '../src/limits.js';
import { createSegment, listSegments } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type Hash64, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

function isAllZero(data: Uint8Array): boolean {
  for (const byte of data) if (byte !== 0) return false;
  return true;
}

interface Range {
  start: number;
  end: number;
}

/**
 * Follows every WAL segment's bytes: zero writes are pending until a datasync or sync
 * of any handle of that file resolves, then synced. A non-zero write past the header
 * (a record) outside the synced zero ranges is a violation. Also sums zeros per file.
 */
class ZeroTrackingFileSystem extends ForwardingFileSystem {
  readonly zeroBytes = new Map<string, number>();
  readonly violations: string[] = [];
  readonly #pending = new Map<string, Range[]>();
  readonly #synced = new Map<string, Range[]>();

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    const markSynced = (): void => {
      const synced = this.#synced.get(path) ?? [];
      synced.push(...(this.#pending.get(path) ?? []));
      this.#synced.set(path, synced);
      this.#pending.set(path, []);
    };
    return replaceMethods(handle, {
      write: async (data, position) => {
        if (isAllZero(data)) {
          this.zeroBytes.set(path, (this.zeroBytes.get(path) ?? 0) + data.length);
          await handle.write(data, position);
          const pending = this.#pending.get(path) ?? [];
          pending.push({ start: position, end: position + data.length });
          this.#pending.set(path, pending);
          return;
        }
        if (position >= SEGMENT_HEADER_BYTES && !this.#covered(path, position, position + data.length)) {
          this.violations.push(`${path}: record [${position}, ${position + data.length}) outside the synced zero fill`);
        }
        await handle.write(data, position);
      },
      datasync: async (mayBlock) => {
        const before = [...(this.#pending.get(path) ?? [])];
        await handle.datasync(mayBlock);
        this.#pending.set(path, (this.#pending.get(path) ?? []).filter((range) => !before.includes(range)));
        this.#synced.set(path, [...(this.#synced.get(path) ?? []), ...before]);
      },
      sync: async () => {
        await handle.sync();
        markSynced();
      },
    });
  }

  #covered(path: string, start: number, end: number): boolean {
    const ranges = [...(this.#synced.get(path) ?? [])].sort((left, right) => left.start - right.start);
    let reached = start;
    for (const range of ranges) if (range.start <= reached && range.end > reached) reached = range.end;
    return reached >= end;
  }
}

/** Fails the fill handles' calls (handles opened 'readWrite': the WAL writer opens segments so only to fill them). */
class FailingFillFileSystem extends ForwardingFileSystem {
  failDatasync: string | undefined;
  failWrite: string | undefined;

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return mode === 'readWrite' ? this.wrapHandle(handle, path) : handle;
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      write: (data, position) => (this.failWrite !== undefined ? Promise.reject(fileSystemError(this.failWrite, 'write', path)) : handle.write(data, position)),
      datasync: (mayBlock) => (this.failDatasync !== undefined ? Promise.reject(fileSystemError(this.failDatasync, 'fdatasync', path)) : handle.datasync(mayBlock)),
    });
  }
}

async function newWriter(fileSystem: FileSystem, hash: Hash64, firstSegmentBytes: number, segmentSizeBytes: number): Promise<WalWriter> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, firstSegmentBytes, hash);
  return new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes }, { ...first, offset: SEGMENT_HEADER_BYTES });
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('WAL segment creation', () => {
  it('sizes a large segment whole but zero-fills only its first WAL_ZERO_FILL_AHEAD_BYTES', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new ZeroTrackingFileSystem(inner);
    await fileSystem.mkdir(WAL_DIR);
    await fileSystem.syncDirectory('/');
    const hash = await loadHash64();
    const created = await createSegment(fileSystem, WAL_DIR, 1, 8 * MEBIBYTE, hash);
    expect(created.filledBytes).toBe(WAL_ZERO_FILL_AHEAD_BYTES);
    // The old creation wrote all 8 MiB of zeros.
    expect(fileSystem.zeroBytes.get(created.handle.path)).toBeLessThanOrEqual(WAL_ZERO_FILL_AHEAD_BYTES);
    await created.handle.close();
    // Durable as created: a power loss keeps the full size, the header, and zeros after it.
    const image = await inner.crash('drop-unsynced').readFile(created.handle.path);
    expect(image.length).toBe(8 * MEBIBYTE);
    expect(isAllZero(image.subarray(SEGMENT_HEADER_BYTES))).toBe(true);
  });

  it('fills a segment no larger than the fill-ahead whole, as before', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir(WAL_DIR);
    const created = await createSegment(fileSystem, WAL_DIR, 1, 64 * KIBIBYTE, await loadHash64());
    expect(created.filledBytes).toBe(64 * KIBIBYTE);
    await created.handle.close();
  });
});

describe('the WAL writer fills ahead of its records', () => {
  it('writes every record into zero-filled, synced bytes, and zeros only a bounded distance past its records', async () => {
    const fileSystem = new ZeroTrackingFileSystem(new FaultFileSystem());
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash, 64 * KIBIBYTE, 16 * MEBIBYTE);
    const recordBytes = new Map<number, number>();
    let version = 0;
    // 4 KiB commits through segments of 64 KiB .. 8 MiB (filled lazily past its first 4 MiB), then a cut, ending in a small segment.
    for (let index = 0; index < 3300; index++) {
      const segment = writer.segmentNumber;
      const commit = commitOf(++version, 4 * KIBIBYTE);
      await writer.writeGroup([commit], undefined, true);
      const written = writer.segmentNumber;
      recordBytes.set(written, (recordBytes.get(written) ?? 0) + commit.sizeBytes + 32);
      if (index === 3000) {
        writer.cutAtNextRecord();
        await writer.rotateAtCut();
      }
      expect(written).toBeGreaterThanOrEqual(segment);
    }
    await writer.close();
    expect(fileSystem.violations).toEqual([]);
    const segments = await listSegments(fileSystem, WAL_DIR);
    expect(segments.length).toBeGreaterThan(6);
    for (const [path, zeros] of fileSystem.zeroBytes) {
      const number = Number(/wal-(\d+)\.log$/.exec(path)?.[1]);
      // At most the fill-ahead past the records, plus the step in flight (the old writer filled every segment whole).
      expect(zeros, path).toBeLessThanOrEqual((recordBytes.get(number) ?? 0) + WAL_ZERO_FILL_AHEAD_BYTES + WAL_ZERO_FILL_STEP_BYTES);
    }
  });

  it('a writer resumed after recovery fills before its first record (nothing past the resume offset is known filled)', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new ZeroTrackingFileSystem(inner);
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash, 16 * MEBIBYTE, 16 * MEBIBYTE);
    for (let version = 1; version <= 10; version++) await writer.writeGroup([commitOf(version, 4 * KIBIBYTE)]);
    await writer.close();
    const rebootedInner = inner.crash('keep-all');
    const recovered = await recoverWal(rebootedInner, WAL_DIR, hash, false, () => undefined);
    expect(recovered.lastVersion).toBe(10);
    // Tracked from here: the resumed writer's own writes (not recovery's rewrite of the replayed records).
    const rebooted = new ZeroTrackingFileSystem(rebootedInner);
    const resumed = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: 16 * MEBIBYTE }, recovered.resume!);
    // A record larger than the fill-ahead: filled in the foreground first.
    await resumed.writeGroup([commitOf(11, WAL_ZERO_FILL_AHEAD_BYTES + 100 * KIBIBYTE)]);
    for (let version = 12; version <= 400; version++) await resumed.writeGroup([commitOf(version, 4 * KIBIBYTE)]);
    await resumed.close();
    expect(rebooted.violations).toEqual([]);
    const versions: number[] = [];
    await recoverWal(rebootedInner.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: 400 }, (_, index) => index + 1));
  });
  it('the first commit after a reopen fills one step in the foreground, not the whole fill-ahead', async () => {
    const inner = new FaultFileSystem();
    const hash = await loadHash64();
    const writer = await newWriter(inner, hash, 16 * MEBIBYTE, 16 * MEBIBYTE);
    for (let version = 1; version <= 10; version++) await writer.writeGroup([commitOf(version, 4 * KIBIBYTE)]);
    await writer.close();
    const rebootedInner = inner.crash('keep-all');
    const recovered = await recoverWal(rebootedInner, WAL_DIR, hash, false, () => undefined);
    const rebooted = new ZeroTrackingFileSystem(rebootedInner);
    const resumed = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: 16 * MEBIBYTE }, recovered.resume!);
    await resumed.writeGroup([commitOf(11, 4 * KIBIBYTE)]);
    const zeros = [...rebooted.zeroBytes.values()].reduce((sum, bytes) => sum + bytes, 0);
    // One foreground step, plus at most the background step started after the record (one
    // write, which the in-memory file system completes before the commit resolves): not the
    // whole fill-ahead.
    expect(zeros).toBeLessThanOrEqual(2 * WAL_ZERO_FILL_STEP_BYTES);
    expect(2 * WAL_ZERO_FILL_STEP_BYTES).toBeLessThan(WAL_ZERO_FILL_AHEAD_BYTES);
    expect(rebooted.violations).toEqual([]);
    await resumed.close();
  });
});

describe('a failed zero fill', () => {
  it('a failed fill datasync is final: no commit is acknowledged after it', async () => {
    const fileSystem = new FailingFillFileSystem(new FaultFileSystem());
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash, 16 * MEBIBYTE, 16 * MEBIBYTE);
    fileSystem.failDatasync = 'EIO';
    let acknowledged = 0;
    let firstFailure: unknown;
    for (let version = 1; version <= 400; version++) {
      // A turn between commits, as real I/O gives: the fill yields between its zero-fill chunks.
      await turns(1);
      try {
        await writer.writeGroup([commitOf(version, 4 * KIBIBYTE)]);
        expect(firstFailure).toBeUndefined();
        acknowledged++;
      } catch (error) {
        firstFailure ??= error;
        expect((error as { code?: string }).code).toBe('EIO');
      }
    }
    // The first background fill starts once fewer than the fill-ahead bytes are left, within the first 1 MiB of records.
    expect(firstFailure).toBeDefined();
    expect(acknowledged).toBeLessThan(WAL_ZERO_FILL_AHEAD_BYTES / (4 * KIBIBYTE));
    await writer.close();
  });

  it('a full disk during a fill is DiskFullError for the record that needs the bytes; the writer takes records once there is room', async () => {
    const inner = new FaultFileSystem();
    const fileSystem = new FailingFillFileSystem(inner);
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash, 16 * MEBIBYTE, 16 * MEBIBYTE);
    fileSystem.failWrite = 'ENOSPC';
    let version = 0;
    let refused: unknown;
    const acknowledged: number[] = [];
    while (refused === undefined && version < 3000) {
      try {
        await writer.writeGroup([commitOf(++version, 4 * KIBIBYTE)]);
        acknowledged.push(version);
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(DiskFullError);
    fileSystem.failWrite = undefined;
    for (let index = 0; index < 300; index++) {
      await writer.writeGroup([commitOf(++version, 4 * KIBIBYTE)]);
      acknowledged.push(version);
    }
    await writer.close();
    const versions: number[] = [];
    await recoverWal(inner.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(acknowledged);
  });
});

interface Outcome {
  acknowledged: number[];
  attempted: number[];
}

/** 64 KiB commits in an 8 MiB segment: past its first 4 MiB (filled at creation), through background fill steps, into a second segment. */
async function runWorkload(fileSystem: FaultFileSystem, hash: Hash64, crashAfter: number | undefined): Promise<Outcome> {
  const writer = await newWriter(fileSystem, hash, 8 * MEBIBYTE, 8 * MEBIBYTE);
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  const outcome: Outcome = { acknowledged: [], attempted: [] };
  try {
    for (let version = 1; version <= 140; version++) {
      outcome.attempted.push(version);
      await writer.writeGroup([commitOf(version, 64 * KIBIBYTE)], undefined, version % 2 === 0);
      outcome.acknowledged.push(version);
    }
    await writer.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
  }
  await turns(20);
  return outcome;
}

async function crashAndCheck(hash: Hash64, crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await runWorkload(fileSystem, hash, crashAfter);
  const rebooted = fileSystem.crash(mode);
  const versions: number[] = [];
  let result;
  try {
    result = await recoverWal(rebooted, WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
  } catch (error) {
    return [`recovery failed: ${String(error)}`];
  }
  const problems: string[] = [];
  for (const version of outcome.acknowledged) if (!versions.includes(version)) problems.push(`acknowledged version ${version} lost`);
  for (const version of versions) if (!outcome.attempted.includes(version)) problems.push(`version ${version} recovered, never written`);
  if (result.resume === undefined) return [...problems, 'no segment to resume in'];
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: 8 * MEBIBYTE }, result.resume);
  try {
    await writer.writeGroup([commitOf(result.lastVersion + 1, 64 * KIBIBYTE)]);
    await writer.close();
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('crash while filling ahead', () => {
  it('every crash point in every mode recovers every acknowledged commit and resumes', async () => {
    const hash = await loadHash64();
    const counting = new FaultFileSystem(1);
    await runWorkload(counting, hash, 1_000_000);
    const operations = counting.operationCount;
    expect(operations).toBeGreaterThan(300);
    const failures: string[] = [];
    for (let crashAfter = 0; crashAfter <= operations; crashAfter += 3) {
      const mode = CRASH_MODES[(crashAfter / 3) % CRASH_MODES.length]!;
      for (const problem of await crashAndCheck(hash, crashAfter, mode, 7919 * crashAfter + 1)) failures.push(`k=${crashAfter} ${mode}: ${problem}`);
      if (failures.length > 8) break;
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
