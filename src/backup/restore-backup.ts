/**
 * Restoring a backup made by take-backup.ts (verifying one: verify-backup.ts, which
 * this module re-exports).
 *
 *   restore: target missing or empty (else BackupError 'target-not-empty')
 *           -> verify the whole backup first: a damaged backup writes nothing,
 *              except a run whose damage parity rebuilds (repair-backup-run.ts:
 *              rebuilt in memory, then the file must match BACKUP.json's checksum)
 *              and a manifest copy whose twin (the other copy, certified with the
 *              same size and checksum) is intact: it is written from the twin
 *           -> copy runs (checked again while copying; a rebuilt run with its
 *              rebuilt pages laid over it), fsync runs/
 *           -> mkdir target, then BACKUP-INCOMPLETE in it (durably), runs/, manifest/, wal/
 *           -> copy the manifest copies last, fsync manifest/, then wal/, the
 *              target and its parent; remove BACKUP-INCOMPLETE, fsync the target
 *
 * Invariants
 * - Restore writes only inside the target (BACKUP.json paths are checked to be
 *   `manifest/<name>` or `runs/<name>`, backup-manifest.ts); it never writes the backup,
 *   a damaged one included.
 * - Every file restored has the chunked checksum BACKUP.json records for it, a run
 *   rebuilt from parity too: a rebuild never writes a byte the backup did not certify.
 *   Damage parity cannot rebuild is a CorruptionError naming the backup's file and the
 *   (logical) offset, and nothing is written.
 * - Run files are copied before the manifest that names them: a restore that
 *   crashed has no manifest naming a missing run (it is refused as a backup target
 *   again, being non-empty; delete it and restore again). A restore that failed or
 *   was aborted removes what it made (backup-undo.ts, the manifest first).
 * - Until the restore is durable the target holds BACKUP-INCOMPLETE, so a restore cut
 *   short (kill, power loss) is refused by openStore ('not-a-store'): one cut before its
 *   first run was in place opened as a new, empty store, every key missing.
 */
import { BackupError, InvalidOptionError } from '../errors.js';
import { joinPath, parentDirectory, unlinkIfPresent, type FileSystem } from '../fs/file-system.js';
import { loadHash64 } from '../codec/checksum.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { BACKUP_INCOMPLETE_NAME, readBackupManifest, readChunks, type BackupFile } from './backup-manifest.js';
import { copyFile, isEmptyOrMissing, TEMPORARY_SUFFIX, writeMarkDurably } from './durable-files.js';
import { insideBackupOnDisk, nestedTargetError } from './nested-paths.js';
import { backupRunDescriptors, patchedView, rebuildBackupRun, type FilePatches, type RestoreRepair } from './repair-backup-run.js';
import { checkFile, intactTwin, runDamage, withDamageOffset } from './verify-backup.js';
import { BACKUP_WAL_DIRECTORY, makeDirectory, type BackupProgress } from './take-backup.js';
import { BackupUndo } from './backup-undo.js';

export { verifyBackup, type BackupVerifyProblem, type BackupVerifyReport } from './verify-backup.js';

const RESTORE_INCOMPLETE_MARK = new TextEncoder().encode('A restore is being written here, or was cut short: not a store until the restore ends; delete a cut one and restore again.\n');

export interface RestoreOptions {
  signal?: AbortSignal;
  onProgress?: (progress: BackupProgress) => void;
}

export interface RestoreResult {
  version: number;
  directory: string;
  files: number;
  bytes: number;
  /** Blocks and parity pages of the backup's runs rebuilt from parity in the restored copy (the backup is left as it is). */
  repaired: RestoreRepair[];
  /** Manifest copies of the backup (BACKUP.json paths) that were damaged or missing, written from the other copy: same certified bytes. */
  manifestCopiesFromTwin: string[];
}

/** Restores `backupDirectory` into `targetDirectory` (missing or empty); refuses a damaged backup before writing. */
export async function restoreBackup(
  fileSystem: FileSystem, backupDirectory: string, targetDirectory: string, options: RestoreOptions = {},
): Promise<RestoreResult> {
  // A target that is, holds or lies inside the backup: refused before anything is read or made (nested-paths.ts).
  const nested = nestedTargetError(targetDirectory, backupDirectory, 'the backup directory');
  if (nested !== undefined) throw nested;
  const hash = await loadHash64();
  // A file on the way is refused first (isEmptyOrMissing), then the target on disk (through a
  // symbolic link): a link to the directory copied, or to a non-empty directory in it, is the
  // same wrong argument as its path, not 'target-not-empty'.
  const empty = await isEmptyOrMissing(fileSystem, targetDirectory, 'targetDirectory');
  if (await insideBackupOnDisk(fileSystem, backupDirectory, targetDirectory)) {
    throw new InvalidOptionError('targetDirectory', `${targetDirectory} is or lies inside the backup directory ${backupDirectory} on disk (through a symbolic link): the copy would be written into what it copies`);
  }
  if (!empty) {
    throw new BackupError('target-not-empty', targetDirectory, 'restore needs a missing or empty target directory');
  }
  // A missing or damaged BACKUP.json throws its own BackupError ('incomplete' / 'corrupt').
  const body = await readBackupManifest(fileSystem, backupDirectory, hash);
  const damagedRuns: BackupFile[] = [];
  /** Damaged or missing manifest copies, each written from an intact copy certified with the same bytes. */
  const twins = new Map<string, string>();
  for (const file of body.files) {
    const problem = await checkFile(fileSystem, backupDirectory, file, hash);
    if (problem === undefined) continue;
    // A run's checksum mismatch may be damage its parity rebuilds; a manifest copy's, the other copy's bytes; anything else is refused here.
    if (runDamage(file, problem)) {
      damagedRuns.push(file);
      continue;
    }
    const twin = await intactTwin(fileSystem, backupDirectory, file, body.files, hash);
    if (twin === undefined) throw new BackupError('corrupt', joinPath(backupDirectory, file.path), await withDamageOffset(fileSystem, backupDirectory, file, body.files, problem));
    twins.set(file.path, twin);
  }
  // Rebuilt in memory before anything is written: damage beyond parity throws CorruptionError here.
  const patchesByPath = new Map<string, FilePatches>();
  const repaired: RestoreRepair[] = [];
  if (damagedRuns.length > 0) {
    const descriptors = await backupRunDescriptors(fileSystem, backupDirectory, hash);
    for (const file of damagedRuns) {
      const rebuilt = await rebuildBackupRun(fileSystem, backupDirectory, file, descriptors, hash);
      patchesByPath.set(file.path, rebuilt.patches);
      repaired.push(...rebuilt.repaired);
    }
  }
  // From here on a failure removes what this restore made (backup-undo.ts), so the retry finds the target as it was.
  const undo = new BackupUndo(fileSystem, targetDirectory, [MANIFEST_DIRECTORY_NAME], [BACKUP_INCOMPLETE_NAME, BACKUP_INCOMPLETE_NAME + TEMPORARY_SUFFIX]);
  try {
    await makeDirectory(fileSystem, targetDirectory, undo.made);
    // Until the restore is durable the target says it is cut short: openStore refuses it (not an empty new store).
    await writeMarkDurably(fileSystem, joinPath(targetDirectory, BACKUP_INCOMPLETE_NAME), RESTORE_INCOMPLETE_MARK);
    for (const name of [RUNS_DIRECTORY, MANIFEST_DIRECTORY_NAME, BACKUP_WAL_DIRECTORY]) {
      await makeDirectory(fileSystem, joinPath(targetDirectory, name), undo.made);
    }
    await copyBackupFiles(fileSystem, backupDirectory, targetDirectory, body.files, twins, patchesByPath, hash, options);
    // Everything is durable: the mark goes, durably, before the restore resolves.
    await unlinkIfPresent(fileSystem, joinPath(targetDirectory, BACKUP_INCOMPLETE_NAME));
    await fileSystem.syncDirectory(targetDirectory);
  } catch (error) {
    await undo.undo();
    throw error;
  }
  return { version: body.version, directory: targetDirectory, files: body.files.length, bytes: body.files.reduce((total, file) => total + file.sizeBytes, 0), repaired, manifestCopiesFromTwin: [...twins.keys()] };
}

/** Copies the runs, then the manifest copies, each durable, then syncs the target's directories. */
async function copyBackupFiles(
  fileSystem: FileSystem, backupDirectory: string, targetDirectory: string, files: readonly BackupFile[],
  twins: ReadonlyMap<string, string>, patchesByPath: ReadonlyMap<string, FilePatches>, hash: Hash64, options: RestoreOptions,
): Promise<void> {
  // Runs first, the manifest that names them last.
  const ordered = [
    ...files.filter((file) => file.path.startsWith(`${RUNS_DIRECTORY}/`)),
    ...files.filter((file) => file.path.startsWith(`${MANIFEST_DIRECTORY_NAME}/`)),
  ];
  assert(ordered.length === files.length, 'every backup file is a run or a manifest copy');
  let bytesDone = 0;
  for (const [index, file] of ordered.entries()) {
    options.signal?.throwIfAborted();
    const to = joinPath(targetDirectory, file.path);
    const patches = patchesByPath.get(file.path);
    const source = joinPath(backupDirectory, twins.get(file.path) ?? file.path);
    if (patches === undefined) await copyFile(fileSystem, source, to, hash, { ...file, mismatch: 'corrupt' });
    else await copyPatched(fileSystem, joinPath(backupDirectory, file.path), to, patches, hash, file);
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
}

/**
 * copyFile with `patches` laid over the bytes read (a run rebuilt from parity): temporary
 * name, datasync, rename; the bytes written must have the checksum BACKUP.json records.
 */
async function copyPatched(fileSystem: FileSystem, from: string, to: string, patches: FilePatches, hash: Hash64, expected: BackupFile): Promise<void> {
  const temporary = to + TEMPORARY_SUFFIX;
  const output = await fileSystem.open(temporary, 'createExclusive');
  let copied: { checksum: string; sizeBytes: number };
  try {
    // Read through the patched view: the rebuilt pages laid over the file, also where its reads fail (EIO);
    // the checksum is of the bytes written.
    copied = await readChunks(patchedView(fileSystem, from, patches), from, hash, (chunk, position) => output.write(chunk, position));
    await output.datasync();
  } finally {
    await output.close();
  }
  if (copied.checksum !== expected.checksum || copied.sizeBytes !== expected.sizeBytes) {
    await fileSystem.unlink(temporary);
    throw new BackupError('corrupt', from, `rebuilt from parity, but the bytes copied differ from BACKUP.json (${copied.sizeBytes} bytes): the file changed during the restore`);
  }
  await fileSystem.rename(temporary, to);
}
