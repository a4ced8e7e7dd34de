/**
 * Verifying and restoring a backup made by take-backup.ts.
 *
 *   verify: BACKUP.json present and intact, then every listed file present with
 *           its size and chunked checksum (report of problems, nothing written)
 *   restore: target missing or empty (else BackupError 'target-not-empty')
 *           -> verify the whole backup first: a damaged backup writes nothing
 *           -> copy runs (checked again while copying), fsync runs/
 *           -> copy the manifest copies last, fsync manifest/, then wal/, the
 *              target and its parent
 *
 * Invariants
 * - Restore writes only inside the target (BACKUP.json paths are checked to be
 *   `manifest/<name>` or `runs/<name>`, backup-manifest.ts).
 * - Run files are copied before the manifest that names them: a restore that
 *   crashed has no manifest naming a missing run (it is refused as a backup target
 *   again, being non-empty; delete it and restore again).
 */
import { BackupError } from '../errors.js';
import { joinPath, parentDirectory, type FileSystem } from '../fs/file-system.js';
import { loadHash64 } from '../codec/checksum.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { readBackupManifest, readChunks, type BackupBody, type BackupFile } from './backup-manifest.js';
import { copyFile, isEmptyOrMissing } from './durable-files.js';
import { BACKUP_WAL_DIRECTORY, makeDirectory, type BackupProgress } from './take-backup.js';

export interface BackupVerifyReport {
  ok: boolean;
  directory: string;
  /** The backup's version, when BACKUP.json could be read. */
  version: number | undefined;
  files: number;
  bytes: number;
  problems: { path: string; reason: string }[];
}

export interface RestoreOptions {
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
}

export interface RestoreResult {
  version: number;
  directory: string;
  files: number;
  bytes: number;
}

/** Checks a backup directory without writing; a missing or damaged BACKUP.json is a problem, not a throw. */
export async function verifyBackup(
  fileSystem: FileSystem, backupDirectory: string, onProgress?: (progress: BackupProgress) => void,
): Promise<BackupVerifyReport> {
  const hash = await loadHash64();
  const report: BackupVerifyReport = { ok: true, directory: backupDirectory, version: undefined, files: 0, bytes: 0, problems: [] };
  let body: BackupBody;
  try {
    body = await readBackupManifest(fileSystem, backupDirectory, hash);
  } catch (error) {
    if (!(error instanceof BackupError)) throw error;
    return { ...report, ok: false, problems: [{ path: error.path, reason: error.message }] };
  }
  report.version = body.version;
  report.files = body.files.length;
  for (const file of body.files) {
    const problem = await checkFile(fileSystem, backupDirectory, file, hash);
    if (problem !== undefined) report.problems.push({ path: file.path, reason: problem });
    report.bytes += file.sizeBytes;
    onProgress?.({ filesDone: body.files.indexOf(file) + 1, filesTotal: body.files.length, bytesDone: report.bytes });
  }
  report.ok = report.problems.length === 0;
  return report;
}

async function checkFile(fileSystem: FileSystem, backupDirectory: string, file: BackupFile, hash: Hash64): Promise<string | undefined> {
  const path = joinPath(backupDirectory, file.path);
  if (!(await fileSystem.exists(path))) return 'missing';
  const read = await readChunks(fileSystem, path, hash);
  if (read.sizeBytes !== file.sizeBytes) return `size ${read.sizeBytes}, BACKUP.json says ${file.sizeBytes}`;
  if (read.checksum !== file.checksum) return 'checksum mismatch';
  return undefined;
}

/** Restores `backupDirectory` into `targetDirectory` (missing or empty); refuses a damaged backup before writing. */
export async function restoreBackup(
  fileSystem: FileSystem, backupDirectory: string, targetDirectory: string, options: RestoreOptions = {},
): Promise<RestoreResult> {
  const hash = await loadHash64();
  if (!(await isEmptyOrMissing(fileSystem, targetDirectory))) {
    throw new BackupError('target-not-empty', targetDirectory, 'restore needs a missing or empty target directory');
  }
  // A missing or damaged BACKUP.json throws its own BackupError ('incomplete' / 'corrupt').
  const body = await readBackupManifest(fileSystem, backupDirectory, hash);
  for (const file of body.files) {
    const problem = await checkFile(fileSystem, backupDirectory, file, hash);
    if (problem !== undefined) throw new BackupError('corrupt', joinPath(backupDirectory, file.path), problem);
  }
  await makeDirectory(fileSystem, targetDirectory);
  for (const name of [RUNS_DIRECTORY, MANIFEST_DIRECTORY_NAME, BACKUP_WAL_DIRECTORY]) {
    await makeDirectory(fileSystem, joinPath(targetDirectory, name));
  }
  // Runs first, the manifest that names them last.
  const ordered = [
    ...body.files.filter((file) => file.path.startsWith(`${RUNS_DIRECTORY}/`)),
    ...body.files.filter((file) => file.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)),
  ];
  assert(ordered.length === body.files.length, 'every backup file is a run or a manifest copy');
  let bytesDone = 0;
  for (const [index, file] of ordered.entries()) {
    options.signal?.throwIfAborted();
    const to = joinPath(targetDirectory, file.path);
    await copyFile(fileSystem, joinPath(backupDirectory, file.path), to, hash, { ...file, mismatch: 'corrupt' });
    bytesDone += file.sizeBytes;
    options.onProgress?.({ filesDone: index + 1, filesTotal: ordered.length, bytesDone });
    const next = ordered[index + 1];
    if (next === undefined || parentDirectory(next.path) !== parentDirectory(file.path)) await fileSystem.syncDirectory(parentDirectory(to));
  }
  for (const name of [RUNS_DIRECTORY, MANIFEST_DIRECTORY_NAME, BACKUP_WAL_DIRECTORY]) {
    await fileSystem.syncDirectory(joinPath(targetDirectory, name));
  }
  await fileSystem.syncDirectory(targetDirectory);
  await fileSystem.syncDirectory(parentDirectory(targetDirectory));
  return { version: body.version, directory: targetDirectory, files: ordered.length, bytes: bytesDone };
}
