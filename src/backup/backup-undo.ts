/**
 * What a failed backup or restore made, and its removal: store.backup() and restoreBackup
 * leave their target as they found it when they fail (as pg_basebackup removes what it
 * created), so that the retry into the same path is not refused as 'target-not-empty' and
 * no half backup or half restored store stays behind.
 *
 * Invariants
 * - Only what this backup or restore made is removed: the directories its makeDirectory calls
 *   created (`made`, the first missing ancestor of the target down, each with everything under
 *   it) and, for a backup into a target that was an empty directory, BACKUP.json and its
 *   temporary file.
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
      if (await fileSystem.exists(targetDirectory)) {
        for (const name of this.first) await removeTree(fileSystem, joinPath(targetDirectory, name));
        await fileSystem.syncDirectory(targetDirectory);
      }
      const tops = this.made.filter((directory) => !this.made.includes(parentDirectory(directory)));
      for (const top of tops.reverse()) {
        await removeTree(fileSystem, top);
        await fileSystem.syncDirectory(parentDirectory(top));
      }
      if (this.last.length > 0 && await fileSystem.exists(targetDirectory)) {
        for (const name of this.last) await unlinkIfPresent(fileSystem, joinPath(targetDirectory, name));
        await fileSystem.syncDirectory(targetDirectory);
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
  await fileSystem.removeDirectory?.(path);
}
