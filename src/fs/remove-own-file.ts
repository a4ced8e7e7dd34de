/**
 * Removing a file the store's own name pattern matched (an orphan run, an older manifest
 * generation): only a regular file is the store's. A directory under such a name (EISDIR
 * from unlink on Linux, EPERM on macOS), or a fifo, socket or device (the store never
 * makes one: a user's or another tool's, such as a socket a sidecar listens on) was never
 * written by the store: it is left alone, and is no reason to fail an open.
 */
import { isFileSystemError, type FileSystem } from './file-system.js';

/**
 * True when `path` is a fifo, socket or device: the file system refuses to open it for
 * reading (EINVAL 'not a regular file' from node-file-system.ts; ENXIO for a socket) without
 * blocking. One open and close, only for a name about to be removed (orphans are rare).
 */
async function isSpecialFile(fileSystem: FileSystem, path: string): Promise<boolean> {
  try {
    await (await fileSystem.open(path, 'read')).close();
    return false;
  } catch (error) {
    return isFileSystemError(error, 'EINVAL') || isFileSystemError(error, 'ENXIO');
  }
}

/** Unlinks `path`: true when removed, false when it is a directory or a special file (left alone) or already gone. Any other failure is thrown. */
export async function unlinkUnlessDirectory(fileSystem: FileSystem, path: string): Promise<boolean> {
  if (await isSpecialFile(fileSystem, path)) return false;
  try {
    await fileSystem.unlink(path);
    return true;
  } catch (error) {
    if (isFileSystemError(error, 'ENOENT')) return false;
    if (!isFileSystemError(error, 'EISDIR') && !isFileSystemError(error, 'EPERM')) throw error;
    // EPERM is also a file the process may not remove: only a listable path is a directory.
    if (!(await fileSystem.readdir(path).then(() => true, () => false))) throw error;
    return false;
  }
}
