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
 */
import { resolve as resolvePath } from 'node:path';
import { CorruptionError } from '../errors.js';
import { loadHash64 } from '../codec/checksum.js';
import { storedFromEncoded } from '../codec/values.js';
import { OPERATION_PUT } from '../wal/wal-format.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import { readOnlyView } from '../fs/read-only-view.js';
import { listSegments } from '../wal/segment-files.js';
import { recoverWal, type TornTail } from '../wal/wal-recovery.js';
import { DirectoryLock } from './directory-lock.js';
import { Manifest } from '../manifest/manifest.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { BlockCache } from '../run/block-cache.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { RunReader } from '../run/run-reader.js';
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
    } catch (error) {
      if (!(error instanceof CorruptionError)) throw error;
      report.runs.problems.push({ file: error.file, offset: error.offset, reason: error.message });
    } finally {
      await reader?.close();
      cache.dropRun(descriptor.runId);
    }
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
  /** The manifest: where the WAL starts, what it found that an open would repair. */
  manifest: { walStartSegment: number; flushedVersion: number; runs: number; damagedCopies: number; truncatedTail: boolean } | undefined;
  /** Run files checked, their blocks and bytes, and every problem found (file, offset, reason). */
  runs: { files: number; blocks: number; bytes: number; problems: Array<{ file: string; offset: number; reason: string }> };
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
  const lock = await DirectoryLock.acquire(fileSystem, absolute);
  try {
    const total = (await listSegments(fileSystem, walDir)).length;
    let done = 0;
    const view = readOnlyView(fileSystem, () => options.onProgress?.(++done, total));
    const report: VerifyReport = {
      directory: absolute, ok: true, segments: total, records: 0, commits: 0, operations: 0, lastVersion: 0,
      tornTail: undefined, unfinishedSegments: [], corruption: undefined, manifest: undefined,
      runs: { files: 0, blocks: 0, bytes: 0, problems: [] },
    };
    const hash = await loadHash64();
    let walStartSegment = 1;
    try {
      if (await Manifest.exists(view, absolute)) {
        const inspected = await Manifest.inspect(view, absolute, hash);
        walStartSegment = inspected.state.walStartSegment;
        report.manifest = {
          walStartSegment, flushedVersion: inspected.state.flushedVersion, runs: inspected.state.runs.length,
          damagedCopies: inspected.damagedCopies, truncatedTail: inspected.recovery.truncatedTail,
        };
        await verifyRuns(view, joinPath(absolute, RUNS_DIRECTORY), inspected.state.runs, hash, report);
      }
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
    }
    if (report.runs.problems.length > 0) report.ok = false;
    return report;
  } finally {
    await lock.release();
  }
}
