/**
 * Which name, if any, makes a directory a backup directory rather than a store (docs/FORMAT.md
 * "Backup directory"): openStore refuses such a directory before writing anything into it.
 *
 * Invariants
 * - BACKUP.json and BACKUP-INCOMPLETE always mark a backup (or a restore cut short).
 * - BACKUP-INCOMPLETE.tmp marks one only where no open has made a store: an earlier release
 *   wrote the mark under that name and renamed it, so a backup or restore killed in between
 *   left the temporary name only, beside nothing an open writes; this release creates the mark
 *   under its own name and never writes the temporary one. Where a manifest generation or a
 *   WAL segment is there, an open (that earlier release's, after the kill) made a store that
 *   may hold acknowledged writes: the leftover does not make it unopenable.
 */
import { isFileSystemError, joinPath, type FileSystem } from '../fs/file-system.js';
import { Manifest } from '../manifest/manifest.js';
import { listSegments } from '../wal/segment-files.js';
import { BACKUP_INCOMPLETE_NAME, BACKUP_MANIFEST_NAME } from './backup-manifest.js';
import { TEMPORARY_SUFFIX } from './durable-files.js';

/** The temporary name an earlier release wrote the incomplete mark under before renaming it. */
export const BACKUP_INCOMPLETE_TEMPORARY_NAME = BACKUP_INCOMPLETE_NAME + TEMPORARY_SUFFIX;

/** The mark that makes `directory` a backup directory (a backup, or a backup or restore cut short), or undefined. */
export async function backupMarkIn(fileSystem: FileSystem, directory: string): Promise<string | undefined> {
  const names = [BACKUP_MANIFEST_NAME, BACKUP_INCOMPLETE_NAME, BACKUP_INCOMPLETE_TEMPORARY_NAME];
  const present = await Promise.all(names.map((name) => fileSystem.exists(joinPath(directory, name))));
  if (present[0] === true) return BACKUP_MANIFEST_NAME;
  if (present[1] === true) return BACKUP_INCOMPLETE_NAME;
  if (present[2] !== true || (await holdsStore(fileSystem, directory))) return undefined;
  return BACKUP_INCOMPLETE_TEMPORARY_NAME;
}

/** True when an open made a store in `directory`: a manifest generation, or a WAL segment (a release-0.1 store has only those). */
async function holdsStore(fileSystem: FileSystem, directory: string): Promise<boolean> {
  if (Manifest.listed(await Manifest.list(fileSystem, directory))) return true;
  const segments = await listSegments(fileSystem, joinPath(directory, 'wal')).catch((error: unknown) => {
    if (isFileSystemError(error, 'ENOENT')) return [];
    throw error;
  });
  return segments.length > 0;
}
