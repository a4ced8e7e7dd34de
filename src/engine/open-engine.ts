/**
 * Opening the storage side of a store: the manifest and the run directory, before
 * the WAL is replayed.
 *
 *   mkdir runs/ (+ fsync the store directory)
 *   -> manifest: open it, or create it (a new store, or a store written by release
 *      0.1, which had only a WAL starting at segment 1: upgraded in place)
 *   -> remove orphans: run files the manifest does not list (a flush that crashed
 *      before its manifest edit), temporary files, and WAL segments below the
 *      manifest's WAL start (a checkpoint that crashed while deleting them)
 *   -> the read of the WAL's first segment started (recovery's first wait), with
 *      wal/'s listing handed on: nothing creates or removes a segment at or above the
 *      start until recovery ends
 *
 * What it returns tells recovery where the WAL starts and which versions the runs
 * already hold (replay skips them).
 */
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import { unlinkUnlessDirectory } from '../fs/remove-own-file.js';
import { CorruptionError } from '../errors.js';
import { Manifest } from '../manifest/manifest.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import type { Hash64 } from '../wal/wal-format.js';
import { listSegments, removeSegmentsBelow } from '../wal/segment-files.js';
import { readSegment, type SegmentImage } from '../wal/wal-scan.js';

export const RUNS_DIRECTORY = 'runs';
/** A run file's name (runFileName in src/run/run-format.ts: ten digits or more), not its temporary. */
const RUN_FILE_NAME = /^\d{10,}\.run$/;
/**
 * What the store itself writes into runs/: a run file, or one under its temporary name
 * (RUN_TEMPORARY_SUFFIX in src/run/run-writer.ts), named by runFileName (src/run/run-format.ts):
 * the run id padded to ten digits, so more digits only from 10^10 on, never with a leading
 * zero. Only such names can be orphans; any other name (a user's file, `00000000017.run`, a
 * directory under a run's name: unlinkUnlessDirectory) is not the store's to delete.
 */
const STORE_RUN_NAME = /^(?:\d{10}|[1-9]\d{10,})\.run(?:\.tmp)?$/;

export interface OpenedStorage {
  manifest: Manifest;
  runsDirectory: string;
  /**
   * Files removed because no durable state refers to them: WAL segments below the
   * start, and the orphan runs unless their removal was left running (`runOrphans`).
   */
  removedOrphans: string[];
  /**
   * With `deferRunOrphans`: the removal of the orphan runs, still running (it never
   * rejects; `failure` is its error); the caller awaits it before anything writes a
   * run file and before the open returns or fails. Settled otherwise.
   */
  runOrphans: Promise<{ removed: string[]; failure: { error: unknown } | undefined }>;
  /** True when the store had no manifest (new, or written by release 0.1). */
  createdManifest: boolean;
  /** The numbers of wal/'s segments at or above the manifest's WAL start (listSegments, listed once at open). */
  walSegments: number[];
  /**
   * The read of the segment the manifest's WAL start names, started as soon as the
   * manifest was read (undefined when the listing holds no such segment: recovery
   * reports it). Recovery takes it; the caller settles it on any failure before that.
   */
  firstSegmentRead: Promise<SegmentImage> | undefined;
}

export interface OpenStorageOptions {
  /**
   * Leave the orphan runs' removal running when this returns (the open replays the WAL
   * meanwhile). The unlinks and the runs/ directory's fsync after a kill (a flush's
   * temporary file is the usual orphan) took 26-98 ms of a killed 1M-key store's open
   * on a busy machine, before the replay could start (issue 7). Nothing replay does
   * touches runs/, and a run is written only after the open returns.
   */
  deferRunOrphans?: boolean;
}

export async function openStorage(fileSystem: FileSystem, directory: string, walDirectory: string, hash: Hash64, options: OpenStorageOptions = {}): Promise<OpenedStorage> {
  const runsDirectory = joinPath(directory, RUNS_DIRECTORY);
  // Independent look-ups, concurrently (each a thread-pool round trip: issue 7's killed reopen).
  // The manifest directory is listed once: Manifest.open reads the copies these names list.
  // wal/ is listed once too: the removal below the start and recovery take these numbers
  // (each listed it again, in turn, on the open's path).
  const [runsExist, manifestNames, segmentNumbers] = await settledAll([
    fileSystem.exists(runsDirectory), Manifest.list(fileSystem, directory), listSegments(fileSystem, walDirectory),
  ] as const);
  const manifestExists = Manifest.listed(manifestNames);
  if (!runsExist) {
    await fileSystem.mkdir(runsDirectory);
    await fileSystem.syncDirectory(directory);
  }
  if (!manifestExists && runsExist) await refuseRunsWithoutManifest(fileSystem, directory, runsDirectory);
  const createdManifest = !manifestExists;
  // A store without a manifest is new or was written by release 0.1: its log starts at segment 1.
  const manifest = await Manifest.open(fileSystem, directory, hash, {
    create: createdManifest,
    names: manifestNames,
    // reservedEntryCounts: a new store's runs carry their reserved entry count from the first flush (manifest format 3).
    initial: { walStartSegment: 1, flushedVersion: 0, versionHighWater: 0, nextRunId: 1, runs: [], reservedEntryCounts: true },
  });
  // Two directories, nothing in common: concurrently.
  const runOrphans = removeOrphanRuns(fileSystem, runsDirectory, manifest).then(
    (removed) => ({ removed, failure: undefined }),
    (error: unknown) => ({ removed: [], failure: { error } }),
  );
  // The removal below touches only segments below the start: the first one's read need
  // not wait for it (it was 2.6-4.6 ms the replay waited for, after all of this).
  const walStart = manifest.state.walStartSegment;
  const walSegments = segmentNumbers.filter((number) => number >= walStart);
  const firstSegmentRead = walSegments[0] === walStart ? readSegment(fileSystem, walDirectory, walStart) : undefined;
  firstSegmentRead?.catch(() => undefined); // observed by recovery, or by the failed open's settling
  try {
    const segmentsBelow = await removeSegmentsBelow(fileSystem, walDirectory, walStart, segmentNumbers);
    const opened = { manifest, runsDirectory, runOrphans, createdManifest, walSegments, firstSegmentRead };
    if (options.deferRunOrphans === true) return { ...opened, removedOrphans: segmentsBelow };
    const runs = await runOrphans;
    if (runs.failure !== undefined) throw runs.failure.error;
    return { ...opened, removedOrphans: [...runs.removed, ...segmentsBelow] };
  } catch (error) {
    await runOrphans; // no removal outlives a failed open
    await firstSegmentRead?.catch(() => undefined); // nor a read
    await manifest.close({ compactChain: false }).catch(() => undefined);
    throw error;
  }
}

/**
 * Run files with no manifest copy: both copies lost (a store never has a run before its
 * manifest: the manifest is made durable at the open that precedes every flush). Opening
 * it as a release-0.1 store would start the log at segment 1, which a checkpoint deleted
 * long ago, and fail naming that segment; the loss is the manifest's, so name it.
 */
export async function refuseRunsWithoutManifest(fileSystem: FileSystem, directory: string, runsDirectory: string): Promise<void> {
  const runFiles = (await fileSystem.readdir(runsDirectory)).filter((name) => RUN_FILE_NAME.test(name));
  if (runFiles.length === 0) return;
  throw new CorruptionError(joinPath(directory, MANIFEST_DIRECTORY_NAME), 0,
    `no manifest copy can be read, while runs/ holds ${runFiles.length} run files: the list of live runs and the WAL's start are lost (restore from a backup)`);
}

/** Every result once all settled (no operation outlives a failure); the first failure is thrown. */
async function settledAll<const Promises extends readonly Promise<unknown>[]>(promises: Promises): Promise<{ -readonly [Index in keyof Promises]: Awaited<Promises[Index]> }> {
  const outcomes = await Promise.allSettled(promises);
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as { -readonly [Index in keyof Promises]: Awaited<Promises[Index]> };
}

/** Moves the run-id counter past the id `name` (a run's name or its temporary's) holds. */
function raiseRunIdPast(manifest: Manifest, name: string): void {
  const runId = Number(name.slice(0, name.indexOf('.')));
  if (Number.isSafeInteger(runId + 1)) manifest.raiseNextRunId(runId + 1);
}

async function removeOrphanRuns(fileSystem: FileSystem, runsDirectory: string, manifest: Manifest): Promise<string[]> {
  const live = new Set(manifest.state.runs.map((run) => run.fileName));
  const candidates = (await fileSystem.readdir(runsDirectory)).filter((name) => STORE_RUN_NAME.test(name) && !live.has(name));
  const orphans: string[] = [];
  for (const name of candidates) {
    if (await unlinkUnlessDirectory(fileSystem, joinPath(runsDirectory, name))) orphans.push(name);
    else raiseRunIdPast(manifest, name); // a directory or fifo left there: no flush may take its name
  }
  if (orphans.length > 0) await fileSystem.syncDirectory(runsDirectory);
  return orphans.map((name) => joinPath(runsDirectory, name));
}
