/**
 * `ladybug backup` leaves the target as it found it when the backup fails (as pg_basebackup
 * removes what it created): store.backup() makes the target's directories (runs/, wal/,
 * manifest/) before it copies anything, and a failure after that (a damaged or missing run,
 * a write that fails) left them there, a half backup at first sight, refused as a target
 * by the next attempt once anything was in it.
 *
 * What is removed is only what the backup created: the target's first missing ancestor (and
 * everything under it) when the target did not exist; in a target that was an empty
 * directory, the entries a backup writes there. A target that held anything is never touched
 * (the backup refuses it, 'target-not-empty'). A crash or a kill skips this: the directory
 * left has no BACKUP.json, which verify and restore refuse as incomplete.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BACKUP_MANIFEST_NAME } from '../backup/backup-manifest.js';
import { BackupError, InvalidOptionError } from '../errors.js';
import { TEMPORARY_SUFFIX } from '../backup/durable-files.js';
import { BACKUP_WAL_DIRECTORY } from '../backup/take-backup.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';

/** The names store.backup() writes into its target. */
const BACKUP_ENTRIES = [RUNS_DIRECTORY, BACKUP_WAL_DIRECTORY, MANIFEST_DIRECTORY_NAME, BACKUP_MANIFEST_NAME, BACKUP_MANIFEST_NAME + TEMPORARY_SUFFIX];

/**
 * Runs `backup` (store.backup() into the absolute path `target`, the store open) and, when it
 * fails, removes what it created, then rethrows. What to remove is noted just before it starts.
 * A refusal before it made anything (a target not empty, inside the store, below a file) removes
 * nothing: that directory may be another backup's. Best effort: a removal that fails leaves a
 * directory without BACKUP.json, which is no backup either.
 */
export async function withBackupCleanup<T>(target: string, backup: () => Promise<T>): Promise<T> {
  const undo = backupCleanup(target);
  try {
    return await backup();
  } catch (error) {
    const refusedFirst = error instanceof InvalidOptionError || (error instanceof BackupError && error.reason === 'target-not-empty');
    if (!refusedFirst) {
      try {
        undo();
      } catch {
        // left as it is: no BACKUP.json, verify calls it incomplete
      }
    }
    throw error;
  }
}

/** What a failure of a backup into `target` should remove, noted now; the returned function removes it. */
function backupCleanup(target: string): () => void {
  if (!present(target)) {
    let created = target;
    while (!present(dirname(created)) && dirname(created) !== created) created = dirname(created);
    return () => rmSync(created, { recursive: true, force: true });
  }
  let empty: boolean;
  try {
    empty = readdirSync(target).length === 0;
  } catch {
    empty = false; // not a directory we can list: the backup refuses it, nothing to undo
  }
  if (!empty) return () => undefined;
  return () => {
    for (const name of BACKUP_ENTRIES) rmSync(join(target, name), { recursive: true, force: true });
  };
}

/** True when `path` names anything, a dangling symbolic link too (never removed as "created"). */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
