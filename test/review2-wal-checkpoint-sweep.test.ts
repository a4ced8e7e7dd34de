/**
 * Review of b4ba45b (an explicit checkpoint rotates the WAL to a SEGMENT_BYTES_MIN
 * segment): a crash sweep over checkpoint-then-writes at the writer's level, which
 * wal-checkpoint-segment's store-level cases do not take. Each cycle writes records,
 * then rotateForCheckpoint (16 KiB segment, the prepared next one discarded: a pooled
 * one back to the pool, a new one unlinked) and drops the segments below; the cycle
 * after it starts with a record LARGER than the 16 KiB segment (a rotation to a
 * segment big enough straight away) or with small ones that grow the segments back
 * by doubling; pool files of 16, 32, 64 and 128 KiB are taken and returned. A crash
 * after every file-system operation, in every mode: every acknowledged commit after
 * the last checkpoint is recovered, in order, nothing invented, and the log takes a
 * write after. Plus: the segment sizes after a checkpoint double back toward
 * segmentSizeBytes, and a kill between the rotation and the next write reopens empty.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { SEGMENT_BYTES_MIN } from '../src/limits.js';
import { createSegment, removeSegmentsBelow } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { recoveredVersions } from './support/wal-recovered.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const WAL_DIR = '/wal';
const FIRST_BYTES = 64 * KIBIBYTE;
const SEGMENT_BYTES_CAP = 128 * KIBIBYTE;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];
/** Per cycle: its records' value sizes (a first record past 16 KiB in some), then a checkpoint. */
const CYCLES: readonly (readonly number[])[] = [
  [3000, 3000, 3000, 3000, 3000, 3000, 3000],
  [20 * KIBIBYTE, 2000, 2000],
  [1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500],
  [40 * KIBIBYTE],
  [900, 17 * KIBIBYTE, 900, 900],
  [2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500],
];

function commitOf(version: number, valueBytes: number): { version: number; operations: EncodableOperation[]; sizeBytes: number } {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes + (version % 7)).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

interface Outcome {
  acknowledged: number[];
  attempted: number[];
  walStart: number;
  coveredBelow: number;
  /** Size of the active segment right after each checkpoint. */
  checkpointSegmentBytes: number[];
  segmentsRecycled: number;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function segmentSize(fileSystem: FileSystem, segmentNumber: number): Promise<number> {
  return (await fileSystem.readFile(`${WAL_DIR}/wal-${String(segmentNumber).padStart(10, '0')}.log`)).length;
}

async function runWorkload(fileSystem: FaultFileSystem, hash: Hash64, crashAfter: number | undefined): Promise<Outcome> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, FIRST_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, { ...first, offset: SEGMENT_HEADER_BYTES });
  const outcome: Outcome = { acknowledged: [], attempted: [], walStart: 1, coveredBelow: 1, checkpointSegmentBytes: [], segmentsRecycled: 0 };
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  let version = 0;
  try {
    for (const sizes of CYCLES) {
      for (const valueBytes of sizes) {
        outcome.attempted.push(++version);
        await writer.writeGroup([commitOf(version, valueBytes)], undefined, version % 3 === 0);
        outcome.acknowledged.push(version);
        // A background preparation of the next segment gets ahead at some records, not others.
        if (version % 4 === 0) await turns(3);
      }
      expect(await writer.rotateForCheckpoint()).toBe(true);
      outcome.walStart = writer.segmentNumber;
      outcome.coveredBelow = version + 1;
      if (crashAfter === undefined) outcome.checkpointSegmentBytes.push(await segmentSize(fileSystem, writer.segmentNumber));
      await removeSegmentsBelow(fileSystem, WAL_DIR, outcome.walStart);
    }
    for (let index = 0; index < 3; index++) {
      outcome.attempted.push(++version);
      await writer.writeGroup([commitOf(version, 5000)]);
      outcome.acknowledged.push(version);
    }
    outcome.segmentsRecycled = writer.stats().segmentsRecycled;
    await writer.close();
  } catch (error) {
    if (crashAfter === undefined) throw error;
  }
  await turns(20);
  return outcome;
}

function recovered(fileSystem: FileSystem, hash: Hash64, walStart: number) {
  return recoveredVersions(fileSystem, WAL_DIR, hash, walStart);
}

async function crashAndCheck(hash: Hash64, crashAfter: number, mode: CrashMode, seed: number): Promise<string[]> {
  const fileSystem = new FaultFileSystem(seed);
  const outcome = await runWorkload(fileSystem, hash, crashAfter);
  const rebooted = fileSystem.crash(mode);
  let recovery;
  try {
    recovery = await recovered(rebooted, hash, outcome.walStart);
  } catch (error) {
    return [`recovery failed: ${String(error)}`];
  }
  const { versions, result } = recovery;
  const problems: string[] = [];
  for (const version of outcome.acknowledged) {
    if (version >= outcome.coveredBelow && !versions.includes(version)) problems.push(`acknowledged version ${version} lost`);
  }
  for (const version of versions) if (!outcome.attempted.includes(version)) problems.push(`version ${version} recovered, never written`);
  if (versions.some((version, index) => index > 0 && version !== versions[index - 1]! + 1)) problems.push(`versions not contiguous: ${versions.join(',')}`);
  if (result.resume === undefined) return [...problems, 'no segment to resume in'];
  const next = Math.max(result.lastVersion, ...outcome.attempted) + 1;
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, result.resume);
  try {
    // Larger than a checkpoint's segment: the resumed writer must rotate to fit it.
    await writer.writeGroup([commitOf(next, 20 * KIBIBYTE)]);
    await writer.close();
    const again = await recovered(rebooted.crash('drop-unsynced'), hash, outcome.walStart);
    if (again.versions.at(-1) !== next) problems.push(`the write after recovery is lost (recovered up to ${again.versions.at(-1)})`);
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('crash sweep: checkpoints to a 16 KiB segment, then writes (large ones first)', () => {
  it('every checkpoint makes a SEGMENT_BYTES_MIN segment, the pool is used, and a clean run recovers exactly', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(1);
    const outcome = await runWorkload(fileSystem, hash, undefined);
    expect(outcome.checkpointSegmentBytes).toEqual(CYCLES.map(() => SEGMENT_BYTES_MIN));
    expect(outcome.segmentsRecycled).toBeGreaterThanOrEqual(2);
    const { versions } = await recovered(fileSystem.crash('drop-unsynced'), hash, outcome.walStart);
    expect(versions).toEqual(outcome.acknowledged.filter((version) => version >= outcome.coveredBelow));
  });

  it('after a checkpoint the segments double from 16 KiB back up to segmentSizeBytes', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(2);
    await fileSystem.mkdir(WAL_DIR);
    const first = await createSegment(fileSystem, WAL_DIR, 1, FIRST_BYTES, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, { ...first, offset: SEGMENT_HEADER_BYTES });
    await writer.writeGroup([commitOf(1, 1000)]);
    await writer.rotateForCheckpoint();
    const start = writer.segmentNumber;
    for (let version = 2; version < 140; version++) {
      await writer.writeGroup([commitOf(version, 3000)]);
      if (version % 5 === 0) await turns(3);
    }
    const sizes: number[] = [];
    for (let segment = start; segment <= writer.segmentNumber; segment++) sizes.push(await segmentSize(fileSystem, segment));
    await writer.close();
    expect(sizes.slice(0, 5)).toEqual([16, 32, 64, 128, 128].map((size) => size * KIBIBYTE));
    expect(Math.max(...sizes)).toBe(SEGMENT_BYTES_CAP);
  });

  it('a kill between the checkpoint rotation and the next write reopens with no record, and resumes', async () => {
    const hash = await loadHash64();
    for (const mode of CRASH_MODES) {
      const fileSystem = new FaultFileSystem(3);
      await fileSystem.mkdir(WAL_DIR);
      await fileSystem.syncDirectory('/');
      const first = await createSegment(fileSystem, WAL_DIR, 1, FIRST_BYTES, hash);
      const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, { ...first, offset: SEGMENT_HEADER_BYTES });
      for (let version = 1; version <= 10; version++) await writer.writeGroup([commitOf(version, 3000)]);
      await writer.rotateForCheckpoint();
      const walStart = writer.segmentNumber;
      await removeSegmentsBelow(fileSystem, WAL_DIR, walStart);
      // No close: the process dies here.
      const rebooted = fileSystem.crash(mode);
      const { versions, result } = await recovered(rebooted, hash, walStart);
      expect(versions, mode).toEqual([]);
      expect(result.resume?.segmentNumber, mode).toBe(walStart);
      const resumed = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, result.resume!);
      await resumed.writeGroup([commitOf(11, 30 * KIBIBYTE)]);
      await resumed.writeGroup([commitOf(12, 100)]);
      await resumed.close();
      expect((await recovered(rebooted.crash('drop-unsynced'), hash, walStart)).versions, mode).toEqual([11, 12]);
    }
  });

  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: every acknowledged commit after the last checkpoint recovered, nothing invented, writes after`, async () => {
      const hash = await loadHash64();
      const counter = new FaultFileSystem(1);
      await runWorkload(counter, hash, 1_000_000);
      const operations = counter.operationCount;
      expect(operations).toBeGreaterThan(200);
      const failures: string[] = [];
      for (let crashAfter = 0; crashAfter <= operations && failures.length < 10; crashAfter++) {
        for (const problem of await crashAndCheck(hash, crashAfter, mode, 9100 * (index + 1) + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
      }
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
