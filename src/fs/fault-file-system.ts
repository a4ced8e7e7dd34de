/**
 * FaultFileSystem: an in-memory FileSystem for crash and fault tests.
 *
 * Model
 * - A file is an inode with `current` content (what reads see, like the page
 *   cache), `durable` content (as of its last successful datasync/sync) and the
 *   ordered list of writes and truncates made since then (pending). A successful
 *   datasync or sync (treated the same) applies the pending list to `durable`.
 * - A directory has a `current` and a `durable` map of entries (name -> file or
 *   subdirectory). Creating, renaming, linking, unlinking, mkdir-ing or removing an entry
 *   changes `current` only; syncDirectory(parent) copies `current` to `durable`.
 *   The root '/' always exists. Paths must be absolute; repeated and trailing
 *   slashes, '.' and '..' are normalised lexically.
 * - Handles refer to the inode, not the path: they keep working after the file
 *   is renamed or unlinked, as on POSIX.
 *
 * Faults (deterministic; the only randomness is a mulberry32 generator seeded by
 * the constructor and used by crash())
 * - injectFault() fails the nth matching call from now (or every one from then
 *   on if persistent) with a Node-style error. The failed call changes nothing:
 *   a failed write writes no byte, a failed rename renames nothing.
 * - A failed datasync/sync (any injected code) models Linux "fsyncgate": the
 *   file's pending writes are dropped without becoming durable, while reads still
 *   see them (details in fault/fault-file-handle.ts). As on Linux (errseq_t),
 *   every other handle open on the file at that moment then fails its next
 *   datasync/sync once with the same code; handles opened later are not told.
 * - A failed syncDirectory leaves the directory's entries pending; a later
 *   successful syncDirectory makes them durable.
 * - crashAfterOperations(n) lets n more FileSystem/FileHandle calls through and
 *   fails every later call with code 'ESIMULATEDCRASH' (see isSimulatedCrash).
 * - crash(mode) returns a new instance holding what a machine would see after a
 *   power loss and reboot, and kills this one (every call then fails with
 *   'ESIMULATEDCRASH', including calls on its open handles). Modes, each
 *   described in fault/crash-image-builder.ts: 'drop-unsynced' (durable state
 *   only), 'random-subset' (each pending 512-byte sector and entry change
 *   survives with probability 1/2), 'torn-last-write' (all pending data except a
 *   strict prefix of the last write; durable entries) and 'keep-all' (a process
 *   kill). The new instance has everything durable, operationCount 0, no faults,
 *   and continues the same random generator (runs are reproducible; successive
 *   crashes differ).
 *
 * Components (src/fs/fault/)
 * - growable-bytes.ts      file content;
 * - inode-tree.ts          file and directory nodes, path parsing and lookup;
 * - fault-controller.ts    call counting, injected faults, simulated crash errors;
 * - fault-file-handle.ts   open files, fsync failure;
 * - crash-image-builder.ts the tree after a crash, per mode, with the sector logic;
 * - seeded-random.ts       the generator.
 * This file keeps the FileSystem calls and re-exports the public symbols, so
 * importers use only this path.
 *
 * Limits
 * - No reordering between files or between data and entries beyond what the
 *   crash modes do (see crash-image-builder.ts for the per-name entry choice).
 * - No short writes, free-space accounting, permissions, symlinks or timestamps. Handles offer readSync (counted and faulted as a 'read', like read).
 *   Every call completes synchronously inside its promise, so concurrent
 *   calls apply in call order.
 */
import { fileSystemError, isFileSystemError, type FileHandle, type FileSystem, type OpenMode } from './file-system.js';
import { CRASH_MODES, CrashImageBuilder, type CrashMode } from './fault/crash-image-builder.js';
import { FaultController, type FaultInjection, type InjectedFault } from './fault/fault-controller.js';
import { FaultFileHandle, requireNonNegativeInteger } from './fault/fault-file-handle.js';
import {
  collectFilePaths,
  DirectoryNode,
  FileNode,
  lookupEntry,
  parsePath,
  walkDirectory,
  type Entry,
  type ParsedPath,
} from './fault/inode-tree.js';
import { SeededRandom } from './fault/seeded-random.js';

export { SECTOR_SIZE_BYTES, type CrashMode } from './fault/crash-image-builder.js';
export {
  isSimulatedCrash,
  type FaultInjection,
  type FaultOperation,
  type InjectedFault,
} from './fault/fault-controller.js';

const OPEN_MODES: readonly OpenMode[] = ['read', 'readWrite', 'createExclusive'];

// ---------------------------------------------------------------------------
// The file system

export class FaultFileSystem implements FileSystem {
  private root = new DirectoryNode();
  private controller = new FaultController();
  private random: SeededRandom;

  constructor(seed = 1) {
    this.random = new SeededRandom(seed);
  }

  /** FileSystem and FileHandle calls made on this instance so far. */
  get operationCount(): number {
    return this.controller.operationCount;
  }

  injectFault(injection: FaultInjection): InjectedFault {
    return this.controller.addFault(injection);
  }

  clearFaults(): void {
    this.controller.clearFaults();
  }

  /** Lets `operationCount` more calls through; every later call fails with ESIMULATEDCRASH. */
  crashAfterOperations(operationCount: number): void {
    requireNonNegativeInteger(operationCount, 'operationCount');
    this.controller.crashAfter(operationCount);
  }

  /** The state after a power loss and reboot, as a new instance; this one dies. */
  crash(mode: CrashMode): FaultFileSystem {
    if (!CRASH_MODES.includes(mode)) throw new RangeError(`unknown crash mode ${String(mode)}`);
    this.controller.assertAlive('crash', '/');
    this.controller.kill();
    const builder = new CrashImageBuilder(mode, this.random, this.controller.lastWriteSequence);
    const rebooted = new FaultFileSystem();
    rebooted.root = builder.rebuildDirectory(this.root, new Set());
    rebooted.random = this.random;
    return rebooted;
  }

  /** Simulated media corruption: flips `bit` (0-7) of a byte in the durable and current content. */
  flipBit(path: string, byteOffset: number, bit: number): void {
    this.controller.assertAlive('flipBit', path);
    requireNonNegativeInteger(byteOffset, 'byteOffset');
    if (!Number.isInteger(bit) || bit < 0 || bit > 7) throw new RangeError(`bit must be 0-7, got ${bit}`);
    const file = this.existingFile(parsePath(path, 'flipBit'), 'flipBit');
    const flippedDurable = file.durable.flipBit(byteOffset, bit);
    const flippedCurrent = file.current.flipBit(byteOffset, bit);
    if (!flippedDurable && !flippedCurrent) throw new RangeError(`byte ${byteOffset} is past the end of ${path}`);
  }

  /** The durable content of the file durably named `path` (what 'drop-unsynced' would keep), if any. */
  durableContent(path: string): Uint8Array | undefined {
    this.controller.assertAlive('durableContent', path);
    try {
      const entry = lookupEntry(this.root, parsePath(path, 'durableContent'), 'durable', 'durableContent');
      return entry instanceof FileNode ? entry.durable.view().slice() : undefined;
    } catch (error) {
      if (isFileSystemError(error, 'ENOENT') || isFileSystemError(error, 'ENOTDIR')) return undefined;
      throw error;
    }
  }

  /** Every current file path (hard links once per name), sorted. */
  listPaths(): string[] {
    this.controller.assertAlive('listPaths', '/');
    const paths: string[] = [];
    collectFilePaths(this.root, '/', paths);
    return paths.sort();
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const target = this.begin('open', path);
    if (!OPEN_MODES.includes(mode)) throw fileSystemError('EINVAL', 'open', target.path);
    const file = mode === 'createExclusive' ? this.createFile(target) : this.existingFile(target, 'open');
    return new FaultFileHandle(target.path, file, mode !== 'read', this.controller);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const target = this.begin('readFile', path);
    return this.existingFile(target, 'readFile').current.view().slice();
  }

  async readdir(dir: string): Promise<string[]> {
    const target = this.begin('readdir', dir);
    return [...this.existingDirectory(target, 'readdir').current.keys()];
  }

  async mkdir(dir: string): Promise<void> {
    const target = this.begin('mkdir', dir);
    let directory = this.root;
    for (const [index, name] of target.components.entries()) {
      const entry = directory.current.get(name);
      if (entry instanceof FileNode) {
        throw fileSystemError(index === target.components.length - 1 ? 'EEXIST' : 'ENOTDIR', 'mkdir', target.path);
      }
      directory = entry ?? this.addDirectory(directory, name);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const [source, destination] = this.beginTwoPaths('rename', from, to);
    const sourceParent = this.parentOf(source, 'rename');
    const entry = sourceParent.current.get(this.lastName(source, 'rename'));
    if (entry === undefined) throw fileSystemError('ENOENT', 'rename', source.path);
    const destinationParent = this.parentOf(destination, 'rename');
    const replaced = destinationParent.current.get(this.lastName(destination, 'rename'));
    if (replaced === entry) return;
    checkRenameAllowed(entry, replaced, source.path, destination.path);
    destinationParent.current.set(this.lastName(destination, 'rename'), entry);
    sourceParent.current.delete(this.lastName(source, 'rename'));
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    const [existing, created] = this.beginTwoPaths('link', existingPath, newPath);
    const file = this.existingFile(existing, 'link', 'EPERM');
    if (lookupEntry(this.root, created, 'current', 'link') !== undefined) {
      throw fileSystemError('EEXIST', 'link', created.path);
    }
    this.parentOf(created, 'link').current.set(this.lastName(created, 'link'), file);
  }

  async unlink(path: string): Promise<void> {
    const target = this.begin('unlink', path);
    this.existingFile(target, 'unlink');
    this.parentOf(target, 'unlink').current.delete(this.lastName(target, 'unlink'));
  }

  /** rmdir(2): the entry leaves the parent's current map only (durable after syncDirectory(parent)). */
  async removeDirectory(dir: string): Promise<void> {
    const target = this.begin('removeDirectory', dir);
    const directory = this.existingDirectory(target, 'rmdir');
    if (directory.current.size > 0) throw fileSystemError('ENOTEMPTY', 'rmdir', target.path);
    this.parentOf(target, 'rmdir').current.delete(this.lastName(target, 'rmdir'));
  }

  async exists(path: string): Promise<boolean> {
    const target = this.begin('exists', path);
    try {
      return lookupEntry(this.root, target, 'current', 'exists') !== undefined;
    } catch (error) {
      if (isFileSystemError(error, 'ENOENT') || isFileSystemError(error, 'ENOTDIR')) return false;
      throw error;
    }
  }

  async syncDirectory(dir: string): Promise<void> {
    const target = this.begin('syncDirectory', dir);
    this.existingDirectory(target, 'syncDirectory').makeDurable();
  }

  /** Counts the call, normalises the path, then fails it if a fault is due. */
  private begin(operation: string, path: string): ParsedPath {
    this.controller.countOperation(operation, path);
    const target = parsePath(path, operation);
    this.controller.throwFault(operation, [target.path]);
    return target;
  }

  private beginTwoPaths(operation: string, first: string, second: string): [ParsedPath, ParsedPath] {
    this.controller.countOperation(operation, `${first} -> ${second}`);
    const parsed: [ParsedPath, ParsedPath] = [parsePath(first, operation), parsePath(second, operation)];
    this.controller.throwFault(operation, [parsed[0].path, parsed[1].path]);
    return parsed;
  }

  private existingFile(target: ParsedPath, syscall: string, directoryCode = 'EISDIR'): FileNode {
    const entry = lookupEntry(this.root, target, 'current', syscall);
    if (entry === undefined) throw fileSystemError('ENOENT', syscall, target.path);
    if (entry instanceof DirectoryNode) throw fileSystemError(directoryCode, syscall, target.path);
    return entry;
  }

  private existingDirectory(target: ParsedPath, syscall: string): DirectoryNode {
    const entry = lookupEntry(this.root, target, 'current', syscall);
    if (entry === undefined) throw fileSystemError('ENOENT', syscall, target.path);
    if (entry instanceof FileNode) throw fileSystemError('ENOTDIR', syscall, target.path);
    return entry;
  }

  private createFile(target: ParsedPath): FileNode {
    if (lookupEntry(this.root, target, 'current', 'open') !== undefined) {
      throw fileSystemError('EEXIST', 'open', target.path);
    }
    const file = new FileNode();
    this.parentOf(target, 'open').current.set(this.lastName(target, 'open'), file);
    return file;
  }

  private addDirectory(parent: DirectoryNode, name: string): DirectoryNode {
    const directory = new DirectoryNode();
    parent.current.set(name, directory);
    return directory;
  }

  /** The current parent directory of `target`, which must not be the root. */
  private parentOf(target: ParsedPath, syscall: string): DirectoryNode {
    if (target.components.length === 0) throw fileSystemError('EBUSY', syscall, target.path);
    return walkDirectory(this.root, target.components.slice(0, -1), 'current', syscall, target.path);
  }

  private lastName(target: ParsedPath, syscall: string): string {
    const name = target.components.at(-1);
    if (name === undefined) throw fileSystemError('EBUSY', syscall, target.path);
    return name;
  }
}

function checkRenameAllowed(entry: Entry, replaced: Entry | undefined, from: string, to: string): void {
  if (entry instanceof FileNode) {
    if (replaced instanceof DirectoryNode) throw fileSystemError('EISDIR', 'rename', to);
    return;
  }
  if (replaced instanceof FileNode) throw fileSystemError('ENOTDIR', 'rename', to);
  if (replaced !== undefined && replaced.current.size > 0) throw fileSystemError('ENOTEMPTY', 'rename', to);
  if (to.startsWith(`${from}/`)) throw fileSystemError('EINVAL', 'rename', to);
}
