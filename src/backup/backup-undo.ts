/**
 * What a failed backup or restore made, and its removal: store.backup() and restoreBackup
 * leave their target as they found it when they fail (as pg_basebackup removes what it
 * created), so that the retry into the same path is not refused as 'target-not-empty' and
 * no half backup or half restored store stays behind.
 *
 * Invariants
 * - Only what this backup or restore made is removed: the directories its makeDirectory calls
 *   created (`made`): the target (when it made it) and the directories in it with everything
 *   under them, and the parents it made above the target only while they are empty (another
 *   process may have put files there meanwhile); in a target that was an empty directory,
 *   the names a backup writes there (BACKUP.json, BACKUP-INCOMPLETE, their temporary files).
 *   A target that held anything was refused before anything was made and is never touched.
 * - A backup's BACKUP.json goes first (and its directory is synced): a crash during the
 *   removal leaves a directory without one, which verify calls incomplete and restore
 *   refuses, never a BACKUP.json naming files that are gone. A restore's manifest/ goes
 *   first: never a manifest naming runs that are gone.
 * - Best effort: a removal that fails (a fault, a store abandoned meanwhile) stops it, and
 *   the backup's (restore's) own error is the one the caller sees. A crash or kill skips it:
 *   a backup then has no BACKUP.json, a restore may be partial (delete it). Without
 *   FileSystem#removeDirectory (optional in the interface) the files go and the empty
 *   directories stay.
 */
import { isFileSystemError, joinPath, parentDirectory, unlinkIfPresent, type FileSystem } from '../fs/file-system.js';

export class BackupUndo {
  /** Directories this backup or restore created, parents before children. */
  readonly made: string[] = [];

  /**
   * `first`: the names in the target that make it look usable, removed before the rest (a
   * backup's BACKUP.json and its temporary file, a restore's manifest/), so that a crash
   * midway leaves no BACKUP.json naming removed files and no manifest naming removed runs.
   */
  constructor(
    private readonly fileSystem: FileSystem,
    private readonly targetDirectory: string,
    private readonly first: readonly string[],
    /** Names in the target removed after everything else (a backup's BACKUP-INCOMPLETE: it marks the directory until then). */
    private readonly last: readonly string[] = [],
  ) {}

  /** Removes what the backup or restore made; never throws. */
  async undo(): Promise<void> {
    try {
      const { fileSystem, targetDirectory } = this;
      const inside = (directory: string): boolean => directory === targetDirectory || directory.startsWith(`${targetDirectory}/`);
      if (await fileSystem.exists(targetDirectory)) {
        for (const name of this.first) await removeTree(fileSystem, joinPath(targetDirectory, name));
        await fileSystem.syncDirectory(targetDirectory);
        // The directories made in the target (runs/, wal/, manifest/), then the last names, then the target if made.
        for (const directory of this.made.filter((made) => made !== targetDirectory && inside(made)).reverse()) {
          await removeTree(fileSystem, directory);
          await fileSystem.syncDirectory(parentDirectory(directory));
        }
        for (const name of this.last) await unlinkIfPresent(fileSystem, joinPath(targetDirectory, name));
        await fileSystem.syncDirectory(targetDirectory);
        if (this.made.includes(targetDirectory)) {
          await removeTree(fileSystem, targetDirectory);
          await fileSystem.syncDirectory(parentDirectory(targetDirectory));
        }
      }
      // Parents made above the target only while empty: another process may have put its own files there meanwhile.
      for (const directory of this.made.filter((made) => !inside(made)).reverse()) {
        await removeEmptyDirectory(fileSystem, directory);
        await fileSystem.syncDirectory(parentDirectory(directory));
      }
    } catch {
      // left as it is: a backup without BACKUP.json (removed first), which verify calls incomplete
    }
  }
}

/** Removes `path` and everything under it: files unlinked, directories removed once empty. */
async function removeTree(fileSystem: FileSystem, path: string): Promise<void> {
  let names: string[];
  try {
    names = await fileSystem.readdir(path);
  } catch (error) {
    if (isFileSystemError(error, 'ENOENT')) return;
    if (!isFileSystemError(error, 'ENOTDIR')) throw error;
    await unlinkIfPresent(fileSystem, path);
    return;
  }
  for (const name of names) await removeTree(fileSystem, joinPath(path, name));
  await removeEmptyDirectory(fileSystem, path);
}

/** FileSystem#removeDirectory; a file system without it (absent, or ENOTSUP through a wrapper) leaves the directory. */
async function removeEmptyDirectory(fileSystem: FileSystem, path: string): Promise<void> {
  try {
    await fileSystem.removeDirectory?.(path);
  } catch (error) {
    if (!isFileSystemError(error, 'ENOTSUP')) throw error;
  }
}
