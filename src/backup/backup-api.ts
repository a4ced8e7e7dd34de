/**
 * The public form of restore and verify (exported by src/index.ts as restoreBackup
 * and verifyBackup): directories first, the file system an option defaulting to the
 * real one, as openStore takes it. The work is in restore-backup.ts.
 */
import { NodeFileSystem } from '../fs/node-file-system.js';
import type { FileSystem } from '../fs/file-system.js';
import { restoreBackup, verifyBackup, type BackupVerifyReport, type RestoreOptions, type RestoreResult } from './restore-backup.js';

export interface PublicRestoreOptions extends RestoreOptions {
  fileSystem?: FileSystem;
}

/** Checks a backup and copies it into `targetDirectory` (missing or empty), rebuilding what parity can of a damaged run; BackupError if refused, CorruptionError for damage beyond parity. */
export function restoreStoreBackup(backupDirectory: string, targetDirectory: string, options: PublicRestoreOptions = {}): Promise<RestoreResult> {
  if (typeof backupDirectory !== 'string' || typeof targetDirectory !== 'string' || backupDirectory.length === 0 || targetDirectory.length === 0) {
    throw new TypeError('restoreBackup: backupDirectory and targetDirectory must be non-empty path strings');
  }
  const { fileSystem = new NodeFileSystem(), ...rest } = options;
  return restoreBackup(fileSystem, backupDirectory, targetDirectory, rest);
}

/** Reports whether a backup is complete and every file matches its checksum; writes nothing. */
export function verifyStoreBackup(backupDirectory: string, options: { fileSystem?: FileSystem } = {}): Promise<BackupVerifyReport> {
  if (typeof backupDirectory !== 'string' || backupDirectory.length === 0) {
    throw new TypeError('verifyBackup: backupDirectory must be a non-empty path string');
  }
  return verifyBackup(options.fileSystem ?? new NodeFileSystem(), backupDirectory);
}
