/**
 * The inode tree of FaultFileSystem (src/fs/fault-file-system.ts): file and
 * directory nodes with a current and a durable state, and path parsing and lookup.
 *
 * Invariants
 * - A FileNode's `durable` content plus its `pending` changes, applied in order,
 *   give its `current` content, except after discardPending() (a failed fsync),
 *   which drops pending changes that `current` still shows.
 * - Pending writes own their bytes (copied on write) and carry the file system's
 *   write sequence number, increasing across all files (FaultController numbers
 *   them), so the crash builder can find the last write made anywhere.
 * - A FileNode's `openDescriptions` holds the handles open on it right now (added
 *   when opened, removed when closed), so a failed fsync can be reported to every
 *   one of them, as Linux's errseq_t does (see fault-file-handle.ts).
 * - A DirectoryNode's `current` map is what calls see; `durable` is a copy of it as
 *   of the last successful syncDirectory. Both map names to nodes by identity: a
 *   node reached by two names (a hard link, an unsynced rename) is one inode.
 * - Paths are absolute; parsePath normalises repeated and trailing slashes, '.'
 *   and '..' lexically ('..' at the root stays at the root). The root has no
 *   components and always exists.
 * - Lookups throw Node-style ENOENT / ENOTDIR errors for a missing or non-directory
 *   ancestor, never for the last component (lookupEntry returns undefined).
 */
import { fileSystemError } from '../file-system.js';
import { GrowableBytes } from './growable-bytes.js';

export type PendingChange =
  | { kind: 'write'; position: number; data: Uint8Array; sequence: number }
  | { kind: 'truncate'; sizeBytes: number };

export function applyChange(content: GrowableBytes, change: PendingChange): void {
  if (change.kind === 'write') content.write(change.data, change.position);
  else content.truncate(change.sizeBytes);
}

/** An open file description on a FileNode: told of a writeback error some other description's sync hit. */
export interface WritebackErrorObserver {
  noteWritebackError(code: string): void;
}

/** A file's inode. */
export class FileNode {
  readonly current: GrowableBytes;
  readonly durable: GrowableBytes;
  pending: PendingChange[] = [];
  /** The handles open on this inode now; a failed sync tells every other one (errseq_t). */
  readonly openDescriptions = new Set<WritebackErrorObserver>();

  /** A file whose `content` is both current and durable. */
  constructor(content: GrowableBytes = new GrowableBytes()) {
    this.current = content;
    this.durable = content.copy();
  }

  write(data: Uint8Array, position: number, sequence: number): void {
    if (data.length === 0) return;
    // A copy made now (the caller may reuse its buffer once the write resolves): not
    // data.slice(), which for a Buffer is a view, so the pending write a later sync
    // made durable showed whatever the caller had put in the buffer since.
    const owned = new Uint8Array(data);
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

export type Entry = FileNode | DirectoryNode;
export type EntryView = 'current' | 'durable';

export class DirectoryNode {
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

export interface ParsedPath {
  /** The normalised path, as used in errors and fault matching. */
  path: string;
  components: string[];
}

export function parsePath(path: string, syscall: string): ParsedPath {
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
export function walkDirectory(
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
export function lookupEntry(
  root: DirectoryNode,
  target: ParsedPath,
  view: EntryView,
  syscall: string,
): Entry | undefined {
  const name = target.components.at(-1);
  if (name === undefined) return root;
  const parent = walkDirectory(root, target.components.slice(0, -1), view, syscall, target.path);
  return parent.entries(view).get(name);
}

/** Appends the current path of every file under `directory` (named `path`) to `into`. */
export function collectFilePaths(directory: DirectoryNode, path: string, into: string[]): void {
  for (const [name, entry] of directory.current) {
    const entryPath = path === '/' ? `/${name}` : `${path}/${name}`;
    if (entry instanceof FileNode) into.push(entryPath);
    else collectFilePaths(entry, entryPath, into);
  }
}
