/**
 * Regression tests for the WAL-recovery defects of issue 13 (1, 4, 5, 9, 11, 12,
 * and the flagged truncated middle segment) and for small first segments (issue 7,
 * item 8). Each test failed on the code before its fix.
 *
 * Stores are built through the public API on the fault file system, closed, and
 * then changed byte by byte; records are located with the small parser below,
 * written from docs/FORMAT.md.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError, ErrorCode } from '../src/errors.js';
import { FaultFileSystem, isSimulatedCrash } from '../src/fs/fault-file-system.js';
import { openStore as openStoreWithCheckpoint } from '../src/store/open-store.js';
import type { StoreOptions } from '../src/store/options.js';

/** These tests read the WAL a store leaves: close() must not checkpoint it away. */
const openStore = (directory: string, options: StoreOptions = {}) => openStoreWithCheckpoint(directory, { checkpointOnClose: false, ...options });
import type { Store } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { encodeRecord, FORMAT_VERSION, type Hash64, OPERATION_PUT, RECORD_MAGIC, recordTagOf } from '../src/wal/wal-format.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { openOn, scanAll, segmentPath, STORE_DIR, WAL_DIR } from './workload.js';

const SEGMENT_HEADER_BYTES = 64;
const RECORD_HEADER_BYTES = 32;

interface ParsedRecord {
  offset: number;
  lengthBytes: number;
  versions: number[];
}

function durable(fileSystem: FaultFileSystem, path: string): Uint8Array {
  const content = fileSystem.durableContent(path);
  if (content === undefined) throw new Error(`${path} is not durable`);
  return content;
}

/** Records of a clean segment image up to the first all-zero record header (docs/FORMAT.md). */
function recordsOf(fileSystem: FaultFileSystem, path: string): ParsedRecord[] {
  const image = durable(fileSystem, path);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const records: ParsedRecord[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + RECORD_HEADER_BYTES <= image.length && image.subarray(offset, offset + RECORD_HEADER_BYTES).some((byte) => byte !== 0)) {
    const payloadLength = view.getUint32(offset + 12, true);
    const firstVersion = view.getUint32(offset + 16, true);
    const commitCount = view.getUint32(offset + 24, true);
    const versions: number[] = [];
    let position = offset + RECORD_HEADER_BYTES;
    for (let commit = 0; commit < commitCount; commit++) {
      versions.push(firstVersion + view.getUint32(position, true));
      const operationCount = view.getUint32(position + 4, true);
      position += 8;
      for (let operation = 0; operation < operationCount; operation++) {
        const keyLength = view.getUint16(position + 1, true);
        const type = image[position]!;
        position += 3 + keyLength;
        if (type === OPERATION_PUT) position += 4 + view.getUint32(position, true);
      }
    }
    records.push({ offset, lengthBytes: RECORD_HEADER_BYTES + payloadLength, versions });
    offset += RECORD_HEADER_BYTES + payloadLength;
  }
  return records;
}

/** Sets durable bytes of `path` at `offset` to `bytes` (through flipBit, the fault file system's only way to damage). */
function overwrite(fileSystem: FaultFileSystem, path: string, offset: number, bytes: Uint8Array): void {
  const image = durable(fileSystem, path);
  bytes.forEach((byte, index) => {
    const difference = image[offset + index]! ^ byte;
    for (let bit = 0; bit < 8; bit++) if ((difference >> bit) & 1) fileSystem.flipBit(path, offset + index, bit);
  });
}

async function openOutcome(fileSystem: FaultFileSystem, extra: Parameters<typeof openOn>[1] = {}): Promise<Store | unknown> {
  return openOn(fileSystem, extra).catch((error: unknown) => error);
}

async function expectOpenRefused(fileSystem: FaultFileSystem, extra: Parameters<typeof openOn>[1] = {}): Promise<CorruptionError> {
  const outcome = await openOutcome(fileSystem, extra);
  if (!(outcome instanceof CorruptionError)) {
    const store = outcome as Store;
    const description = `opened at version ${store.version} with ${(await scanAll(store)).size} keys`;
    await store.close();
    throw new Error(`expected CorruptionError, ${description}`);
  }
  expect(outcome.code).toBe(ErrorCode.Corruption);
  return outcome;
}

/** A store of `count` puts (one record each) on 16 KiB segments; keys k000.. */
async function storeOf(count: number, seed = 31, pad = 10): Promise<{ fileSystem: FaultFileSystem; versions: Map<string, number> }> {
  const fileSystem = new FaultFileSystem(seed);
  const store = await openOn(fileSystem);
  const versions = new Map<string, number>();
  for (let index = 0; index < count; index++) {
    const key = `k${String(index).padStart(3, '0')}`;
    versions.set(key, (await store.put(key, { index, pad: 'p'.repeat(pad) })).version);
  }
  await store.close();
  return { fileSystem, versions };
}

function segmentsOn(fileSystem: FaultFileSystem): string[] {
  return fileSystem.listPaths().filter((path) => path.startsWith(`${WAL_DIR}/`)).sort();
}

describe('defect 1: a checksum-valid record that cannot be applied is never zeroed or skipped', () => {
  it('open fails with CorruptionError (with and without repair), verify reports it, and the bytes stay untouched', async () => {
    const { fileSystem } = await storeOf(3);
    const [last] = recordsOf(fileSystem, segmentPath(1)).slice(-1);
    const end = last!.offset + last!.lengthBytes;
    // A record with a valid checksum whose value msgpack cannot unpack (an array of 2 holding 1 element).
    const hash = await loadHash64();
    const record = Buffer.alloc(256);
    const operations = [{ type: OPERATION_PUT, key: Buffer.from('bad'), value: Uint8Array.from([0x92, 0x01]) }] as const;
    // With segment 1's use tag: a record of another use would read as the log's end (format 2).
    const length = encodeRecord([{ version: 4, operations, sizeBytes: 8 + 7 + 3 + 2 }], record, 0, hash, recordTagOf(FORMAT_VERSION, 1));
    overwrite(fileSystem, segmentPath(1), end, record.subarray(0, length));
    const before = durable(fileSystem, segmentPath(1)).slice();

    const error = await expectOpenRefused(fileSystem);
    expect(error).toMatchObject({ file: segmentPath(1), offset: end });
    expect(error.message).toMatch(/checksum-valid record cannot be applied/);
    const repairError = await expectOpenRefused(fileSystem, { repair: true });
    expect(repairError.message).toMatch(/never dropped, not even by repair/);
    const report = await verifyStore(STORE_DIR, { fileSystem });
    expect(report.ok).toBe(false);
    expect(report.corruption).toMatchObject({ file: segmentPath(1), offset: end });
    expect(durable(fileSystem, segmentPath(1))).toEqual(before);
  });
});

describe('defect 4: a crash during repair never leaves a log with a hole', () => {
  it('at every file-system operation of a repair (drop-unsynced and keep-all), a plain open refuses or holds exactly the kept prefix', async () => {
    for (const mode of ['drop-unsynced', 'keep-all'] as const) {
      let completed = false;
      for (let operations = 0; !completed; operations++) {
        expect(operations, 'the repair finishes within a bounded number of operations').toBeLessThan(200);
        const { fileSystem, versions } = await storeOf(150, 41, 200);
        const segments = segmentsOn(fileSystem);
        expect(segments.length).toBeGreaterThanOrEqual(3);
        // Damage the second-to-last record of segment 1: valid records follow it there and in later segments.
        const target = recordsOf(fileSystem, segmentPath(1)).at(-2)!;
        fileSystem.flipBit(segmentPath(1), target.offset + RECORD_HEADER_BYTES + 3, 1);
        const keptVersion = target.versions[0]! - 1;
        const highest = Math.max(...versions.values());
        fileSystem.crashAfterOperations(operations);
        const repaired = await openOn(fileSystem, { repair: true }).catch((error: unknown) => error);
        const crashed = repaired instanceof Error && (isSimulatedCrash(repaired) || isSimulatedCrash(repaired.cause));
        if (!crashed) {
          if (repaired instanceof Error) throw repaired;
          completed = true;
          fileSystem.crashAfterOperations(1e12);
          await (repaired as Store).close();
          continue;
        }
        const after = fileSystem.crash(mode);
        const outcome = await openOutcome(after);
        if (outcome instanceof CorruptionError) continue;
        if (outcome instanceof Error) throw outcome;
        const store = outcome as Store;
        const keys = [...(await scanAll(store)).keys()];
        const expected = [...versions].filter(([, version]) => version <= keptVersion).map(([key]) => key);
        expect(keys, `crash after ${operations} operations (${mode}): no key beyond the damage survives`).toEqual(expected);
        // Numbering resumes above everything repair had already dropped.
        if (store.version > keptVersion) expect(store.version).toBe(highest);
        await store.close();
      }
    }
  }, 120_000);
});

describe('defect 5: a missing first segment is refused', () => {
  it('deleting wal-0000000001.log from a store with several segments fails the open naming that file', async () => {
    const { fileSystem } = await storeOf(150, 51, 200);
    expect(segmentsOn(fileSystem).length).toBeGreaterThanOrEqual(3);
    await fileSystem.unlink(segmentPath(1));
    await fileSystem.syncDirectory(WAL_DIR);
    const error = await expectOpenRefused(fileSystem);
    expect(error.file).toBe(segmentPath(1));
    expect(error.message).toContain('first segment is missing');
    expect((await expectOpenRefused(fileSystem, { repair: true })).file).toBe(segmentPath(1));
    expect((await verifyStore(STORE_DIR, { fileSystem })).ok).toBe(false);
  });

  it('recoverWal takes the expected first segment as an option: a log that begins there replays', async () => {
    const { fileSystem } = await storeOf(150, 52, 200);
    const lostVersions = recordsOf(fileSystem, segmentPath(1)).flatMap((record) => record.versions);
    await fileSystem.unlink(segmentPath(1));
    await fileSystem.syncDirectory(WAL_DIR);
    const hash = await loadHash64();
    const result = await recoverWal(fileSystem, WAL_DIR, hash, false, () => undefined, { expectedFirstSegment: 2 });
    await result.resume?.handle.close();
    expect(result.records).toBe(150 - lostVersions.length);
  });
});

describe('defect 9: repair never reuses a version and counts exactly what it dropped', () => {
  it('dropping versions 6-10 reports 6-10, and the next put gets 11, also after a reopen without writes', async () => {
    const { fileSystem } = await storeOf(10);
    const records = recordsOf(fileSystem, segmentPath(1));
    expect(records.map((record) => record.versions[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    fileSystem.flipBit(segmentPath(1), records[5]!.offset + RECORD_HEADER_BYTES + 4, 0);

    const repaired = await openOn(fileSystem, { repair: true });
    expect(repaired.stats().recovery.repair).toMatchObject({ droppedRecords: 5, droppedCommits: 5, droppedVersions: { first: 6, last: 10 } });
    expect(repaired.version).toBe(10);
    await repaired.close();
    const reopened = await openOn(fileSystem);
    expect(reopened.stats().recovery.repair).toBeUndefined();
    expect(reopened.version).toBe(10);
    expect((await reopened.put('next', 1)).version).toBe(11);
    expect([...(await scanAll(reopened)).keys()]).toEqual(['k000', 'k001', 'k002', 'k003', 'k004', 'next']);
    await reopened.close();
  });
});

/** A store whose last record holds `value` and is torn: its last 16 bytes read as zeros. */
async function tornValueStore(value: Uint8Array, segmentSizeBytes?: number): Promise<{ fileSystem: FaultFileSystem; torn: ParsedRecord; path: string }> {
  const fileSystem = new FaultFileSystem(61);
  const extra = segmentSizeBytes === undefined ? {} : { segmentSizeBytes, maxValueBytes: segmentSizeBytes / 2 };
  const store = await openOn(fileSystem, extra);
  await store.put('a', 1);
  await store.put('b', 2);
  await store.put('value', value);
  await store.close();
  const path = segmentsOn(fileSystem).filter((candidate) => recordsOf(fileSystem, candidate).length > 0).at(-1)!;
  const torn = recordsOf(fileSystem, path).at(-1)!;
  const end = torn.offset + torn.lengthBytes;
  overwrite(fileSystem, path, end - 16, new Uint8Array(16));
  return { fileSystem, torn, path };
}

describe('defect 11: bytes of a WAL record inside a torn record do not turn a torn tail into corruption', () => {
  it('a torn last record whose value holds a checksum-valid record image is an ordinary torn tail', async () => {
    const hash = await loadHash64();
    const image = Buffer.alloc(512);
    const operations = [{ type: OPERATION_PUT, key: Buffer.from('inner'), value: Uint8Array.from([0x01]) }] as const;
    // With the use tag of segment 1, where the torn record lies: an image the resync would take for a record.
    const length = encodeRecord([{ version: 1000, operations, sizeBytes: 8 + 7 + 5 + 1 }], image, 0, hash, recordTagOf(FORMAT_VERSION, 1));
    const value = new Uint8Array(2048).fill(0x55);
    value.set(image.subarray(0, length), 100);
    const { fileSystem, torn, path } = await tornValueStore(value);

    const store = await openOn(fileSystem);
    expect(store.stats().recovery.tornTail).toMatchObject({ file: path, offset: torn.offset });
    expect(store.version).toBe(2);
    expect(await scanAll(store)).toEqual(new Map([['a', 1], ['b', 2]]));
    await store.close();
  });
});

describe('defect 12: recovery work after a torn write does not grow with fake record headers in the value', () => {
  it('hashes about the log once, however many plausible headers the torn value holds', async () => {
    const segmentSizeBytes = 1024 * 1024;
    const fakeCount = 64;
    const value = new Uint8Array(256 * 1024).fill(0x55);
    const view = new DataView(value.buffer);
    for (let fake = 0; fake < fakeCount; fake++) {
      const offset = 64 + fake * 1024;
      view.setUint32(offset + 8, RECORD_MAGIC, true);
      view.setUint32(offset + 12, 100 * 1024, true); // claims 100 KiB of payload
      view.setUint32(offset + 24, 1, true); // one commit, flags 0
    }
    const { fileSystem } = await tornValueStore(value, segmentSizeBytes);
    const { h64Raw } = await xxhash();
    let hashedBytes = 0;
    const countingHash: Hash64 = (bytes) => {
      hashedBytes += bytes.length;
      return h64Raw(bytes);
    };
    const segmentBytes = segmentsOn(fileSystem).reduce((sum, path) => sum + durable(fileSystem, path).length, 0);
    const result = await recoverWal(fileSystem, WAL_DIR, countingHash, false, () => undefined);
    await result.resume?.handle.close();
    expect(result.tornTail).toBeDefined();
    // Replay hashes each record once; the torn record's fake headers add no hashing.
    expect(hashedBytes).toBeLessThanOrEqual(segmentBytes);
  });
});

describe('flagged: a segment whose size differs from its header is corruption', () => {
  it('a middle segment truncated exactly at a record boundary fails the open naming it', async () => {
    const { fileSystem } = await storeOf(150, 71, 200);
    expect(segmentsOn(fileSystem).length).toBeGreaterThanOrEqual(3);
    const records = recordsOf(fileSystem, segmentPath(2));
    expect(records.length).toBeGreaterThan(2);
    const cut = records.at(-2)!.offset;
    const handle = await fileSystem.open(segmentPath(2), 'readWrite');
    await handle.truncate(cut);
    await handle.datasync();
    await handle.close();

    const error = await expectOpenRefused(fileSystem);
    expect(error).toMatchObject({ file: segmentPath(2), offset: 0 });
    expect(error.message).toContain('its header says');
  });
});

describe('issue 7, item 8: small stores stay small', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it('a new store with the default segment size takes well under 1 MiB on disk, and a commit larger than its first segment fits', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'ladybug-small-'));
    directories.push(directory);
    const store = await openStore(directory);
    await store.close();
    const walBytes = readdirSync(join(directory, 'wal')).reduce((sum, name) => sum + statSync(join(directory, 'wal', name)).size, 0);
    expect(walBytes).toBeLessThanOrEqual(64 * 1024);

    const reopened = await openStore(directory);
    const large = new Uint8Array(300 * 1024).fill(7);
    await reopened.put('large', large);
    await reopened.close();
    const again = await openStore(directory);
    expect(await again.get('large')).toEqual(large);
    await again.close();
  });

  it('segments double from the first one up to segmentSizeBytes', async () => {
    const fileSystem = new FaultFileSystem(81);
    const store = await openStore(STORE_DIR, { fileSystem, segmentSizeBytes: 256 * 1024 });
    for (let index = 0; segmentsOn(fileSystem).length < 5; index++) await store.put(`g${index}`, 'x'.repeat(2000));
    await store.close();
    const sizes = segmentsOn(fileSystem).map((path) => durable(fileSystem, path).length);
    expect(sizes.slice(0, 5)).toEqual([64 * 1024, 128 * 1024, 256 * 1024, 256 * 1024, 256 * 1024]);
  });
});
