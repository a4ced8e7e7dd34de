/**
 * The public form of restore and verify (exported by src/index.ts as restoreBackup
 * and verifyBackup): directories first, the file system an option defaulting to the
 * real one, as openStore takes it. The work is in restore-backup.ts.
 */
import { asTypedError, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import { NodeFileSystem } from '../fs/node-file-system.js';
import type { FileSystem } from '../fs/file-system.js';
import { directoryEntries } from './durable-files.js';
import { restoreBackup, verifyBackup, type BackupVerifyReport, type RestoreOptions, type RestoreResult } from './restore-backup.js';

export interface PublicRestoreOptions extends RestoreOptions {
  fileSystem?: FileSystem;
}

function checkDirectory(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, 'must be a non-empty path string');
  return value;
}

function checkOptions(options: unknown, known: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'must be an object');
  refuseOtherObjectKind('restoreBackup/verifyBackup', options);
  const unknown = Object.keys(options).find((name) => !known.includes(name));
  if (unknown !== undefined) throw new InvalidOptionError(unknown, `is not an option here (${known.join(', ')})`);
  const given = options as Record<string, unknown>;
  // Types too, null included (as openStore and store.backup check theirs): a signal or onProgress
  // that is not one failed the restore with a bare TypeError at its first use, a target half written.
  const { fileSystem, signal, onProgress } = given as { fileSystem?: Partial<FileSystem> | null; signal?: unknown; onProgress?: unknown };
  if (fileSystem !== undefined && (typeof fileSystem !== 'object' || fileSystem === null || typeof fileSystem.open !== 'function' || typeof fileSystem.readdir !== 'function')) {
    throw new InvalidOptionError('fileSystem', 'must implement the FileSystem interface');
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidOptionError('onProgress', 'must be a function');
  return given;
}

/**
 * Checks a backup and copies it into `targetDirectory` (missing or empty), rebuilding what parity can of a damaged run;
 * BackupError if refused, CorruptionError for damage beyond parity, IoError (LADYBUG_IO) for another I/O failure,
 * InvalidOptionError for bad arguments (a backup or target path that is a file, or lies below one): every refusal a typed rejection.
 */
export async function restoreStoreBackup(backupDirectory: string, targetDirectory: string, options: PublicRestoreOptions = {}): Promise<RestoreResult> {
  const from = checkDirectory('backupDirectory', backupDirectory);
  const to = checkDirectory('targetDirectory', targetDirectory);
  const { fileSystem = new NodeFileSystem(), ...rest } = checkOptions(options, ['fileSystem', 'signal', 'onProgress']) as PublicRestoreOptions;
  try {
    await directoryEntries(fileSystem, from, 'backupDirectory');
    return await restoreBackup(fileSystem, from, to, rest);
  } catch (error) {
    throw asTypedError(error, `restore ${from} to ${to}`);
  }
}

/** Reports whether a backup is complete and every file matches its checksum; writes nothing. Refusals are typed rejections, as for restore. */
export async function verifyStoreBackup(backupDirectory: string, options: { fileSystem?: FileSystem } = {}): Promise<BackupVerifyReport> {
  const from = checkDirectory('backupDirectory', backupDirectory);
  const { fileSystem } = checkOptions(options, ['fileSystem']) as { fileSystem?: FileSystem };
  const files = fileSystem ?? new NodeFileSystem();
  try {
    // A file is refused; a missing directory is a report (no BACKUP.json), as a directory without one.
    await directoryEntries(files, from, 'backupDirectory');
    return await verifyBackup(files, from);
  } catch (error) {
    throw asTypedError(error, `verify backup ${from}`);
  }
}
