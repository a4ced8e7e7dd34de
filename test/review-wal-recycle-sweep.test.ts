/**
 * Review of WAL format 2 (19b338d): a crash sweep over the paths test/wal-recycle's
 * sweep does not take. There every segment is 64 KiB (segmentSizeBytes caps them), so a
 * prepared next segment is the size a cut makes. Here segments grow (64, 128, 256 KiB),
 * so the writer prepares a larger next segment from the pool in the background
 * (takeRecycledSegment racing with the records), a cut returns it to the pool unused
 * (returnToPool, not synced) and makes a 64 KiB one, and pool files of three sizes are
 * taken, returned and trimmed; cycles of different lengths leave earlier uses' records
 * at every offset. A crash after every operation, in every mode: every acknowledged
 * commit recovered, in order, nothing invented, and the log takes a write after.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
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
const SEGMENT_BYTES_CAP = 256 * KIBIBYTE;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];
/** Records per cycle: past half of a 64 KiB segment (a 128 KiB one prepared), into 128 and 256 KiB ones, short ones. */
const CYCLES = [9, 40, 7, 24, 3, 14];

function commitOf(version: number): { version: number; operations: EncodableOperation[]; sizeBytes: number } {
  // Sizes vary so records of different uses overlap at different offsets.
  const valueBytes = 3 * KIBIBYTE + ((version * 977) % (3 * KIBIBYTE));
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

interface Outcome {
  acknowledged: number[];
  attempted: number[];
  walStart: number;
  coveredBelow: number;
  segmentsRecycled: number;
  /** Cuts that returned a prepared segment to the pool (a pool file named after the segment the cut made). */
  returned: number;
}

async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

async function runWorkload(fileSystem: FaultFileSystem, hash: Hash64, crashAfter: number | undefined): Promise<Outcome> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, FIRST_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, { ...first, offset: SEGMENT_HEADER_BYTES });
  const outcome: Outcome = { acknowledged: [], attempted: [], walStart: 1, coveredBelow: 1, segmentsRecycled: 0, returned: 0 };
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  let version = 0;
  try {
    for (const records of CYCLES) {
      for (let index = 0; index < records; index++) {
        outcome.attempted.push(++version);
        await writer.writeGroup([commitOf(version)], undefined, version % 3 === 0);
        outcome.acknowledged.push(version);
        // Let a background preparation of the next segment get ahead at some records, not others.
        if (version % 4 === 0) await turns(3);
      }
      writer.cutAtNextRecord();
      await writer.rotateAtCut();
      outcome.walStart = writer.segmentNumber;
      outcome.coveredBelow = version + 1;
      if (crashAfter === undefined && (await fileSystem.readdir(WAL_DIR)).some((name) => name.startsWith(`recycled-${String(writer.segmentNumber).padStart(10, '0')}-`))) outcome.returned++;
      await removeSegmentsBelow(fileSystem, WAL_DIR, outcome.walStart);
    }
    for (let index = 0; index < 4; index++) {
      outcome.attempted.push(++version);
      await writer.writeGroup([commitOf(version)]);
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
    await writer.writeGroup([commitOf(next)]);
    await writer.close();
    const again = await recovered(rebooted.crash('drop-unsynced'), hash, outcome.walStart);
    if (again.versions.at(-1) !== next) problems.push(`the write after recovery is lost (recovered up to ${again.versions.at(-1)})`);
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}

describe('crash sweep: growing segments, prepared segments from the pool, returned at cuts', () => {
  it('the workload recycles segments of several sizes and returns prepared ones', async () => {
    const hash = await loadHash64();
    const fileSystem = new FaultFileSystem(1);
    const outcome = await runWorkload(fileSystem, hash, undefined);
    expect(outcome.segmentsRecycled).toBeGreaterThanOrEqual(4);
    expect(outcome.returned).toBeGreaterThanOrEqual(1);
    const pool = (await fileSystem.readdir(WAL_DIR)).filter((name) => name.startsWith('recycled-'));
    expect(new Set(pool.map((name) => name.split('-')[2])).size, pool.join(' ')).toBeGreaterThanOrEqual(2);
    const { versions } = await recovered(fileSystem.crash('drop-unsynced'), hash, outcome.walStart);
    expect(versions).toEqual(outcome.acknowledged.filter((version) => version >= outcome.coveredBelow));
  });

  for (const [index, mode] of CRASH_MODES.entries()) {
    it(`${mode}: every acknowledged commit recovered, nothing invented, writes after`, async () => {
      const hash = await loadHash64();
      const counter = new FaultFileSystem(1);
      await runWorkload(counter, hash, 1_000_000);
      const operations = counter.operationCount;
      expect(operations).toBeGreaterThan(300);
      const failures: string[] = [];
      for (let crashAfter = 0; crashAfter <= operations && failures.length < 10; crashAfter++) {
        for (const problem of await crashAndCheck(hash, crashAfter, mode, 7000 * (index + 1) + crashAfter)) failures.push(`crash after ${crashAfter}: ${problem}`);
      }
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
