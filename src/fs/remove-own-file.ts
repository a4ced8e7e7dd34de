/**
 * Removing a file the store's own name pattern matched (an orphan run, an older manifest
 * generation): only a file is the store's. A directory under such a name (EISDIR from
 * unlink on Linux, EPERM on macOS) was never written by the store: a user's or another
 * tool's, it is left alone, and is no reason to fail an open.
 */
import { isFileSystemError, type FileSystem } from './file-system.js';

/** Unlinks `path`: true when removed, false when it is a directory (left alone) or already gone. Any other failure is thrown. */
export async function unlinkUnlessDirectory(fileSystem: FileSystem, path: string): Promise<boolean> {
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
