/**
 * File steps of backup and restore, each durable when it resolves.
 *
 * Invariants
 * - A file is written under `<name>.tmp`, datasynced, then renamed to its name: a
 *   crash never leaves a partial file under a final name. The caller syncs the
 *   directory (once for many files) before relying on the names. The one exception
 *   is a mark (writeMarkDurably), whose name is what counts, not its bytes.
 * - copyFile checks the bytes it copied against `expectedChecksum` when given, and
 *   leaves nothing under the final name if they differ; a copy that fails (its
 *   source gone, a read, write or datasync failed) removes its temporary file.
 */
import { BackupError, type BackupFailureReason } from '../errors.js';
import { isFileSystemError, parentDirectory, type FileSystem } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { notADirectoryError } from '../store/directory-argument.js';
import { readChunks } from './backup-manifest.js';

export const TEMPORARY_SUFFIX = '.tmp';

/** Writes `bytes` to `path` via a datasynced temporary file and a rename, then syncs the directory. */
export async function writeFileDurably(fileSystem: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const temporary = path + TEMPORARY_SUFFIX;
  if (await fileSystem.exists(temporary)) await fileSystem.unlink(temporary);
  await writeNewFile(fileSystem, temporary, bytes);
  await fileSystem.rename(temporary, path);
  await fileSystem.syncDirectory(parentDirectory(path));
}

/** Creates `path` (it must not exist), writes `bytes` and datasyncs it; the caller syncs the directory. */
async function writeNewFile(fileSystem: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  const handle = await fileSystem.open(path, 'createExclusive');
  try {
    await handle.write(bytes, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates the mark `path` (BACKUP-INCOMPLETE) under its own name at once, then writes,
 * datasyncs and syncs the directory: its name is what openStore refuses, so a kill at
 * any step leaves either no mark in a still empty directory or the mark (its bytes
 * perhaps partial), never a directory holding only `<mark>.tmp`, which opened as a
 * new, empty store.
 */
export async function writeMarkDurably(fileSystem: FileSystem, path: string, bytes: Uint8Array): Promise<void> {
  await writeNewFile(fileSystem, path, bytes);
  await fileSystem.syncDirectory(parentDirectory(path));
}

export interface CopiedFile {
  checksum: string;
  sizeBytes: number;
  linked: boolean;
  /** Pages read as zeros (unreadablePages 'zero'): a copy holds the zeros, a link's checksum is not the file's. */
  zeroedPages: number;
}

/**
 * Copies `from` to `to` (temporary name, datasync, rename; the caller syncs the
 * directory). With `mismatch`, a checksum other than `expectedChecksum` is a
 * BackupError of that reason. With `unreadablePages` 'zero', a page whose read fails
 * with EIO is copied as zeros (readChunks): the caller must check and rebuild the copy.
 */
export async function copyFile(
  fileSystem: FileSystem, from: string, to: string, hash: Hash64,
  expected?: { checksum: string; sizeBytes: number; mismatch: BackupFailureReason },
  unreadablePages?: 'zero',
): Promise<CopiedFile> {
  const temporary = to + TEMPORARY_SUFFIX;
  const output = await fileSystem.open(temporary, 'createExclusive');
  let copied: { checksum: string; sizeBytes: number; zeroedPages: number };
  try {
    copied = await readChunks(fileSystem, from, hash, (chunk, position) => output.write(chunk, position), { unreadablePages });
    await output.datasync();
  } catch (error) {
    // A source gone (ENOENT: compaction replaced the run; the backup retries) or a failed
    // read, write or datasync: the temporary is nobody's, and a retry must be able to create it.
    await output.close().catch(() => undefined);
    await fileSystem.unlink(temporary).catch(() => undefined);
    throw error;
  }
  await output.close();
  if (expected !== undefined && (copied.checksum !== expected.checksum || copied.sizeBytes !== expected.sizeBytes)) {
    await fileSystem.unlink(temporary);
    throw new BackupError(expected.mismatch, from, `checksum or size differs from BACKUP.json (${copied.sizeBytes} bytes)`);
  }
  await fileSystem.rename(temporary, to);
  return { ...copied, linked: false };
}

/** Error codes of a link that cannot work here (another file system, or none supported): copy instead. */
const LINK_UNSUPPORTED_CODES = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * Hard-links an immutable file when the file system allows, else copies it. A
 * missing source (ENOENT: compaction replaced the run) propagates to the caller.
 */
export async function linkOrCopyFile(fileSystem: FileSystem, from: string, to: string, hash: Hash64, unreadablePages?: 'zero'): Promise<CopiedFile> {
  try {
    await fileSystem.link(from, to);
  } catch (error) {
    if (!isFileSystemError(error) || !LINK_UNSUPPORTED_CODES.has(error.code)) throw error;
    return copyFile(fileSystem, from, to, hash, undefined, unreadablePages);
  }
  // An unreadable page (EIO) is summed as zeros too: the caller's run check reads it, rebuilds it
  // and writes it back (a rewritten file is summed again), or fails the backup.
  const read = await readChunks(fileSystem, to, hash, undefined, { unreadablePages });
  assert(read.sizeBytes >= 0, 'a linked file has a size');
  return { ...read, linked: true };
}

/** True when `directory` is missing or has no entries. */
export async function isEmptyOrMissing(fileSystem: FileSystem, directory: string, argument: string): Promise<boolean> {
  const entries = await directoryEntries(fileSystem, directory, argument);
  return entries === undefined || entries.length === 0;
}

/**
 * The entry names of `directory`, or undefined when nothing is at the path. A file at
 * the path or at one of its ancestors (readdir's ENOTDIR) is InvalidOptionError
 * `argument` naming the file: the caller's argument is wrong, and refused before
 * anything is done (it was an IoError ENOTDIR from a later step).
 */
export async function directoryEntries(fileSystem: FileSystem, directory: string, argument: string): Promise<string[] | undefined> {
  try {
    return await fileSystem.readdir(directory);
  } catch (error) {
    if (isFileSystemError(error, 'ENOENT')) return undefined;
    if (!isFileSystemError(error, 'ENOTDIR')) throw error;
  }
  throw await notADirectoryError(fileSystem, argument, directory);
}

