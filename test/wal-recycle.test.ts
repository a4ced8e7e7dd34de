/**
 * WAL segment recycling (WAL format 2, issue 12). A segment covered by runs is renamed
 * into a bounded pool instead of unlinked, and a later segment of its size is made from
 * it (header rewritten), so records overwrite allocated, written blocks and need no zero
 * fill. The bytes past a recycled segment's records are its earlier use's records; each
 * record carries its segment's use tag, so those read as the end of the log.
 *
 * Checked here: the pool's bounds; a segment made from a recycled file reads as empty;
 * a crash at every file-system operation of a writer workload that recycles, in every
 * crash mode, recovers every acknowledged commit and nothing invented, and the log takes
 * writes after; a torn record followed by an earlier use's records is a torn tail, while a
 * damaged record followed by records of the current use is corruption; a store written in
 * format 1 (test/fixtures/store-wal-v1) opens, replays, and keeps writing its segment.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { WAL_RECYCLED_BYTES_MAX, WAL_RECYCLED_SEGMENTS_MAX } from '../src/limits.js';
import { openStore } from '../src/store/open-store.js';
import { createSegment, listSegments, removeSegmentsBelow, segmentFileName, takeRecycledSegment } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  decodeSegmentHeader,
  type EncodableOperation,
  FORMAT_VERSION,
  FORMAT_VERSION_UNTAGGED,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  recordTagOf,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const WAL_DIR = '/wal';
const SEGMENT_BYTES = 64 * KIBIBYTE;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

function poolFiles(names: readonly string[]): string[] {
  return names.filter((name) => name.startsWith('recycled-'));
}

async function newWriter(fileSystem: FileSystem, hash: Hash64): Promise<WalWriter> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
  return new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });
}

async function recoveredVersions(fileSystem: FileSystem, hash: Hash64, walStart: number): Promise<{ versions: number[]; result: Awaited<ReturnType<typeof recoverWal>> }> {
  const versions: number[] = [];
  // As an open does: segments below the WAL start are covered (removed or recycled) first.
  await removeSegmentsBelow(fileSystem, WAL_DIR, walStart);
  const result = await recoverWal(fileSystem, WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  }, { expectedFirstSegment: walStart });
  return { versions, result };
}

interface Outcome {
  acknowledged: number[];
  attempted: number[];
  /** The WAL start a manifest would hold (made durable before covered segments are removed). */
  walStart: number;
  /** Every version below this one is in "runs": not required from the WAL. */
  coveredBelow: number;
  segmentsRecycled: number;
}

/**
 * 5 KiB commits into 64 KiB segments, in cycles: write, cut (as a memtable seal), cover
 * every segment before the cut (as a flush: WAL start moved first, then
 * removeSegmentsBelow, which recycles them), so later segments are made from recycled
 * files holding an earlier use's records.
 */
async function runWorkload(fileSystem: FaultFileSystem, hash: Hash64, crashAfter: number | undefined, cycles = 4): Promise<Outcome> {
  const writer = await newWriter(fileSystem, hash);
  const outcome: Outcome = { acknowledged: [], attempted: [], walStart: 1, coveredBelow: 1, segmentsRecycled: 0 };
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  let version = 0;
  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      // Fewer commits in later cycles: their segments end before the earlier use's records do.
      for (let index = 0; index < 30 - 4 * cycle; index++) {
        outcome.attempted.push(++version);
        await writer.writeGroup([commitOf(version, 5 * KIBIBYTE)], undefined, version % 2 === 0);
        outcome.acknowledged.push(version);
      }
      writer.cutAtNextRecord();
      await writer.rotateAtCut();
      outcome.walStart = writer.segmentNumber;
      outcome.coveredBelow = version + 1;
      await removeSegmentsBelow(fileSystem, WAL_DIR, outcome.walStart);
    }
    for (let index = 0; index < 5; index++) {
      outcome.attempted.push(++version);
      await writer.writeGroup([commitOf(version, 5 * KIBIBYTE)]);
      outcome.acknowledged.push(version);
    }
    outcome.segmentsRecycled = writer.stats().segmentsRecycled;
    await writer.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
  }
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
  return outcome;
}

async function crashAndCheck(hash: Hash64, crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await runWorkload(fileSystem, hash, crashAfter);
  const rebooted = fileSystem.crash(mode);
  let recovered;
  try {
    recovered = await recoveredVersions(rebooted, hash, outcome.walStart);
  } catch (error) {
    return [`recovery failed: ${String(error)}`];
  }
  const { versions, result } = recovered;
  const problems: string[] = [];
  for (const version of outcome.acknowledged) {
    if (version >= outcome.coveredBelow && !versions.includes(version)) problems.push(`acknowledged version ${version} lost`);
  }
  for (const version of versions) if (!outcome.attempted.includes(version)) problems.push(`version ${version} recovered, never written`);
  if (versions.some((version, index) => index > 0 && version !== versions[index - 1]! + 1)) problems.push(`versions not contiguous: ${versions.join(',')}`);
  if (result.resume === undefined) return [...problems, 'no segment to resume in'];
  const next = Math.max(result.lastVersion, ...outcome.attempted) + 1;
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, result.resume);
  try {
    await writer.writeGroup([commitOf(next, 5 * KIBIBYTE)]);
    await writer.close();
    const again = await recoveredVersions(rebooted.crash('drop-unsynced'), hash, outcome.walStart);
    if (again.versions.at(-1) !== next) problems.push(`the write after recovery is lost (recovered up to ${again.versions.at(-1)})`);
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('the recycled pool', () => {
  it('keeps the newest covered segments of power-of-two sizes within its bounds and unlinks the rest', async () => {
    const fileSystem = new FaultFileSystem();
    const hash = await loadHash64();
    await fileSystem.mkdir(WAL_DIR);
    const count = WAL_RECYCLED_SEGMENTS_MAX + 4;
    for (let number = 1; number <= count; number++) {
      const created = await createSegment(fileSystem, WAL_DIR, number, number === count ? SEGMENT_BYTES + 4096 : SEGMENT_BYTES, hash);
      await created.handle.close();
    }
    const removed = await removeSegmentsBelow(fileSystem, WAL_DIR, count + 1);
    expect(removed).toEqual(Array.from({ length: count }, (_, index) => `${WAL_DIR}/${segmentFileName(index + 1)}`));
    const names = await fileSystem.readdir(WAL_DIR);
    expect(await listSegments(fileSystem, WAL_DIR)).toEqual([]);
    const pool = poolFiles(names).sort();
    expect(pool.length).toBe(WAL_RECYCLED_SEGMENTS_MAX);
    expect(pool.length * SEGMENT_BYTES).toBeLessThanOrEqual(WAL_RECYCLED_BYTES_MAX);
    // The newest of the 64 KiB ones (the one of another size is not kept: the writer would not make it again).
    expect(pool[0]).toBe(`recycled-${String(count - WAL_RECYCLED_SEGMENTS_MAX).padStart(10, '0')}-${SEGMENT_BYTES}.log`);
    expect(pool.at(-1)).toBe(`recycled-${String(count - 1).padStart(10, '0')}-${SEGMENT_BYTES}.log`);
    // A later removal keeps the bound: its newer segments push the oldest pool files out.
    for (let number = count + 1; number <= count + 3; number++) (await createSegment(fileSystem, WAL_DIR, number, SEGMENT_BYTES, hash)).handle.close();
    await removeSegmentsBelow(fileSystem, WAL_DIR, count + 4);
    expect(poolFiles(await fileSystem.readdir(WAL_DIR)).length).toBe(WAL_RECYCLED_SEGMENTS_MAX);
  });

  it('a segment made from a recycled file is durable, format 2, and reads as empty: its earlier records are not data', async () => {
    const fileSystem = new FaultFileSystem();
    const hash = await loadHash64();
    const writer = await newWriter(fileSystem, hash);
    for (let version = 1; version <= 11; version++) await writer.writeGroup([commitOf(version, 5 * KIBIBYTE)]);
    expect(writer.segmentNumber).toBe(1);
    writer.cutAtNextRecord();
    await writer.rotateAtCut();
    await writer.close();
    await removeSegmentsBelow(fileSystem, WAL_DIR, 2);
    expect(poolFiles(await fileSystem.readdir(WAL_DIR))).toEqual([`recycled-0000000001-${SEGMENT_BYTES}.log`]);
    const taken = await takeRecycledSegment(fileSystem, WAL_DIR, 3, SEGMENT_BYTES, hash);
    expect(taken).toMatchObject({ segmentNumber: 3, sizeBytes: SEGMENT_BYTES, filledBytes: SEGMENT_BYTES, recycled: true, tag: recordTagOf(FORMAT_VERSION, 3) });
    await taken!.handle.close();
    expect(await takeRecycledSegment(fileSystem, WAL_DIR, 4, SEGMENT_BYTES, hash)).toBeUndefined();
    const rebooted = fileSystem.crash('drop-unsynced');
    const image = Buffer.from(await rebooted.readFile(`${WAL_DIR}/${segmentFileName(3)}`));
    expect(decodeSegmentHeader(image, hash)).toEqual({ formatVersion: FORMAT_VERSION, segmentNumber: 3, segmentSizeBytes: SEGMENT_BYTES });
    // Segment 1's records are still there, whole and checksum-valid, under another use tag.
    expect(image.indexOf(Buffer.from('key-5'))).toBeGreaterThan(SEGMENT_HEADER_BYTES);
    const { versions, result } = await recoveredVersions(rebooted, hash, 2);
    expect(versions).toEqual([]);
    expect(result.tornTail).toBeUndefined();
    expect(result.resume).toMatchObject({ segmentNumber: 3, offset: SEGMENT_HEADER_BYTES });
  });
});

describe('crash at every operation of a workload that recycles segments', () => {
  it('the workload reaches recycled segments', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(1);
    const outcome = await runWorkload(fileSystem, hash, undefined);
    expect(outcome.segmentsRecycled).toBeGreaterThanOrEqual(4);
    const { versions } = await recoveredVersions(fileSystem.crash('drop-unsynced'), hash, outcome.walStart);
    expect(versions).toEqual(outcome.acknowledged.filter((version) => version >= outcome.coveredBelow));
  });

  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: every acknowledged commit recovered, in order, nothing invented, and the log takes writes after`, async () => {
      const hash = await loadHash64();
      const counter = new FaultFileSystem(1);
      await runWorkload(counter, hash, 1_000_000);
      // An upper bound (it counts the first segment's creation too): later points crash nothing.
      const operations = counter.operationCount;
      expect(operations).toBeGreaterThan(300);
      const failures: string[] = [];
      for (let crashAfter = 0; crashAfter <= operations; crashAfter++) {
        for (const problem of await crashAndCheck(hash, crashAfter, mode, 1000 * index + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
      }
      expect(failures.slice(0, 10)).toEqual([]);
    }, 120_000);
  }
});

/** A writer whose segment 2 (or later) is recycled and holds its records, then an earlier use's. */
async function recycledSegmentWithRecords(hash: Hash64): Promise<{ fileSystem: FaultFileSystem; path: string; versions: number[]; walStart: number }> {
  const fileSystem = new FaultFileSystem(7);
  const writer = await newWriter(fileSystem, hash);
  let version = 0;
  for (let index = 0; index < 11; index++) await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
  writer.cutAtNextRecord();
  await writer.rotateAtCut();
  const walStart = writer.segmentNumber;
  await removeSegmentsBelow(fileSystem, WAL_DIR, walStart);
  const versions: number[] = [];
  // Into the next segment, made from segment 1's file: 4 records, then segment 1's 5th onwards.
  while (writer.segmentNumber === walStart) {
    await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
    versions.push(version);
  }
  const path = `${WAL_DIR}/${segmentFileName(writer.segmentNumber)}`;
  // The last record went into the new segment (its first); three more follow it there.
  versions.splice(0, versions.length - 1);
  for (let index = 0; index < 3; index++) {
    await writer.writeGroup([commitOf(++version, 5 * KIBIBYTE)]);
    versions.push(version);
  }
  expect(writer.stats().segmentsRecycled).toBeGreaterThanOrEqual(1);
  await writer.close();
  return { fileSystem, path, versions, walStart };
}

describe('reopening a recycled segment', () => {
  it('a torn last record followed by the earlier use\'s records is a torn tail: the records before it recovered, writing resumes', async () => {
    const hash = await loadHash64();
    const { fileSystem, path, versions, walStart } = await recycledSegmentWithRecords(hash);
    const image = Buffer.from(await fileSystem.readFile(path));
    const tag = recordTagOf(FORMAT_VERSION, Number(/wal-(\d+)/.exec(path)![1]));
    // The last record's end: each record is a 5 KiB commit; find the 4th record of this use.
    let offset = SEGMENT_HEADER_BYTES;
    const offsets: number[] = [];
    for (let index = 0; index < 4; index++) {
      expect(image.readUInt32LE(offset + 28)).toBe(tag);
      offsets.push(offset);
      offset += 32 + image.readUInt32LE(offset + 12);
    }
    // The earlier use's records follow (another tag), not zeros.
    expect(image.subarray(offset, offset + 32).some((byte) => byte !== 0) || image.subarray(offset + 32, offset + 4096).some((byte) => byte !== 0)).toBe(true);
    // Tear the last record: its final 100 bytes become garbage.
    const torn = Buffer.from(image);
    torn.fill(0x5a, offset - 100, offset);
    const damaged = new FaultFileSystem(8);
    for (const file of fileSystem.listPaths()) {
      const parent = file.slice(0, file.lastIndexOf('/')) || '/';
      if (!(await damaged.exists(parent))) {
        await damaged.mkdir(parent);
        await damaged.syncDirectory('/');
      }
      const handle = await damaged.open(file, 'createExclusive');
      await handle.write(file === path ? torn : Buffer.from(await fileSystem.readFile(file)), 0);
      await handle.sync();
      await handle.close();
    }
    await damaged.syncDirectory(WAL_DIR);
    const { versions: recovered, result } = await recoveredVersions(damaged, hash, walStart);
    expect(recovered.slice(-3)).toEqual(versions.slice(0, 3));
    expect(result.tornTail).toMatchObject({ file: path, offset: offsets[3] });
    const writer = new WalWriter({ fileSystem: damaged, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, result.resume!);
    const next = versions[3]! + 1;
    await writer.writeGroup([commitOf(next, 100)]);
    await writer.writeGroup([commitOf(next + 1, 100)]);
    await writer.close();
    const again = await recoveredVersions(damaged.crash('drop-unsynced'), hash, walStart);
    expect(again.versions.slice(-5)).toEqual([...versions.slice(0, 3), next, next + 1]);
    expect(again.result.tornTail).toBeUndefined();
  });

  it('a damaged record followed by records of the current use is corruption, not an end', async () => {
    const hash = await loadHash64();
    const { fileSystem, path, walStart } = await recycledSegmentWithRecords(hash);
    const image = Buffer.from(await fileSystem.readFile(path));
    // Flip a payload byte of the second record: the third and fourth (this use's tag) follow it.
    const second = SEGMENT_HEADER_BYTES + 32 + image.readUInt32LE(SEGMENT_HEADER_BYTES + 12);
    const handle = await fileSystem.open(path, 'readWrite');
    await handle.write(Uint8Array.of(image[second + 200]! ^ 0xff), second + 200);
    await handle.sync();
    await handle.close();
    await expect(recoveredVersions(fileSystem, hash, walStart)).rejects.toBeInstanceOf(CorruptionError);
  });
});

describe('a store written in WAL format 1', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  it('opens, replays its format-1 records exactly, and keeps writing (tag 0) in its format-1 segment', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'ladybug-wal-v1-'));
    directories.push(directory);
    cpSync(join(import.meta.dirname, 'fixtures', 'store-wal-v1'), directory, { recursive: true });
    const expected = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'store-wal-v1.expected.json'), 'utf8')) as { version: number; entries: Array<[string, unknown]> };
    const walDir = join(directory, 'wal');
    const headerVersion = (number: number): number => readFileSync(join(walDir, segmentFileName(number))).readUInt32LE(8);
    const options = { segmentSizeBytes: 16 * KIBIBYTE, checkpointOnClose: false };
    const store = await openStore(directory, options);
    expect(store.stats().recovery.commits).toBeGreaterThan(0);
    expect(store.version).toBe(expected.version);
    const entries: Array<[string, unknown]> = [];
    for await (const entry of store.scan()) entries.push(entry as [string, unknown]);
    expect(entries).toEqual(expected.entries);
    const resumed = store.stats().walSegment as number;
    expect(headerVersion(resumed)).toBe(FORMAT_VERSION_UNTAGGED);
    // A few small commits: they stay in the format-1 segment the store resumed in.
    for (let index = 0; index < 3; index++) await store.put(`after-${index}`, index);
    expect(store.stats().walSegment).toBe(resumed);
    await store.close();
    const reopened = await openStore(directory, options);
    expect(reopened.stats().recovery.tornTail).toBeUndefined();
    for (let index = 0; index < 3; index++) expect(await reopened.get(`after-${index}`)).toBe(index);
    expect(await reopened.get('batch-a')).toEqual([1, 2, 3]);
    // Many more: new segments are format 2.
    for (let index = 0; index < 300; index++) await reopened.put(`more-${index}`, 'm'.repeat(100));
    // (The active one: a later file may be a next segment still being created in the background.)
    const active = reopened.stats().walSegment as number;
    expect(active).toBeGreaterThan(resumed);
    expect(headerVersion(active)).toBe(FORMAT_VERSION);
    await reopened.close();
    const last = await openStore(directory, options);
    expect(await last.get('more-299')).toBe('m'.repeat(100));
    expect(await last.get('after-2')).toBe(2);
    await last.close();
  });
});
