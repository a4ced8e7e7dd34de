/**
 * The WAL writer workload of test/wal-rotation-crash-sweep.test.ts and
 * test/wal-rotation-faults.test.ts: rate-sized cuts taking the segment prepared ahead,
 * a cut removing a larger prepared one, an outsized commit after an outrun segment, a
 * checkpoint's rotation, compact()'s release, a close with a preparation in flight; the
 * segments below each recorded WAL start removed beside the writes (a flush's removal).
 * And the check after a crash: recovery from the recorded start, then writes on.
 */
import { DiskFullError } from '../src/errors.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { SEGMENT_BYTES_INITIAL } from '../src/limits.js';
import { createSegment, listSegments, removeSegmentsBelow } from '../src/wal/segment-files.js';
import {
  COMMIT_HEADER_BYTES,
  type EncodableOperation,
  type FramedCommit,
  type Hash64,
  OPERATION_PUT,
  operationsSizeBytes,
  SEGMENT_HEADER_BYTES,
} from '../src/wal/wal-format.js';
import { recoveredVersions } from './support/wal-recovered.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
export const WAL_DIR = '/wal';
/** segmentSizeBytes: cuts of about 180 KiB of log make 256 KiB segments; a 300 KB commit fits. */
const SEGMENT_BYTES_CAP = 512 * KIBIBYTE;
export const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'];

function commitOf(version: number, valueBytes: number): FramedCommit {
  // Sizes vary so records of different uses of a recycled file overlap at different offsets.
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(valueBytes + (version % 13) * 7).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) } as FramedCommit;
}

export async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

export interface Outcome {
  acknowledged: number[];
  attempted: number[];
  /** The WAL start last recorded (a flush's or checkpoint's manifest edit), and the first version after it. */
  walStart: number;
  coveredBelow: number;
  /** What the uncrashed run did (the paths the sweep reaches). */
  cutsTakingPrepared: number;
  rotationWaits: number;
  segmentsRecycled: number;
  released: number;
  /** The first error of the workload's writer calls, and of its removals (which run beside them). */
  error: unknown;
  removalError: unknown;
  /** After an error other than a full disk: whether one more record was written or refused, and its version. */
  writeAfterFailure: 'written' | 'refused' | undefined;
  probeVersion: number | undefined;
}

class Workload {
  version = 0;
  /** The segments below the recorded start, being removed beside the writes (one removal at a time, as flushes). */
  removal: Promise<unknown> = Promise.resolve();

  constructor(readonly fileSystem: FileSystem, readonly writer: WalWriter, readonly outcome: Outcome) {}

  async group(commits: number, valueBytes: number, mayBlock = false): Promise<void> {
    let pending = Array.from({ length: commits }, () => commitOf(++this.version, valueBytes));
    for (const commit of pending) this.outcome.attempted.push(commit.version);
    while (pending.length > 0) {
      const { commitCount } = await this.writer.writeGroup(pending, undefined, mayBlock);
      for (const commit of pending.slice(0, commitCount)) this.outcome.acknowledged.push(commit.version);
      pending = pending.slice(commitCount);
    }
  }

  /** Writes about `logBytes` of log in groups of `commits` commits of `valueBytes`, a turn now and then. */
  async log(logBytes: number, commits: number, valueBytes: number, turnEvery = 3): Promise<void> {
    const start = this.writer.bytesWritten;
    for (let group = 1; this.writer.bytesWritten - start < logBytes; group++) {
      await this.group(commits, valueBytes, group % 2 === 0);
      if (group % turnEvery === 0) await turns(2);
    }
  }

  /** The new WAL start is recorded (durable, as the manifest's), then the segments below it go while writing goes on. */
  async recordStart(): Promise<void> {
    await this.removal;
    this.outcome.walStart = this.writer.segmentNumber;
    this.outcome.coveredBelow = this.version + 1;
    const removal = removeSegmentsBelow(this.fileSystem, WAL_DIR, this.outcome.walStart);
    this.removal = removal.catch((error: unknown) => {
      this.outcome.removalError ??= error;
    });
  }

  /** A seal's cut as the commit path makes it. */
  async cut(): Promise<void> {
    const prepared = this.writer.stats().segmentsCreated;
    this.writer.cutAtNextRecord();
    await this.writer.rotateAtCut();
    if (this.writer.stats().segmentsCreated === prepared) this.outcome.cutsTakingPrepared++;
    await this.recordStart();
  }
}

export interface WorkloadOptions {
  /** Called once the first segment exists (a fault injected from there on). */
  arm?: () => void;
  /** compact()'s release right before the close, so no preparation is left for close to drop. */
  releaseBeforeClose?: boolean;
  /**
   * After an error other than a full disk, try one more record (writeAfterFailure). Only
   * where no record's own write or datasync can have failed: the commit path never writes
   * after those (it fails the store), and a record after a failed datasync's lost one
   * would read as damage.
   */
  probeAfterFailure?: boolean;
}

/** Runs the workload on `fileSystem`, crashed after `crashAfter` operations once its first segment exists. */
export async function runWorkload(fileSystem: FaultFileSystem, hash: Hash64, crashAfter: number | undefined, options: WorkloadOptions = {}): Promise<Outcome> {
  await fileSystem.mkdir(WAL_DIR);
  await fileSystem.syncDirectory('/');
  const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES_INITIAL, hash);
  const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, { ...first, offset: SEGMENT_HEADER_BYTES });
  const outcome: Outcome = {
    acknowledged: [], attempted: [], walStart: 1, coveredBelow: 1, cutsTakingPrepared: 0, rotationWaits: 0, segmentsRecycled: 0, released: 0, error: undefined, removalError: undefined,
    writeAfterFailure: undefined, probeVersion: undefined,
  };
  const work = new Workload(fileSystem, writer, outcome);
  if (crashAfter !== undefined) fileSystem.crashAfterOperations(crashAfter);
  options.arm?.();
  try {
    // Memtables of about 180 KiB of log: the first grows 64, 128 KiB segments, its cut makes a 256 KiB one
    // sized by the rate, whose next is prepared at once and taken by the next cut (ready, or still being made).
    await work.log(180 * KIBIBYTE, 8, 4 * KIBIBYTE);
    await work.cut();
    await work.log(180 * KIBIBYTE, 8, 4 * KIBIBYTE);
    await turns(3);
    await work.cut();
    await work.log(180 * KIBIBYTE, 4, 6 * KIBIBYTE, 100);
    await work.cut();
    // The rate falls: the prepared 256 KiB segment is larger than this cut wants, and removed.
    await work.log(30 * KIBIBYTE, 2, 3 * KIBIBYTE);
    await turns(3);
    await work.cut();
    // Past half of the 64 KiB segment in one record (its next, 128 KiB, prepared), then a commit larger than
    // that and than the one begun at the rotation to it (256 KiB before the fix: the store failed).
    await work.group(1, 40 * KIBIBYTE);
    await turns(3);
    await work.group(1, 300 * KIBIBYTE);
    await work.group(6, 2 * KIBIBYTE);
    // A checkpoint's small rotation, the segments below removed beside the writes after it.
    if (await writer.rotateForCheckpoint()) await work.recordStart();
    await work.log(40 * KIBIBYTE, 2, 5 * KIBIBYTE);
    // compact()'s release: the prepared segment and the pool removed, the directory fsynced.
    await work.removal;
    outcome.released = (await writer.releaseSpareSegments()).files;
    await work.log(100 * KIBIBYTE, 4, 4 * KIBIBYTE);
    await work.cut();
    // Records outrunning the growth: a preparation begun at the rotation, in flight at close.
    await work.group(8, 4 * KIBIBYTE);
    await work.group(12, 4 * KIBIBYTE);
    outcome.rotationWaits = writer.stats().rotationWaits;
    outcome.segmentsRecycled = writer.stats().segmentsRecycled;
    await work.removal;
    if (options.releaseBeforeClose === true) await writer.releaseSpareSegments();
    await writer.close();
  } catch (error) {
    outcome.error = error;
    if (options.probeAfterFailure === true && !(error instanceof DiskFullError)) {
      outcome.attempted.push(++work.version);
      outcome.probeVersion = work.version;
      outcome.writeAfterFailure = await writer.writeGroup([commitOf(work.version, 100)]).then(() => 'written' as const, () => 'refused' as const);
    }
  }
  await work.removal;
  await turns(5);
  return outcome;
}

function recovered(fileSystem: FileSystem, hash: Hash64, walStart: number) {
  return recoveredVersions(fileSystem, WAL_DIR, hash, walStart);
}

export async function checkRecovery(rebooted: FaultFileSystem, hash: Hash64, outcome: Outcome): Promise<string[]> {
  let recovery;
  try {
    recovery = await recovered(rebooted, hash, outcome.walStart);
  } catch (error) {
    return [`recovery failed: ${String(error)}`];
  }
  const { versions, result } = recovery;
  const problems: string[] = [];
  const seen = new Set(versions);
  const attempted = new Set(outcome.attempted);
  for (const version of outcome.acknowledged) if (version >= outcome.coveredBelow && !seen.has(version)) problems.push(`acknowledged version ${version} lost`);
  for (const version of versions) if (!attempted.has(version)) problems.push(`version ${version} recovered, never written`);
  // The probe after a failure may follow a gap (the failed group's versions, refused), as a refused commit leaves one.
  const logged = versions.filter((version) => version !== outcome.probeVersion);
  if (logged.some((version, index) => index > 0 && version !== logged[index - 1]! + 1)) problems.push(`versions not contiguous: ${versions.join(',')}`);
  if (versions.includes(outcome.probeVersion ?? 0) && versions.at(-1) !== outcome.probeVersion) problems.push(`the probe ${outcome.probeVersion} is not last: ${versions.join(',')}`);
  if (result.resume === undefined) return [...problems, 'no segment to resume in'];
  const later = (await listSegments(rebooted, WAL_DIR)).filter((number) => number > result.resume!.segmentNumber);
  if (later.length > 0) problems.push(`segments ${later.join(',')} left past the one writing resumes in (${result.resume.segmentNumber})`);
  let next = Math.max(result.lastVersion, ...outcome.attempted) + 1;
  const written: number[] = [];
  const writer = new WalWriter({ fileSystem: rebooted, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES_CAP }, result.resume);
  try {
    // Larger than a 64 KiB segment, then enough to rotate again: new segment numbers after the resumed one.
    for (const valueBytes of [70 * KIBIBYTE, 30 * KIBIBYTE, 30 * KIBIBYTE, 30 * KIBIBYTE, 100 * KIBIBYTE]) {
      await writer.writeGroup([commitOf(next, valueBytes)]);
      written.push(next++);
    }
    await writer.close();
    const again = await recovered(rebooted.crash('drop-unsynced'), hash, outcome.walStart);
    if (again.versions.slice(-written.length).join(',') !== written.join(',')) problems.push(`the writes after recovery are lost (recovered ${again.versions.slice(-8).join(',')})`);
  } catch (error) {
    problems.push(`writing after recovery failed: ${String(error)}`);
  }
  return problems;
}
