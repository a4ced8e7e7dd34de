/**
 * A path argument that must name a directory (a store's, a backup's, a restore's
 * target) but is a file or lies below one: refused with InvalidOptionError naming the
 * argument and the file, rather than the IoError ENOTDIR of whichever step met it
 * first (a stat, a readdir, a mkdir), which read as a failure of the disk.
 */
import { dirname } from 'node:path';
import { InvalidOptionError } from '../errors.js';
import { isFileSystemError, type FileSystem } from '../fs/file-system.js';

/** The refusal of `path` (given as `argument`), after an ENOTDIR met on it: says which path on the way is the file. */
export async function notADirectoryError(fileSystem: FileSystem, argument: string, path: string): Promise<InvalidOptionError> {
  const file = await fileOnPath(fileSystem, path);
  return new InvalidOptionError(argument, file === path ? `${path} is a file, not a directory` : `${path} is not a directory: ${file} is a file`);
}

/** The ancestor-or-self of `path` (which met ENOTDIR) that is a file: the last one whose parent reads as a directory. Reads only. */
async function fileOnPath(fileSystem: FileSystem, path: string): Promise<string> {
  for (let current = path; ;) {
    const parent = dirname(current);
    if (parent === current) return current;
    try {
      await fileSystem.readdir(parent);
      return current;
    } catch (error) {
      if (!isFileSystemError(error, 'ENOTDIR')) return current;
    }
    current = parent;
  }
}
