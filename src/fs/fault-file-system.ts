/**
 * FaultFileSystem: an in-memory FileSystem for crash and fault tests.
 *
 * Model
 * - A file is an inode with `current` content (what reads see, like the page
 *   cache), `durable` content (as of its last successful datasync/sync) and the
 *   ordered list of writes and truncates made since then (pending). A successful
 *   datasync or sync (treated the same) applies the pending list to `durable`.
 * - A directory has a `current` and a `durable` map of entries (name -> file or
 *   subdirectory). Creating, renaming, linking, unlinking or mkdir-ing an entry
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
 *   file's pending writes are dropped from the pending list without becoming
 *   durable, while reads still see them. A later successful sync does not make
 *   them durable, so code that retries fsync and trusts it loses data here.
 * - A failed syncDirectory leaves the directory's entries pending; a later
 *   successful syncDirectory makes them durable.
 * - crashAfterOperations(n) lets n more FileSystem/FileHandle calls through and
 *   fails every later call with code 'ESIMULATEDCRASH' (see isSimulatedCrash).
 * - crash(mode) returns a new instance holding what a machine would see after a
 *   power loss and reboot, and kills this one (every call then fails with
 *   'ESIMULATEDCRASH', including calls on its open handles):
 *   'drop-unsynced'   durable content and durable entries only;
 *   'random-subset'   every pending write is split into 512-byte sectors aligned
 *                     to file offsets, each surviving with probability 1/2 (a
 *                     pending truncate too); every entry name whose durable and
 *                     current targets differ takes the current one with
 *                     probability 1/2. A file reached by several names gets one
 *                     content;
 *   'torn-last-write' every pending change survives except the last write made
 *                     anywhere (if still pending), of which only a strict prefix
 *                     survives: whole sectors plus possibly part of the next one;
 *                     durable entries only;
 *   'keep-all'        everything, entries included (a process kill: the page
 *                     cache survives).
 *   The new instance has everything durable, operationCount 0, no faults, and
 *   continues the same random generator (runs are reproducible; successive
 *   crashes differ).
 *
 * Limits
 * - No reordering between files or between data and entries beyond what the
 *   modes do. Entry changes are decided per (directory, name), not per call: after
 *   'random-subset', an unsynced rename of a durable file to a fresh name can
 *   leave the file under both names or under neither.
 * - File size is not modelled apart from data: a surviving sector beyond the end
 *   extends the file (zero-filled). datasync and sync are identical.
 * - Fsyncgate is modelled per write, not per page: a lost write stays lost even if
 *   a later synced write touches the same page (Linux would rewrite the page).
 * - No short writes, free-space accounting, permissions, symlinks, timestamps or
 *   rmdir. Every call completes synchronously inside its promise, so concurrent
 *   calls apply in call order.
 */
import { assertNever } from '../util/assert.js';
import {
  fileSystemError,
  isFileSystemError,
  type FileHandle,
  type FileSystem,
  type FileSystemError,
  type OpenMode,
} from './file-system.js';

export const SECTOR_SIZE_BYTES = 512;

const SIMULATED_CRASH_CODE = 'ESIMULATEDCRASH';

export type FaultOperation =
  | 'open'
  | 'read'
  | 'write'
  | 'datasync'
  | 'sync'
  | 'truncate'
  | 'rename'
  | 'link'
  | 'unlink'
  | 'syncDirectory'
  | 'mkdir'
  | 'readFile'
  | 'readdir';

export interface FaultInjection {
  operation: FaultOperation;
  /** The error code to fail with: 'EIO', 'ENOSPC' or any errno string. */
  error: string;
  /** Only calls on this path (exact, after normalisation) or matching this RegExp; rename and link match either path. */
  path?: string | RegExp;
  /** Fail the nth matching call from now (1-based); default 1. */
  nth?: number;
  /** Keep failing every matching call after the nth; default false. */
  persistent?: boolean;
}

export interface InjectedFault {
  /** How many calls this fault has failed so far. */
  readonly triggeredCount: number;
  /** Disarms the fault. */
  remove(): void;
}

export type CrashMode = 'drop-unsynced' | 'random-subset' | 'torn-last-write' | 'keep-all';

const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];
const OPEN_MODES: readonly OpenMode[] = ['read', 'readWrite', 'createExclusive'];

export function isSimulatedCrash(error: unknown): boolean {
  return isFileSystemError(error, SIMULATED_CRASH_CODE);
}

function simulatedCrashError(syscall: string, path: string): FileSystemError {
  const error = new Error(`simulated crash: ${syscall} '${path}'`) as FileSystemError;
  error.code = SIMULATED_CRASH_CODE;
  return error;
}

function requireNonNegativeInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

// ---------------------------------------------------------------------------
// Randomness

/** mulberry32: a tiny seeded generator, good enough for choosing crash outcomes. */
class SeededRandom {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number {
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  nextBoolean(): boolean {
    return this.nextFloat() < 0.5;
  }
}

// ---------------------------------------------------------------------------
// Content

/** A byte array that grows by doubling. Bytes past `sizeBytes` are always zero. */
class GrowableBytes {
  private bytes: Uint8Array;
  private lengthBytes: number;

  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.bytes = initial.slice();
    this.lengthBytes = initial.length;
  }

  get sizeBytes(): number {
    return this.lengthBytes;
  }

  /** A live view of the content; valid until the next change. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.lengthBytes);
  }

  copy(): GrowableBytes {
    return new GrowableBytes(this.view());
  }

  /** Writes `data` at `position`, zero-filling any gap; an empty write changes nothing. */
  write(data: Uint8Array, position: number): void {
    if (data.length === 0) return;
    const endBytes = position + data.length;
    this.ensureCapacity(endBytes);
    this.bytes.set(data, position);
    this.lengthBytes = Math.max(this.lengthBytes, endBytes);
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.lengthBytes) {
      this.bytes.fill(0, sizeBytes, this.lengthBytes);
    } else {
      this.ensureCapacity(sizeBytes);
    }
    this.lengthBytes = sizeBytes;
  }

  read(target: Uint8Array, targetOffset: number, length: number, position: number): number {
    const count = Math.max(0, Math.min(length, this.lengthBytes - position));
    target.set(this.bytes.subarray(position, position + count), targetOffset);
    return count;
  }

  /** Flips one bit if `byteOffset` is inside the content; returns whether it did. */
  flipBit(byteOffset: number, bit: number): boolean {
    if (byteOffset >= this.lengthBytes) return false;
    this.bytes[byteOffset] = (this.bytes[byteOffset] ?? 0) ^ (1 << bit);
    return true;
  }

  private ensureCapacity(requiredBytes: number): void {
    if (requiredBytes <= this.bytes.length) return;
    const capacityBytes = Math.max(requiredBytes, this.bytes.length * 2, 64);
    const grown = new Uint8Array(capacityBytes);
    grown.set(this.view());
    this.bytes = grown;
  }
}

type PendingChange =
  | { kind: 'write'; position: number; data: Uint8Array; sequence: number }
  | { kind: 'truncate'; sizeBytes: number };

function applyChange(content: GrowableBytes, change: PendingChange): void {
  if (change.kind === 'write') content.write(change.data, change.position);
  else content.truncate(change.sizeBytes);
}

/** A file's inode. */
class FileNode {
  readonly current: GrowableBytes;
  readonly durable: GrowableBytes;
  pending: PendingChange[] = [];

  /** A file whose `content` is both current and durable. */
  constructor(content: GrowableBytes = new GrowableBytes()) {
    this.current = content;
    this.durable = content.copy();
  }

  write(data: Uint8Array, position: number, sequence: number): void {
    if (data.length === 0) return;
    const owned = data.slice();
    this.current.write(owned, position);
    this.pending.push({ kind: 'write', position, data: owned, sequence });
  }

  truncate(sizeBytes: number): void {
    this.current.truncate(sizeBytes);
    this.pending.push({ kind: 'truncate', sizeBytes });
  }

  makeDurable(): void {
    for (const change of this.pending) applyChange(this.durable, change);
    this.pending = [];
  }

  /** A failed fsync: the pending changes are marked clean without reaching the disk. */
  discardPending(): void {
    this.pending = [];
  }
}

type Entry = FileNode | DirectoryNode;
type EntryView = 'current' | 'durable';

class DirectoryNode {
  current = new Map<string, Entry>();
  durable = new Map<string, Entry>();

  /** A directory whose `entries` are both current and durable. */
  static withDurableEntries(entries: Map<string, Entry>): DirectoryNode {
    const directory = new DirectoryNode();
    directory.current = entries;
    directory.durable = new Map(entries);
    return directory;
  }

  entries(view: EntryView): Map<string, Entry> {
    return view === 'current' ? this.current : this.durable;
  }

  makeDurable(): void {
    this.durable = new Map(this.current);
  }
}

// ---------------------------------------------------------------------------
// Paths

interface ParsedPath {
  /** The normalised path, as used in errors and fault matching. */
  path: string;
  components: string[];
}

function parsePath(path: string, syscall: string): ParsedPath {
  if (!path.startsWith('/')) throw fileSystemError('EINVAL', syscall, path);
  const components: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') components.pop();
    else components.push(part);
  }
  return { path: `/${components.join('/')}`, components };
}

/** The directory at `components` (every one must be a directory). */
function walkDirectory(
  root: DirectoryNode,
  components: readonly string[],
  view: EntryView,
  syscall: string,
  path: string,
): DirectoryNode {
  let directory = root;
  for (const name of components) {
    const entry = directory.entries(view).get(name);
    if (entry === undefined) throw fileSystemError('ENOENT', syscall, path);
    if (entry instanceof FileNode) throw fileSystemError('ENOTDIR', syscall, path);
    directory = entry;
  }
  return directory;
}

/** The entry at `target`, or undefined if its parent exists but it does not. */
function lookupEntry(root: DirectoryNode, target: ParsedPath, view: EntryView, syscall: string): Entry | undefined {
  const name = target.components.at(-1);
  if (name === undefined) return root;
  const parent = walkDirectory(root, target.components.slice(0, -1), view, syscall, target.path);
  return parent.entries(view).get(name);
}

// ---------------------------------------------------------------------------
// Operation counting and injected faults

class ArmedFault implements InjectedFault {
  triggeredCount = 0;
  private remainingMatches: number;

  constructor(
    private readonly injection: FaultInjection,
    private readonly onRemove: (fault: ArmedFault) => void,
  ) {
    const nth = injection.nth ?? 1;
    if (!Number.isSafeInteger(nth) || nth < 1) throw new RangeError(`nth must be a positive integer, got ${nth}`);
    this.remainingMatches = nth;
  }

  matches(operation: string, paths: readonly string[]): boolean {
    if (operation !== this.injection.operation) return false;
    const pattern = this.injection.path;
    if (pattern === undefined) return true;
    return paths.some((path) => (typeof pattern === 'string' ? path === pattern : path.search(pattern) >= 0));
  }

  /** Counts one matching call; true once the fault is due (it stays due until it fires). */
  countMatch(): boolean {
    if (this.remainingMatches > 1) {
      this.remainingMatches -= 1;
      return false;
    }
    return true;
  }

  fire(syscall: string, path: string): FileSystemError {
    this.triggeredCount += 1;
    if (this.injection.persistent !== true) this.remove();
    return fileSystemError(this.injection.error, syscall, path);
  }

  remove(): void {
    this.onRemove(this);
  }
}

/** Shared by a FaultFileSystem and its handles: counts calls, injects faults, numbers writes. */
class FaultController {
  operationCount = 0;
  lastWriteSequence = 0;
  private crashThreshold: number | undefined;
  private dead = false;
  private faults: ArmedFault[] = [];

  /** Counts a call; throws the simulated crash if the machine is down. */
  countOperation(syscall: string, path: string): void {
    this.assertAlive(syscall, path);
    this.operationCount += 1;
    if (this.crashThreshold !== undefined && this.operationCount > this.crashThreshold) {
      throw simulatedCrashError(syscall, path);
    }
  }

  assertAlive(syscall: string, path: string): void {
    if (this.dead) throw simulatedCrashError(syscall, path);
  }

  /** The injected error this call must fail with, if any. */
  takeFault(operation: string, paths: readonly string[]): FileSystemError | undefined {
    let chosen: FileSystemError | undefined;
    for (const fault of [...this.faults]) {
      if (!fault.matches(operation, paths) || !fault.countMatch()) continue;
      chosen ??= fault.fire(operation, paths.join(' -> '));
    }
    return chosen;
  }

  throwFault(operation: string, paths: readonly string[]): void {
    const fault = this.takeFault(operation, paths);
    if (fault !== undefined) throw fault;
  }

  addFault(injection: FaultInjection): InjectedFault {
    const fault = new ArmedFault(injection, (removed) => {
      this.faults = this.faults.filter((candidate) => candidate !== removed);
    });
    this.faults.push(fault);
    return fault;
  }

  clearFaults(): void {
    this.faults = [];
  }

  crashAfter(operationCount: number): void {
    this.crashThreshold = this.operationCount + operationCount;
  }

  nextWriteSequence(): number {
    this.lastWriteSequence += 1;
    return this.lastWriteSequence;
  }

  kill(): void {
    this.dead = true;
  }
}

// ---------------------------------------------------------------------------
// Handles

class FaultFileHandle implements FileHandle {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly file: FileNode,
    private readonly writable: boolean,
    private readonly controller: FaultController,
  ) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.begin('read', false);
    requireNonNegativeInteger(offset, 'offset');
    requireNonNegativeInteger(length, 'length');
    requireNonNegativeInteger(position, 'position');
    if (offset + length > buffer.length) throw new RangeError('offset + length exceeds the buffer');
    return this.file.current.read(buffer, offset, length, position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.begin('write', true);
    requireNonNegativeInteger(position, 'position');
    this.file.write(data, position, this.controller.nextWriteSequence());
  }

  async datasync(): Promise<void> {
    this.syncFile('datasync');
  }

  async sync(): Promise<void> {
    this.syncFile('sync');
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.begin('truncate', true);
    requireNonNegativeInteger(sizeBytes, 'sizeBytes');
    this.file.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    this.begin('size', false);
    return this.file.current.sizeBytes;
  }

  async close(): Promise<void> {
    this.begin('close', false);
    this.closed = true;
  }

  private begin(operation: string, needsWrite: boolean): void {
    this.countAndCheckOpen(operation, needsWrite);
    this.controller.throwFault(operation, [this.path]);
  }

  private countAndCheckOpen(operation: string, needsWrite: boolean): void {
    this.controller.countOperation(operation, this.path);
    if (this.closed || (needsWrite && !this.writable)) throw fileSystemError('EBADF', operation, this.path);
  }

  private syncFile(operation: 'datasync' | 'sync'): void {
    this.countAndCheckOpen(operation, false);
    const fault = this.controller.takeFault(operation, [this.path]);
    if (fault !== undefined) {
      this.file.discardPending();
      throw fault;
    }
    this.file.makeDurable();
  }
}

// ---------------------------------------------------------------------------
// Crash images

/** Builds the tree a rebooted machine would see, for one crash mode. */
class CrashImageBuilder {
  private readonly rebuiltFiles = new Map<FileNode, FileNode>();

  constructor(
    private readonly mode: CrashMode,
    private readonly random: SeededRandom,
    private readonly tornWriteSequence: number,
  ) {}

  rebuildDirectory(directory: DirectoryNode, ancestors: Set<DirectoryNode>): DirectoryNode {
    const entries = new Map<string, Entry>();
    ancestors.add(directory);
    for (const [name, entry] of this.survivingEntries(directory)) {
      if (entry instanceof FileNode) entries.set(name, this.rebuildFile(entry));
      else if (!ancestors.has(entry)) entries.set(name, this.rebuildDirectory(entry, ancestors));
    }
    ancestors.delete(directory);
    return DirectoryNode.withDurableEntries(entries);
  }

  private survivingEntries(directory: DirectoryNode): Map<string, Entry> {
    switch (this.mode) {
      case 'keep-all':
        return directory.current;
      case 'random-subset':
        return this.mixedEntries(directory);
      case 'drop-unsynced':
      case 'torn-last-write':
        return directory.durable;
      default:
        return assertNever(this.mode, 'crash mode');
    }
  }

  /** Durable entries, with each unsynced change of a name surviving with probability 1/2. */
  private mixedEntries(directory: DirectoryNode): Map<string, Entry> {
    const entries = new Map<string, Entry>();
    const names = new Set([...directory.durable.keys(), ...directory.current.keys()]);
    for (const name of names) {
      const durable = directory.durable.get(name);
      const current = directory.current.get(name);
      const chosen = durable === current || !this.random.nextBoolean() ? durable : current;
      if (chosen !== undefined) entries.set(name, chosen);
    }
    return entries;
  }

  private rebuildFile(file: FileNode): FileNode {
    let rebuilt = this.rebuiltFiles.get(file);
    if (rebuilt === undefined) {
      rebuilt = new FileNode(this.survivingContent(file));
      this.rebuiltFiles.set(file, rebuilt);
    }
    return rebuilt;
  }

  private survivingContent(file: FileNode): GrowableBytes {
    if (this.mode === 'keep-all') return file.current.copy();
    const content = file.durable.copy();
    for (const change of file.pending) this.applySurvivingPart(content, change);
    return content;
  }

  private applySurvivingPart(content: GrowableBytes, change: PendingChange): void {
    switch (this.mode) {
      case 'random-subset':
        this.applyRandomSectors(content, change);
        return;
      case 'torn-last-write':
        this.applyUnlessTorn(content, change);
        return;
      case 'drop-unsynced':
      case 'keep-all':
        return;
      default:
        assertNever(this.mode, 'crash mode');
    }
  }

  private applyRandomSectors(content: GrowableBytes, change: PendingChange): void {
    if (change.kind === 'truncate') {
      if (this.random.nextBoolean()) content.truncate(change.sizeBytes);
      return;
    }
    for (const sector of sectorsOf(change.position, change.data.length)) {
      if (!this.random.nextBoolean()) continue;
      content.write(change.data.subarray(sector.startBytes, sector.endBytes), change.position + sector.startBytes);
    }
  }

  private applyUnlessTorn(content: GrowableBytes, change: PendingChange): void {
    if (change.kind === 'write' && change.sequence === this.tornWriteSequence) {
      content.write(change.data.subarray(0, this.tornPrefixLengthBytes(change)), change.position);
    } else {
      applyChange(content, change);
    }
  }

  /** A strict prefix: some whole sectors, then possibly part of the next one. */
  private tornPrefixLengthBytes(change: { position: number; data: Uint8Array }): number {
    const sectors = sectorsOf(change.position, change.data.length);
    const wholeSectorCount = this.random.nextInt(sectors.length);
    const tornSector = sectors[wholeSectorCount];
    if (tornSector === undefined) return 0;
    const tornSectorLengthBytes = tornSector.endBytes - tornSector.startBytes;
    return tornSector.startBytes + this.random.nextInt(tornSectorLengthBytes);
  }
}

interface SectorPiece {
  /** Offsets relative to the start of the write. */
  startBytes: number;
  endBytes: number;
}

/** Splits a write at `position` into pieces at 512-byte file-offset boundaries. */
function sectorsOf(position: number, lengthBytes: number): SectorPiece[] {
  const pieces: SectorPiece[] = [];
  const endPosition = position + lengthBytes;
  let start = position;
  while (start < endPosition) {
    const sectorEnd = Math.min(endPosition, (Math.floor(start / SECTOR_SIZE_BYTES) + 1) * SECTOR_SIZE_BYTES);
    pieces.push({ startBytes: start - position, endBytes: sectorEnd - position });
    start = sectorEnd;
  }
  return pieces;
}

function collectFilePaths(directory: DirectoryNode, path: string, into: string[]): void {
  for (const [name, entry] of directory.current) {
    const entryPath = path === '/' ? `/${name}` : `${path}/${name}`;
    if (entry instanceof FileNode) into.push(entryPath);
    else collectFilePaths(entry, entryPath, into);
  }
}

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
