/**
 * What a failed backup made, and its removal: store.backup() leaves its target as it found
 * it when it fails (as pg_basebackup removes what it created), so that the retry into the
 * same path is not refused as 'target-not-empty' and no half backup stays behind.
 *
 * Invariants
 * - Only what this backup made is removed: the directories its makeDirectory calls created
 *   (`made`, the first missing ancestor of the target down, each with everything under it)
 *   and, in a target that was an empty directory, BACKUP.json and its temporary file.
 *   A target that held anything was refused before anything was made and is never touched.
 * - BACKUP.json goes first (and its directory is synced): a crash during the removal leaves
 *   a directory without one, which verify calls incomplete and restore refuses, never a
 *   BACKUP.json naming files that are gone.
 * - Best effort: a removal that fails (a fault, a store abandoned meanwhile) stops it, and
 *   the backup's own error is the one the caller sees. Without FileSystem#removeDirectory
 *   (optional in the interface) the files go and the empty directories stay.
 */
import { isFileSystemError, joinPath, parentDirectory, unlinkIfPresent, type FileSystem } from '../fs/file-system.js';
import { BACKUP_MANIFEST_NAME } from './backup-manifest.js';
import { TEMPORARY_SUFFIX } from './durable-files.js';

export class BackupUndo {
  /** Directories this backup created, parents before children. */
  readonly made: string[] = [];

  constructor(
    private readonly fileSystem: FileSystem,
    private readonly targetDirectory: string,
  ) {}

  /** Removes what the backup made; never throws. */
  async undo(): Promise<void> {
    try {
      const { fileSystem, targetDirectory } = this;
      await unlinkIfPresent(fileSystem, joinPath(targetDirectory, BACKUP_MANIFEST_NAME));
      await unlinkIfPresent(fileSystem, joinPath(targetDirectory, BACKUP_MANIFEST_NAME + TEMPORARY_SUFFIX));
      if (await fileSystem.exists(targetDirectory)) await fileSystem.syncDirectory(targetDirectory);
      const tops = this.made.filter((directory) => !this.made.includes(parentDirectory(directory)));
      for (const top of tops.reverse()) {
        await removeTree(fileSystem, top);
        await fileSystem.syncDirectory(parentDirectory(top));
      }
    } catch {
      // left as it is: no BACKUP.json (removed first), which verify calls incomplete
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
