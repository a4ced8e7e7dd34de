/**
 * Backup and restore directories that nest. A backup written into its own store's
 * directory, a store's directory given as a backup target, a restore into (or holding)
 * the backup it reads: each is refused before anything is done, with InvalidOptionError
 * naming both paths (option `targetDirectory`). By path (lexically, after resolving `.`,
 * `..` and the working directory) here; through symbolic links by the callers' on-disk
 * checks (take-backup.ts insideStoreOnDisk, insideBackupOnDisk below).
 *
 * Why the target must not hold the source: it would not be empty (BackupError
 * 'target-not-empty' said only that), and the wrong argument is the better answer.
 * Why the target must not lie inside the source: the store would take a backup's files
 * for its own (open removes what runs/ holds that the manifest does not list), and a
 * store restored into a backup lives and changes inside the copy meant to stay as taken.
 */
import { Buffer } from 'node:buffer';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { InvalidOptionError } from '../errors.js';
import { joinPath, type FileSystem } from '../fs/file-system.js';
import { BACKUP_MANIFEST_NAME } from './backup-manifest.js';

/** How `target` and `source` nest by path: 'same', 'inside' (target below source), 'holds' (source below target), or undefined. */
export function pathNesting(target: string, source: string): 'same' | 'inside' | 'holds' | undefined {
  const from = resolve(source);
  const to = resolve(target);
  if (from === to) return 'same';
  const below = (path: string): boolean => path !== '' && path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path);
  if (below(relative(from, to))) return 'inside';
  if (below(relative(to, from))) return 'holds';
  return undefined;
}

/**
 * InvalidOptionError 'targetDirectory' when `target` is, lies inside or holds `source`
 * (`what`: 'the store directory', 'the backup directory'); undefined when they are apart.
 */
export function nestedTargetError(target: string, source: string, what: string): InvalidOptionError | undefined {
  switch (pathNesting(target, source)) {
    case 'same':
      return new InvalidOptionError('targetDirectory', `${target} is ${what} ${source}: the target must be another directory`);
    case 'inside':
      return new InvalidOptionError('targetDirectory', `${target} is inside ${what} ${source}: the copy would be written into what it copies`);
    case 'holds':
      return new InvalidOptionError('targetDirectory', `${target} holds ${what} ${source}: the target must be another directory, missing or empty`);
    default:
      return undefined;
  }
}

/** How many directories up from the target's deepest existing one a physical check looks. */
const PHYSICAL_ANCESTORS_MAX = 64;

/**
 * True when `matches` holds for one of the physical ancestors of `targetDirectory`'s
 * deepest existing directory (`dir`, `dir/..`, `dir/../..`, ...: the OS resolves `..`
 * after the symbolic links before it, so this sees through a link the lexical check of
 * pathNesting cannot). The on-disk halves of the nesting checks (insideBackupOnDisk
 * below, take-backup.ts insideStoreOnDisk) differ only in how they recognise the
 * directory they copy. Reads only.
 */
export async function physicalAncestorMatches(fileSystem: FileSystem, targetDirectory: string, matches: (directory: string) => Promise<boolean>): Promise<boolean> {
  let existing = targetDirectory;
  while (!(await fileSystem.exists(existing))) {
    const parent = dirname(existing);
    if (parent === existing) return false;
    existing = parent;
  }
  let ancestor = existing;
  for (let level = 0; level < PHYSICAL_ANCESTORS_MAX; level++) {
    if (await matches(ancestor)) return true;
    ancestor = joinPath(ancestor, '..');
  }
  return false;
}

/**
 * True when `targetDirectory` lies inside (or is) the backup directory as the OS resolves
 * it, through a symbolic link the lexical check cannot see: the backup is recognised by
 * its BACKUP.json bytes (a creation time and the checksum of every file) in one of the
 * physical ancestors of the target's deepest existing directory (physicalAncestorMatches).
 * Reads only; false without a BACKUP.json.
 */
export async function insideBackupOnDisk(fileSystem: FileSystem, backupDirectory: string, targetDirectory: string): Promise<boolean> {
  const own = await readOrUndefined(fileSystem, joinPath(backupDirectory, BACKUP_MANIFEST_NAME));
  if (own === undefined) return false;
  return physicalAncestorMatches(fileSystem, targetDirectory, async (ancestor) => {
    const found = await readOrUndefined(fileSystem, joinPath(ancestor, BACKUP_MANIFEST_NAME));
    return found !== undefined && own.equals(found);
  });
}

async function readOrUndefined(fileSystem: FileSystem, path: string): Promise<Buffer | undefined> {
  try {
    return Buffer.from(await fileSystem.readFile(path));
  } catch {
    return undefined; // missing, a directory: not a backup's manifest
  }
}
