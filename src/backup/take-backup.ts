/**
 * Online backup: a consistent copy of a store as of one version, taken while
 * commits continue.
 *
 *   target not the store directory, not inside it (by its path or on disk through a
 *   symbolic link), not holding it (else InvalidOptionError 'targetDirectory' naming
 *   both, nested-paths.ts)
 *   target empty or missing (else BackupError 'target-not-empty')
 *   -> mkdir target, then BACKUP-INCOMPLETE in it (durably: a kill leaves a directory that
 *      says so), target/runs, target/wal, target/manifest (each parent fsynced);
 *      from here a failure removes what the backup made (backup-undo.ts) and rethrows
 *   -> checkpoint: every commit acknowledged so far goes into runs
 *   -> take the manifest state in one synchronous step: its runs hold exactly the
 *      commits at or below its flushedVersion (the backup version)
 *   -> hard-link each run file (immutable) into target/runs, or copy it on another
 *      file system; fsync target/runs
 *   -> write a fresh manifest in target naming those runs, WAL starting at segment 1
 *      (the backup's WAL is empty: the runs hold everything up to the version), and
 *      the state's retention floor (reads below it stay refused after a restore)
 *   -> BACKUP.json (checksums of every file) last: temporary file, datasync, rename,
 *      directory fsync. Only then is it a backup; BACKUP-INCOMPLETE is then removed.
 *
 * Invariants
 * - REQUIRES: the caller holds the store.lifecycle lock (no checkpoint, compact() or
 *   close runs meanwhile). Background compaction may still replace runs: a run file
 *   gone before it was linked (ENOENT) restarts the copy from a newer state, at most
 *   BACKUP_ATTEMPTS_MAX times (BackupError 'runs-changed' after that); one gone while the
 *   manifest still lists it is CorruptionError 'run file missing', as a read says.
 * - A backup that crashed, failed or was aborted has no BACKUP.json, or one whose
 *   files are not all durable is never written: nothing incomplete looks complete.
 *   One that failed or was aborted also leaves no directory it made (backup-undo.ts).
 */
import { Buffer } from 'node:buffer';
import { BackupError, CorruptionError, InvalidOptionError, IoError, refuseOtherObjectKind } from '../errors.js';
import { BlockCache } from '../run/block-cache.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { RunReader } from '../run/run-reader.js';
import { isFileSystemError, joinPath, parentDirectory, unlinkIfPresent, type FileSystem } from '../fs/file-system.js';
import { BACKUP_ATTEMPTS_MAX } from '../limits.js';
import { Manifest } from '../manifest/manifest.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import type { ManifestState } from '../manifest/manifest-state.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import {
  BACKUP_FORMAT, BACKUP_FORMAT_VERSION, BACKUP_INCOMPLETE_NAME, BACKUP_MANIFEST_NAME, encodeBackupManifest, readChunks, type BackupFile,
} from './backup-manifest.js';
import { BackupUndo } from './backup-undo.js';
import { copyFile, isEmptyOrMissing, linkOrCopyFile, TEMPORARY_SUFFIX, writeFileDurably, writeMarkDurably } from './durable-files.js';
import { nestedTargetError, physicalAncestorMatches } from './nested-paths.js';

export const BACKUP_WAL_DIRECTORY = 'wal';
const INCOMPLETE_MARK = new TextEncoder().encode('A backup is being written here, or was cut short (no BACKUP.json): not a backup until BACKUP.json is there; delete a cut one.\n');

export interface BackupProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
}

export interface BackupOptions {
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
  /** Hard-link the runs when the file system allows (default true); false copies them, keeping the backup's bytes apart from the store's. */
  link?: boolean;
}

export interface BackupResult {
  /** Every commit at or below this version is in the backup, none above. */
  version: number;
  directory: string;
  files: number;
  bytes: number;
  linkedFiles: number;
  copiedFiles: number;
  durationMs: number;
}

export interface BackupSource {
  fileSystem: FileSystem;
  storeDirectory: string;
  hash: Hash64;
  manifest: Manifest;
  /** Flushes every acknowledged commit into runs (the store's checkpoint, lock held). */
  checkpoint: () => Promise<void>;
}

const BACKUP_OPTION_NAMES = new Set(['signal', 'onProgress', 'link']);

/** Checks the arguments of store.backup(): InvalidOptionError (a TypeError) for misuse, unknown options included. */
export function checkBackupArguments(targetDirectory: unknown, options: unknown): BackupOptions {
  if (typeof targetDirectory !== 'string' || targetDirectory.length === 0) {
    throw new InvalidOptionError('targetDirectory', 'must be a non-empty path string');
  }
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('backup', 'options must be an object');
  refuseOtherObjectKind('store.backup()', options);
  const unknown = Object.keys(options).find((name) => !BACKUP_OPTION_NAMES.has(name));
  if (unknown !== undefined) throw new InvalidOptionError(unknown, 'is not a backup option (signal, onProgress, link)');
  const { signal, onProgress, link } = options as Record<string, unknown>;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidOptionError('onProgress', 'must be a function');
  if (link !== undefined && typeof link !== 'boolean') throw new InvalidOptionError('link', 'must be a boolean');
  return { signal: signal as AbortSignal | undefined, onProgress: onProgress as BackupOptions['onProgress'], link: link as boolean | undefined };
}

export async function takeBackup(source: BackupSource, targetDirectory: string, options: BackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { fileSystem } = source;
  // The store's directory, one inside it (a backup in runs/ made the store unopenable: open removes what
  // runs/ holds that the manifest does not list, EISDIR) or one holding it: refused by path (nested-paths.ts).
  const nested = nestedTargetError(targetDirectory, source.storeDirectory, 'the store directory');
  if (nested !== undefined) throw nested;
  assert(targetDirectory !== source.storeDirectory, 'a backup never targets its own store');
  // A file on the way is refused first (isEmptyOrMissing), then the target on disk (through a
  // symbolic link): a link to the directory copied, or to a non-empty directory in it, is the
  // same wrong argument as its path, not 'target-not-empty'.
  const empty = await isEmptyOrMissing(fileSystem, targetDirectory, 'targetDirectory');
  if (await insideStoreOnDisk(fileSystem, source.storeDirectory, targetDirectory)) {
    throw new InvalidOptionError('targetDirectory', `${targetDirectory} is or lies inside the store directory ${source.storeDirectory} on disk (through a symbolic link): the backup would live in the store it copies`);
  }
  if (!empty) {
    throw new BackupError('target-not-empty', targetDirectory, 'the backup target must be missing or empty');
  }
  // From here on a failure removes what was made (backup-undo.ts), so the retry finds the target as it was.
  const undo = new BackupUndo(fileSystem, targetDirectory, [BACKUP_MANIFEST_NAME, BACKUP_MANIFEST_NAME + TEMPORARY_SUFFIX], [BACKUP_INCOMPLETE_NAME, BACKUP_INCOMPLETE_NAME + TEMPORARY_SUFFIX]);
  let state: Readonly<ManifestState>;
  let runFiles: CopiedBackupFile[];
  let files: BackupFile[];
  try {
    await makeDirectory(fileSystem, targetDirectory, undo.made);
    // Until BACKUP.json is durable the target says what it is: a kill leaves an incomplete backup, not a store.
    await writeMarkDurably(fileSystem, joinPath(targetDirectory, BACKUP_INCOMPLETE_NAME), INCOMPLETE_MARK);
    await makeDirectory(fileSystem, joinPath(targetDirectory, RUNS_DIRECTORY), undo.made);
    await makeDirectory(fileSystem, joinPath(targetDirectory, BACKUP_WAL_DIRECTORY), undo.made);
    await makeDirectory(fileSystem, joinPath(targetDirectory, MANIFEST_DIRECTORY_NAME), undo.made);
    options.signal?.throwIfAborted();
    await source.checkpoint();
    ({ state, runFiles } = await copyRuns(source, targetDirectory, options));
    files = [...runFiles, ...await writeBackupStoreManifest(source, targetDirectory, state)];
    options.signal?.throwIfAborted();
    await fileSystem.syncDirectory(joinPath(targetDirectory, BACKUP_WAL_DIRECTORY));
    await fileSystem.syncDirectory(targetDirectory);
    const body = {
      format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, version: state.flushedVersion,
      createdAt: new Date().toISOString(), files: files.map(({ path, sizeBytes, checksum }) => ({ path, sizeBytes, checksum })),
    } as const;
    await writeFileDurably(fileSystem, joinPath(targetDirectory, BACKUP_MANIFEST_NAME), encodeBackupManifest(body, source.hash));
  } catch (error) {
    await undo.undo();
    throw error;
  }
  // The backup is complete (BACKUP.json durable); a mark left behind by a failure here is harmless:
  // BACKUP.json decides, so the backup does not fail for it.
  await unlinkIfPresent(fileSystem, joinPath(targetDirectory, BACKUP_INCOMPLETE_NAME))
    .then(() => fileSystem.syncDirectory(targetDirectory)).catch(() => undefined);
  const linkedFiles = runFiles.filter((file) => file.linked).length;
  return {
    version: state.flushedVersion, directory: targetDirectory, files: files.length,
    bytes: files.reduce((total, file) => total + file.sizeBytes, 0),
    linkedFiles, copiedFiles: files.length - linkedFiles, durationMs: performance.now() - started,
  };
}

type CopiedBackupFile = BackupFile & { linked: boolean };

/** Links or copies the runs of one manifest state, restarting if compaction removed one first. */
async function copyRuns(
  source: BackupSource, targetDirectory: string, options: BackupOptions,
): Promise<{ state: Readonly<ManifestState>; runFiles: CopiedBackupFile[] }> {
  const { fileSystem } = source;
  const sourceRuns = joinPath(source.storeDirectory, RUNS_DIRECTORY);
  const targetRuns = joinPath(targetDirectory, RUNS_DIRECTORY);
  for (let attempt = 1; attempt <= BACKUP_ATTEMPTS_MAX; attempt++) {
    // One synchronous read: this state's runs hold exactly the commits <= flushedVersion.
    const state = source.manifest.state;
    const runFiles: CopiedBackupFile[] = [];
    let bytesDone = 0;
    let current: RunDescriptor | undefined;
    try {
      for (const run of state.runs) {
        options.signal?.throwIfAborted();
        current = run;
        const path = `${RUNS_DIRECTORY}/${run.fileName}`;
        const from = joinPath(sourceRuns, run.fileName);
        const to = joinPath(targetRuns, run.fileName);
        // A copy reads a page it cannot read (EIO: a bad sector) as zeros; checkRunCopy rebuilds it from parity.
        const copied = options.link === false ? await copyFile(fileSystem, from, to, source.hash, undefined, 'zero') : await linkOrCopyFile(fileSystem, from, to, source.hash, 'zero');
        if (copied.sizeBytes !== run.fileBytes) { // cut short or grown on disk: damage, as the run's open reports it, not a bug
          throw new CorruptionError(from, Math.min(copied.sizeBytes, run.fileBytes), `file is ${copied.sizeBytes} bytes, the manifest says ${run.fileBytes}`);
        }
        // The copy's checksum is of the bytes as read: a block damaged in the store would be
        // certified with them. Check them all; a rebuild changed bytes, so sum them again.
        // A page read as zeros (EIO) is in a link's checksum, not its file: summed again after the check too.
        const rewritten = await checkRunCopy(fileSystem, targetRuns, run, from, source.hash);
        const checksum = rewritten || (copied.linked && copied.zeroedPages > 0) ? (await readChunks(fileSystem, to, source.hash)).checksum : copied.checksum;
        runFiles.push({ path, sizeBytes: copied.sizeBytes, checksum, linked: copied.linked });
        bytesDone += copied.sizeBytes;
        options.onProgress?.({ filesDone: runFiles.length, filesTotal: state.runs.length, bytesDone });
      }
    } catch (error) {
      if (!isFileSystemError(error, 'ENOENT')) throw error;
      for (const file of runFiles) await fileSystem.unlink(joinPath(targetDirectory, file.path));
      // Gone while the manifest still lists it: no compaction replaced it (one unlinks a run
      // only after its manifest edit), the store lost it. Retrying found it missing each time.
      if (current !== undefined && await runFileMissing(source, current)) {
        throw new CorruptionError(joinPath(sourceRuns, current.fileName), 0, `run file missing: the manifest lists run ${current.runId}`);
      }
      // Compaction replaced a run of this state: what this attempt linked is dropped, retry.
      continue;
    }
    await fileSystem.syncDirectory(targetRuns);
    return { state, runFiles };
  }
  throw new BackupError('runs-changed', targetDirectory, `compaction replaced the runs ${BACKUP_ATTEMPTS_MAX} times during the backup`);
}

/** True when the manifest's current state still lists `run` and its file is not in the store's runs/. */
async function runFileMissing(source: BackupSource, run: RunDescriptor): Promise<boolean> {
  if (!source.manifest.state.runs.some((live) => live.runId === run.runId)) return false;
  return !(await source.fileSystem.exists(joinPath(joinPath(source.storeDirectory, RUNS_DIRECTORY), run.fileName)));
}

/**
 * Reads and checks every block of the run file linked or copied into `runsDirectory`
 * (footer, index, filter, data, parity: RunReader's scrub), rebuilding damaged blocks
 * and stale parity from their stripes in place (in the store's file too when linked).
 * True if something was rewritten (by the scrub, or by the open, which reads and may
 * rebuild blocks before it). Damage parity cannot rebuild is a CorruptionError
 * naming the store's run file `storePath`: a backup never certifies it. A rebuilt page
 * whose write-back or its datasync failed is an IoError: the bytes read back then are
 * not the ones a power loss leaves.
 */
async function checkRunCopy(fileSystem: FileSystem, runsDirectory: string, run: RunDescriptor, storePath: string, hash: Hash64): Promise<boolean> {
  let reader: RunReader | undefined;
  let rewritten = false;
  try {
    reader = await RunReader.open(fileSystem, runsDirectory, run, hash, new BlockCache(0), { repair: true });
    for await (const step of reader.scrub(true)) {
      for (const finding of step.findings) {
        if (finding.outcome !== 'repaired') throw new CorruptionError(storePath, finding.logicalOffset, `backup: ${finding.kind} block (stripe ${finding.stripe}): ${finding.reason}`);
        // 'repaired' also when writing the rebuilt page back failed (reads answer from the
        // rebuilt bytes): after a failed datasync the copy reads right but the page on disk
        // is still bad, and a checksum of the bytes as read would certify what a power loss
        // takes away. Such a backup fails instead.
        if (reader.repairCounters.rewriteFailures > 0) {
          throw new IoError(`backup: ${finding.kind} block at ${finding.logicalOffset} of ${storePath} (stripe ${finding.stripe}) was rebuilt from parity, but writing it back to ${joinPath(runsDirectory, run.fileName)} failed`);
        }
        rewritten = true;
      }
    }
    // The open itself reads blocks (the top-level index of a packed run, the footer) and
    // rebuilds a damaged one in place before the scrub begins: no finding reports it, yet
    // the file changed under the copy's checksum. The file's counters see every repair.
    const counters = reader.repairCounters;
    if (counters.rewriteFailures > 0) {
      throw new IoError(`backup: a block of ${storePath} was rebuilt from parity, but writing it back to ${joinPath(runsDirectory, run.fileName)} failed`);
    }
    if (counters.repairedBlocks + counters.repairedParityPages > 0) rewritten = true;
  } catch (error) {
    if (error instanceof CorruptionError && error.file !== storePath) throw new CorruptionError(storePath, error.offset, `backup: ${error.message}`);
    throw error;
  } finally {
    await reader?.close();
  }
  return rewritten;
}

/** A new manifest for the backup: the state's runs, an empty WAL from segment 1. */
async function writeBackupStoreManifest(source: BackupSource, targetDirectory: string, state: Readonly<ManifestState>): Promise<BackupFile[]> {
  const { fileSystem, hash } = source;
  const manifest = await Manifest.open(fileSystem, targetDirectory, hash, {
    create: true,
    initial: {
      runs: state.runs.map((run) => ({ ...run })), nextRunId: state.nextRunId, flushedVersion: state.flushedVersion,
      walStartSegment: 1, versionHighWater: state.flushedVersion,
      // As at a store's creation (open-engine.ts), whatever runs it names: manifest format 3 (docs/FORMAT.md).
      reservedEntryCounts: true,
      // The floor goes with the runs: compaction dropped what only reads below it could
      // see (no marker), so a restored store without it answered those reads "absent".
      ...(state.retentionFloor === undefined ? {} : { retentionFloor: state.retentionFloor }),
    },
  });
  await manifest.close();
  const directory = joinPath(targetDirectory, MANIFEST_DIRECTORY_NAME);
  await fileSystem.syncDirectory(directory);
  const files: BackupFile[] = [];
  for (const name of (await fileSystem.readdir(directory)).sort()) {
    const read = await readChunks(fileSystem, joinPath(directory, name), hash);
    files.push({ path: `${MANIFEST_DIRECTORY_NAME}/${name}`, sizeBytes: read.sizeBytes, checksum: read.checksum });
  }
  assert(files.length > 0, 'the backup manifest wrote at least one copy');
  return files;
}

/**
 * True when `targetDirectory` lies inside the store's directory as the OS resolves it:
 * through a symbolic link (`<link to store>/sub`, `<link to the store's parent>/store/sub`)
 * the lexical check sees two unrelated paths. The store is recognised by its current
 * lock file (`LOCK.<generation>`, its random per-acquisition token, docs/FORMAT.md) in
 * one of the physical ancestors of the target's deepest existing directory
 * (nested-paths.ts physicalAncestorMatches). Reads only.
 */
async function insideStoreOnDisk(fileSystem: FileSystem, storeDirectory: string, targetDirectory: string): Promise<boolean> {
  const lockNames = (await fileSystem.readdir(storeDirectory)).filter((name) => /^LOCK\.\d+$/.test(name));
  const lockName = lockNames.sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))).at(-1);
  if (lockName === undefined) return false;
  const token = await lockToken(fileSystem, joinPath(storeDirectory, lockName));
  if (token === undefined) return false;
  return physicalAncestorMatches(fileSystem, targetDirectory, async (ancestor) => (await lockToken(fileSystem, joinPath(ancestor, lockName))) === token);
}

/** The `token` of the lock file at `path`, or undefined when there is none to read. */
async function lockToken(fileSystem: FileSystem, path: string): Promise<string | undefined> {
  try {
    const parsed = JSON.parse(Buffer.from(await fileSystem.readFile(path)).toString('utf8')) as { token?: unknown } | null;
    return typeof parsed?.token === 'string' ? parsed.token : undefined;
  } catch {
    return undefined; // missing, a directory, torn: not the store's lock
  }
}

/**
 * mkdir, then fsync the parent so the new entry is durable; a missing parent is made the
 * same way first (FileSystem#mkdir would make it too, but its entry in its own parent
 * would not be synced: a power loss then took the whole backup or restored copy along).
 * Each directory it creates is appended to `made` (parents first).
 */
export async function makeDirectory(fileSystem: FileSystem, directory: string, made?: string[]): Promise<void> {
  if (await fileSystem.exists(directory)) return;
  const parent = parentDirectory(directory);
  if (parent !== directory) await makeDirectory(fileSystem, parent, made);
  await fileSystem.mkdir(directory);
  made?.push(directory);
  await fileSystem.syncDirectory(parent);
}
