/**
 * Review of the WAL zero fill ahead (9ada270, 9e2c842, 0951254): a store reopened after a
 * crash resumes in a segment whose bytes past the resume offset are not known filled: a
 * torn record there (its sectors partly on disk), and a hole past the part filled before
 * the crash. Records larger than a fill step (WAL_ZERO_FILL_STEP_BYTES) are filled in
 * the foreground, across the boundary of the 4 MiB filled at creation.
 *
 * Checked: a first life crashed at every operation (its last write torn), a second life
 * resumed there writing large records, crashed at every operation in every mode; each
 * recovery holds exactly an ordered sequence containing every acknowledged commit.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WAL_ZERO_FILL_STEP_BYTES } from '../src/limits.js';
import { createSegment } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, type Hash64, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const SEGMENT_BYTES = 16 * MEBIBYTE;
/** Larger than a fill step: each such record past the filled part is filled in the foreground. */
const LARGE_VALUE_BYTES = WAL_ZERO_FILL_STEP_BYTES + 200 * KIBIBYTE;
const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number, valueBytes: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

interface Life {
  acknowledged: number[];
  attempted: number[];
}

/** Writes `versions` (large, one small between each two) until done or crashed; no close. */
async function live(writer: WalWriter, versions: readonly number[], life: Life): Promise<void> {
  try {
    for (const version of versions) {
      life.attempted.push(version);
      await writer.writeGroup([commitOf(version, version % 2 === 0 ? LARGE_VALUE_BYTES : 4 * KIBIBYTE)]);
      life.acknowledged.push(version);
    }
  } catch {
    // A simulated crash: the life ends here.
  }
  await new Promise((resolve) => setImmediate(resolve));
}

async function recover(fileSystem: FaultFileSystem, hash: Hash64) {
  const versions: number[] = [];
  const result = await recoverWal(fileSystem, WAL_DIR, hash, false, (commits) => {
    for (const commit of commits) versions.push(commit.version);
  });
  return { versions, result };
}

function problemsOf(versions: readonly number[], life: Life): string[] {
  const problems: string[] = [];
  for (const version of life.acknowledged) if (!versions.includes(version)) problems.push(`acknowledged ${version} lost`);
  for (const version of versions) if (!life.attempted.includes(version)) problems.push(`${version} never written`);
  for (let index = 1; index < versions.length; index++) if (versions[index]! <= versions[index - 1]!) problems.push(`order broken at ${versions[index]}`);
  return problems;
}

/** First life on a fresh 16 MiB segment (4 MiB filled at creation), crashed after `crashAfter` operations in torn-last-write mode. */
async function firstLife(hash: Hash64, crashAfter: number, seed: number) {
  const fileSystem = new FaultFileSystem(seed);
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });
  fileSystem.crashAfterOperations(crashAfter);
  const life: Life = { acknowledged: [], attempted: [] };
  await live(writer, [1, 2, 3, 4, 5, 6, 7, 8], life);
  return { rebooted: fileSystem.crash('torn-last-write'), life };
}

/** Returns the problems found, and whether the second life wrote all its commits before its crash point. */
async function secondLife(hash: Hash64, rebooted: FaultFileSystem, firstLifeOutcome: Life, crashAfter: number | undefined, mode: CrashMode) {
  const { versions, result } = await recover(rebooted, hash);
  const problems = problemsOf(versions, firstLifeOutcome);
  if (result.resume === undefined) return { problems: [...problems, 'nothing to resume in'], completed: true };
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, result.resume);
  if (crashAfter !== undefined) rebooted.crashAfterOperations(crashAfter);
  const life: Life = { acknowledged: [...versions], attempted: [...versions] };
  const next = result.lastVersion + 1;
  await live(writer, Array.from({ length: 8 }, (_, index) => next + index), life);
  if (crashAfter === undefined) await writer.close();
  const final = await recover(rebooted.crash(mode), hash);
  return {
    problems: [...problems, ...problemsOf(final.versions, life).map((problem) => `second life: ${problem}`)],
    completed: life.acknowledged.length === versions.length + 8,
  };
}

async function operationsOfFirstLife(hash: Hash64): Promise<number> {
  for (let crashAfter = 1; ; crashAfter++) {
    const { life } = await firstLife(hash, crashAfter, 1);
    if (life.acknowledged.length === 8) return crashAfter;
  }
}

describe('a reopen over a torn record and a hole past the filled part', () => {
  it('every crash point of a first life with large records, then a second life, recovers every acknowledged commit', async () => {
    const hash = await loadHash64();
    const firstLifeOperations = await operationsOfFirstLife(hash);
    expect(firstLifeOperations).toBeGreaterThan(10);
    const problems: string[] = [];
    for (let crashAfter = 1; crashAfter <= firstLifeOperations; crashAfter++) {
      const { rebooted, life } = await firstLife(hash, crashAfter, crashAfter);
      for (const problem of (await secondLife(hash, rebooted, life, undefined, 'random-subset')).problems) problems.push(`first crash ${crashAfter}: ${problem}`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('a second life resumed after a torn large record, crashed at every operation in every mode', async () => {
    const hash = await loadHash64();
    const firstLifeOperations = await operationsOfFirstLife(hash);
    // Crash the first life on its last operation but a few: inside the large records' writes.
    const firstCrash = firstLifeOperations - 3;
    const problems: string[] = [];
    let secondLifeCompleted = false;
    for (let crashAfter = 1; !secondLifeCompleted && crashAfter < 200; crashAfter++) {
      for (const mode of CRASH_MODES) {
        const { rebooted, life } = await firstLife(hash, firstCrash, 7);
        const outcome = await secondLife(hash, rebooted, life, crashAfter, mode);
        for (const problem of outcome.problems) problems.push(`second crash ${crashAfter} ${mode}: ${problem}`);
        // The sweep ends once the second life's crash point lies past all its operations.
        if (outcome.completed) secondLifeCompleted = true;
      }
    }
    expect(secondLifeCompleted).toBe(true);
    expect(problems).toEqual([]);
  }, 240_000);
});
