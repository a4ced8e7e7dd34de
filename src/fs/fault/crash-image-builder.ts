/**
 * The crash image builder of FaultFileSystem (src/fs/fault-file-system.ts): the
 * tree a machine would see after a power loss and reboot, for one crash mode.
 *
 * Crash modes
 *   'drop-unsynced'   durable content and durable entries only;
 *   'random-subset'   every pending write is split into 512-byte sectors aligned
 *                     to file offsets (SECTOR_SIZE_BYTES), each surviving with
 *                     probability 1/2 (a pending truncate too); every entry name
 *                     whose durable and current targets differ takes the current
 *                     one with probability 1/2;
 *   'torn-last-write' every pending change survives except the last write made
 *                     anywhere (if still pending), of which only a strict prefix
 *                     survives: whole sectors plus possibly part of the next one;
 *                     durable entries only;
 *   'keep-all'        everything, entries included (a process kill: the page
 *                     cache survives).
 *
 * Invariants
 * - The image shares no node with the crashed tree, and everything in it is
 *   durable (each rebuilt node's current and durable states are equal, nothing
 *   pending).
 * - A file reached by several names gets one content: each inode is rebuilt once
 *   and the rebuilt node is shared by every name that survives.
 * - The only randomness is the SeededRandom handed in, drawn in a fixed order (tree
 *   walk in map order, pending changes in order), so a run is reproducible.
 * - A directory is never rebuilt inside itself: a mixed set of entries that would
 *   make a cycle ('random-subset' after an unsynced directory rename) drops the
 *   entry that closes it.
 *
 * Limits
 * - No reordering between files or between data and entries beyond what the
 *   modes do. Entry changes are decided per (directory, name), not per call: after
 *   'random-subset', an unsynced rename of a durable file to a fresh name can
 *   leave the file under both names or under neither.
 * - File size is not modelled apart from data: a surviving sector beyond the end
 *   extends the file (zero-filled).
 */
import { assertNever } from '../../util/assert.js';
import { GrowableBytes } from './growable-bytes.js';
import { applyChange, DirectoryNode, FileNode, type Entry, type PendingChange } from './inode-tree.js';
import type { SeededRandom } from './seeded-random.js';

export const SECTOR_SIZE_BYTES = 512;

export type CrashMode = 'drop-unsynced' | 'random-subset' | 'torn-last-write' | 'keep-all';

export const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

/** Builds the tree a rebooted machine would see, for one crash mode. */
export class CrashImageBuilder {
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
