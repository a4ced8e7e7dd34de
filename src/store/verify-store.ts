/**
 * verifyStore: checks every checksum of a closed store without changing a byte.
 *
 * Takes the directory lock (so no writer is mid-append), then runs the recovery
 * code over a read-only view of the file system: the manifest (both copies), every
 * block of every run it lists (checksums bound to the block's address), then each
 * WAL segment header and record from the manifest's WAL start
 * checked exactly as an open would check it, and every value is decoded once. The report says what an open would do
 * (zero a torn tail, remove an unfinished segment) and names any corruption with its
 * file and offset. Later issues add the block and parity checks here.
 *
 * A damaged WAL: the counts are those of the valid prefix repair would keep, and
 * `walRepairWouldDrop` says what `ladybug repair` (open with repair) would drop there,
 * the same report the repair gives once done: repair runs over a dry-run view of the
 * file system (src/fs/dry-run-view.ts), whose changes stay in memory. So an operator
 * sees, before repairing, that one damaged record costs every later commit.
 *
 * Each run whose blocks all check out also has its manifest descriptor's
 * reservedEntryCount recounted from the file (the entries under "\u0000ladybug/",
 * read through a cursor from the prefix on, so only the blocks that hold them): a
 * wrong count is a finding naming the run, because a descriptor saying 0 makes the
 * lease restart rule at open skip the run (runMayHoldRange, merged-scan.ts) and its
 * lease records would never expire. A descriptor without the field (written before
 * manifest format 3) says "unknown" and has nothing to check.
 */
import { resolve as resolvePath } from 'node:path';
import { asTypedError, CorruptionError } from '../errors.js';
import { loadHash64 } from '../codec/checksum.js';
import { storedFromEncoded } from '../codec/values.js';
import { OPERATION_PUT } from '../wal/wal-format.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { readOnlyView } from '../fs/read-only-view.js';
import { dryRunView } from '../fs/dry-run-view.js';
import { listSegments } from '../wal/segment-files.js';
import { type RepairReport, recoverWal, type TornTail } from '../wal/wal-recovery.js';
import { DirectoryLock } from './directory-lock.js';
import { Manifest } from '../manifest/manifest.js';
import { refuseRunsWithoutManifest, RUNS_DIRECTORY } from '../engine/open-engine.js';
import { BlockCache } from '../run/block-cache.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { RunReader } from '../run/run-reader.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import { isReservedKey, RESERVED_KEY_PREFIX } from '../lease/reserved-prefix.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';

/** Block cache for verify: it reads every block once, so a small one suffices. */
const VERIFY_CACHE_BYTES = 4 * 1024 * 1024;

/** Opens each run (footer, index, filter checked against the manifest) and checks every block. */
async function verifyRuns(fileSystem: FileSystem, runsDirectory: string, runs: readonly RunDescriptor[], hash: Hash64, report: VerifyReport): Promise<void> {
  const cache = new BlockCache(VERIFY_CACHE_BYTES);
  for (const descriptor of runs) {
    const file = joinPath(runsDirectory, descriptor.fileName);
    report.runs.files++;
    let reader: RunReader | undefined;
    try {
      reader = await RunReader.open(fileSystem, runsDirectory, descriptor, hash, cache, { repair: false }); // verify never writes (scrub repairs)
      const checked = await reader.verify();
      report.runs.blocks += checked.blocks;
      report.runs.bytes += checked.bytes;
      for (const problem of checked.problems) report.runs.problems.push({ file, ...problem });
      if (checked.problems.length === 0 && descriptor.reservedEntryCount !== undefined) {
        await checkReservedEntryCount(reader, descriptor, file, report);
      }
    } catch (error) {
      if (error instanceof CorruptionError) {
        report.runs.problems.push({ file: error.file, offset: error.offset, reason: error.message });
      } else if (isRepairableReadError(error)) {
        // A read that failed (EIO) opening the run or recounting its reserved entries: the run,
        // not the verify, fails; its message names the offset read. The runs after it are checked.
        report.runs.problems.push({ file, offset: 0, reason: `run ${descriptor.runId}: ${reader === undefined ? 'opening' : 'checking'} the run failed: ${(error as Error).message}` });
      } else {
        throw error;
      }
    } finally {
      await reader?.close();
      cache.dropRun(descriptor.runId);
    }
  }
}

/**
 * Entries (versions and tombstones) of the run under RESERVED_KEY_PREFIX, read from
 * the file. The prefix's keys are one contiguous interval, so the cursor starts at
 * the prefix and stops at the first key past it. Bounded by the run's entryCount.
 */
export async function countReservedEntries(reader: RunReader, descriptor: RunDescriptor): Promise<number> {
  const cursor = await reader.cursor({ gte: RESERVED_KEY_PREFIX }, false, { fillCache: false });
  let count = 0;
  try {
    while (cursor.current !== undefined && isReservedKey(cursor.current.key)) {
      count++;
      assert(count <= descriptor.entryCount, 'a run holds at most entryCount entries');
      const pending = cursor.advance();
      if (pending !== undefined) await pending;
    }
  } finally {
    cursor.close();
  }
  return count;
}

/** Recounts the run's reserved entries; a count that differs from its descriptor's is a finding. */
async function checkReservedEntryCount(reader: RunReader, descriptor: RunDescriptor, file: string, report: VerifyReport): Promise<void> {
  const recorded = descriptor.reservedEntryCount;
  assert(recorded !== undefined, 'only counted descriptors are checked');
  const counted = await countReservedEntries(reader, descriptor);
  report.runs.reservedCountsChecked++;
  if (counted === recorded) return;
  report.runs.reservedCountMismatches.push({ file, runId: descriptor.runId, recorded, counted });
  report.runs.problems.push({
    file, offset: 0,
    reason: `run ${descriptor.runId}: the manifest says reservedEntryCount ${recorded}, the file holds ${counted} entries under the reserved prefix`
      + ' (a wrong 0 hides lease records from the lease restart rule at open; ladybug repair rewrites the runs)',
  });
}

/** A run whose descriptor's reservedEntryCount differs from the entries its file holds under the prefix. */
export interface ReservedCountMismatch {
  file: string;
  runId: number;
  recorded: number;
  counted: number;
}

/**
 * The store's directory lock, as openStore takes it. A file-system failure (EACCES on a
 * store this user cannot write: the lock is a file it creates) is an IoError with its
 * errno, as at open, not the raw error without a code.
 */
async function acquireLock(fileSystem: FileSystem, absolute: string): Promise<DirectoryLock> {
  try {
    return await DirectoryLock.acquire(fileSystem, absolute);
  } catch (error) {
    throw asTypedError(error, `verify ${absolute}`);
  }
}

/**
 * Recounts the reserved entries of every counted run of a closed store (under its
 * directory lock, reading only: the manifest and the prefix's blocks of each run) and
 * lists the runs whose descriptor says otherwise. A run that cannot be read (damage:
 * verify and scrub report it) is left out of `checked`.
 */
export async function checkReservedEntryCounts(directory: string, options: { fileSystem?: FileSystem } = {}): Promise<{ checked: number; mismatches: ReservedCountMismatch[] }> {
  const absolute = resolvePath(directory);
  const fileSystem = options.fileSystem ?? new NodeFileSystem();
  const lock = await acquireLock(fileSystem, absolute);
  try {
    const view = readOnlyView(fileSystem);
    const result = { checked: 0, mismatches: [] as ReservedCountMismatch[] };
    if (!(await Manifest.exists(view, absolute))) return result;
    const hash = await loadHash64();
    const runsDirectory = joinPath(absolute, RUNS_DIRECTORY);
    const cache = new BlockCache(VERIFY_CACHE_BYTES);
    for (const descriptor of (await Manifest.inspect(view, absolute, hash)).state.runs) {
      if (descriptor.reservedEntryCount === undefined) continue;
      let reader: RunReader | undefined;
      try {
        reader = await RunReader.open(view, runsDirectory, descriptor, hash, cache, { repair: false });
        const counted = await countReservedEntries(reader, descriptor);
        result.checked++;
        if (counted !== descriptor.reservedEntryCount) {
          result.mismatches.push({ file: joinPath(runsDirectory, descriptor.fileName), runId: descriptor.runId, recorded: descriptor.reservedEntryCount, counted });
        }
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
      } finally {
        await reader?.close();
        cache.dropRun(descriptor.runId);
      }
    }
    return result;
  } finally {
    await lock.release();
  }
}

import { WAL_DIRECTORY } from './open-store.js';

export interface VerifyReport {
  directory: string;
  ok: boolean;
  segments: number;
  records: number;
  commits: number;
  operations: number;
  lastVersion: number;
  /** A torn tail an open would zero (normal after a crash, not corruption). */
  tornTail: TornTail | undefined;
  /** Unfinished segments an open would remove (normal after a crash). */
  unfinishedSegments: string[];
  corruption: { file: string; offset: number; reason: string } | undefined;
  /**
   * With WAL corruption: what an open with repair (`ladybug repair`) would drop, the
   * records, commits, versions and segments after the damage, as its report would say.
   * Undefined when the WAL is intact, or when the damage is where repair refuses too.
   */
  walRepairWouldDrop: RepairReport | undefined;
  /**
   * The manifest: where the WAL starts, what it found that an open would repair
   * (`damagedCopies`), and `problems`: the part of that no crash explains (a copy
   * unreadable, or bad at a record the chain goes on past), which makes `ok` false.
   */
  manifest: {
    walStartSegment: number; flushedVersion: number; runs: number; damagedCopies: number; truncatedTail: boolean; problems: string[];
  } | undefined;
  /** Run files checked, their blocks and bytes, and every problem found (file, offset, reason). */
  runs: {
    files: number; blocks: number; bytes: number; problems: Array<{ file: string; offset: number; reason: string }>;
    /** Runs whose descriptor carries reservedEntryCount and whose file was recounted (every block checked out). */
    reservedCountsChecked: number;
    /** Runs whose recount differs from the manifest's reservedEntryCount (each also listed in `problems`). */
    reservedCountMismatches: ReservedCountMismatch[];
  };
}

export interface VerifyOptions {
  fileSystem?: FileSystem;
  /** Called with (segments read so far, total segments). */
  onProgress?: (done: number, total: number) => void;
}

export async function verifyStore(directory: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const absolute = resolvePath(directory);
  const fileSystem = options.fileSystem ?? new NodeFileSystem();
  const walDir = joinPath(absolute, WAL_DIRECTORY);
  const lock = await acquireLock(fileSystem, absolute);
  try {
    // A store whose wal/ was removed (openStore refuses it: refuseManifestWithoutWal) is a finding, not an ENOENT.
    const walPresent = await fileSystem.exists(walDir);
    const total = walPresent ? (await listSegments(fileSystem, walDir)).length : 0;
    let done = 0;
    const view = readOnlyView(fileSystem, () => options.onProgress?.(++done, total));
    const report: VerifyReport = {
      directory: absolute, ok: true, segments: total, records: 0, commits: 0, operations: 0, lastVersion: 0,
      tornTail: undefined, unfinishedSegments: [], corruption: undefined, walRepairWouldDrop: undefined, manifest: undefined,
      runs: { files: 0, blocks: 0, bytes: 0, problems: [], reservedCountsChecked: 0, reservedCountMismatches: [] },
    };
    const hash = await loadHash64();
    let walStartSegment = 1;
    /** Set once the manifest and runs are checked: a CorruptionError from then on is the WAL's. */
    let readingWal = false;
    try {
      if (await Manifest.exists(view, absolute)) {
        const inspected = await Manifest.inspect(view, absolute, hash);
        walStartSegment = inspected.state.walStartSegment;
        report.manifest = {
          walStartSegment, flushedVersion: inspected.state.flushedVersion, runs: inspected.state.runs.length,
          damagedCopies: inspected.damagedCopies, truncatedTail: inspected.recovery.truncatedTail, problems: inspected.unexplainedDamage,
        };
        await verifyRuns(view, joinPath(absolute, RUNS_DIRECTORY), inspected.state.runs, hash, report);
      } else if (await view.exists(joinPath(absolute, RUNS_DIRECTORY))) {
        // Run files and no manifest copy: the open refuses the store (its CorruptionError, here a finding), not a store that never flushed.
        await refuseRunsWithoutManifest(view, absolute, joinPath(absolute, RUNS_DIRECTORY));
      }
      if (!walPresent) throw new CorruptionError(walDir, 0, 'the WAL directory is missing: any commit it held after the last flush is lost (restore from a backup)');
      readingWal = true;
      const result = await recoverWal(view, walDir, hash, false, (commits) => {
        for (const commit of commits) {
          for (const operation of commit.operations) {
            if (operation.type === OPERATION_PUT) storedFromEncoded(operation.value);
            report.operations++;
          }
        }
      }, { expectedFirstSegment: walStartSegment });
      await result.resume?.handle.close();
      Object.assign(report, {
        records: result.records, commits: result.commits, lastVersion: result.lastVersion,
        tornTail: result.tornTail, unfinishedSegments: result.removedSegments,
      });
    } catch (error) {
      if (!(error instanceof CorruptionError)) throw error;
      report.ok = false;
      report.corruption = { file: error.file, offset: error.offset, reason: error.message };
      const preview = readingWal ? await walRepairPreview(fileSystem, walDir, hash, walStartSegment) : undefined;
      if (preview !== undefined) Object.assign(report, preview);
    }
    if (report.runs.problems.length > 0 || (report.manifest?.problems.length ?? 0) > 0) report.ok = false;
    return report;
  } catch (error) {
    // A file-system failure (wal/ or runs/ a file: ENOTDIR) is an IoError with its errno, as the open's, not the raw error.
    throw asTypedError(error, `verify ${absolute}`);
  } finally {
    await lock.release();
  }
}

/**
 * What repair would drop from the WAL (recoverWal with repair over a dry-run view: the
 * disk is not changed), and the records, commits and last version it would keep (the
 * valid prefix: the version marker repair writes is not one of them). Undefined when
 * repair refuses as well (a missing first segment, a record that fails to apply).
 */
async function walRepairPreview(
  fileSystem: FileSystem, walDir: string, hash: Hash64, walStartSegment: number,
): Promise<Pick<VerifyReport, 'records' | 'commits' | 'lastVersion' | 'walRepairWouldDrop'> | undefined> {
  try {
    const result = await recoverWal(dryRunView(fileSystem), walDir, hash, true, () => undefined, { expectedFirstSegment: walStartSegment });
    await result.resume?.handle.close();
    const dropped = result.repair?.droppedVersions;
    const marker = dropped === undefined ? 0 : 1;
    return {
      records: result.records - marker, commits: result.commits - marker,
      lastVersion: dropped === undefined ? result.lastVersion : dropped.first - 1, walRepairWouldDrop: result.repair,
    };
  } catch (error) {
    if (error instanceof CorruptionError) return undefined;
    throw error;
  }
}
