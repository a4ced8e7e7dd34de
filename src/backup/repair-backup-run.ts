/**
 * Rebuilding a damaged run of a backup from its parity, for restore
 * (restore-backup.ts), without writing to the backup or the target.
 *
 * A backup is the last copy of its data: a run file whose checksum differs from
 * BACKUP.json's, or a page of which cannot be read (EIO: a bad sector), is scrubbed with repair (src/run/run-scrub.ts, the rebuild scrub and
 * reads use) over a patched view of the backup's file: reads see the file with the
 * pages written so far laid over it, writes only add pages to the view. What parity
 * rebuilt is then checked twice: every rebuilt block passed its parent's checksum
 * (the scrub's own rule), and the whole patched file must have the chunked checksum
 * BACKUP.json records, so the restored file is byte for byte the one the backup
 * certified. Damage parity cannot rebuild, or bytes no block check covers that still
 * differ, is a CorruptionError naming the backup's file and the offset.
 *
 * Invariants: nothing is written to any file here; the patches are whole pages
 * (rewritePages), few (one per rebuilt page and parity page), and held in memory.
 */
import { Buffer } from 'node:buffer';
import { BackupError, CorruptionError } from '../errors.js';
import { fileSystemError, joinPath, type FileHandle, type FileSystem, type OpenMode } from '../fs/file-system.js';
import { RUNS_DIRECTORY } from '../engine/open-engine.js';
import { MANIFEST_DIRECTORY_NAME } from '../manifest/manifest-format.js';
import { readCopies } from '../manifest/manifest-files.js';
import { chooseGeneration, mergeCopies, replayChain } from '../manifest/manifest-reader.js';
import { BlockCache } from '../run/block-cache.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { RepairEvent } from '../run/run-file.js';
import { RUN_PAGE_BYTES, type BlockKindValue } from '../run/run-format.js';
import { RunReader, type RunScrubFinding } from '../run/run-reader.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import type { Hash64 } from '../wal/wal-format.js';
import { readChunks, type BackupFile } from './backup-manifest.js';

/** Bytes laid over a file: position -> bytes written there, in write order. */
export type FilePatches = Array<{ position: number; bytes: Buffer }>;

/** Copies into `buffer[offset, offset + length)`, read from file position `position`, the patches' bytes that overlap it. */
export function applyPatches(patches: FilePatches, buffer: Uint8Array, offset: number, length: number, position: number): void {
  for (const patch of patches) {
    const start = Math.max(position, patch.position);
    const end = Math.min(position + length, patch.position + patch.bytes.length);
    if (start >= end) continue;
    buffer.set(patch.bytes.subarray(start - patch.position, end - patch.position), offset + start - position);
  }
}

class PatchedHandle implements FileHandle {
  readonly #inner: FileHandle;
  readonly #patches: FilePatches;
  constructor(inner: FileHandle, patches: FilePatches) {
    this.#inner = inner;
    this.#patches = patches;
  }
  get path(): string {
    return this.#inner.path;
  }
  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    let count: number;
    try {
      count = await this.#inner.read(buffer, offset, length, position);
    } catch (error) {
      if (error instanceof CorruptionError || !isRepairableReadError(error)) throw error;
      count = await this.#readByPage(buffer, offset, length, position);
    }
    applyPatches(this.#patches, buffer, offset, count, position);
    return count;
  }
  /**
   * A read that failed with EIO (a bad sector), again page by page: a page that still fails is
   * served from the patches when they cover it (parity rebuilt it), else its error is thrown,
   * which the scrub takes for damage to rebuild. The caller lays the patches over the bytes.
   */
  async #readByPage(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const end = Math.min(position + length, await this.#inner.size());
    let at = position;
    while (at < end) {
      const pageEnd = Math.min(end, (Math.floor(at / RUN_PAGE_BYTES) + 1) * RUN_PAGE_BYTES);
      try {
        const read = await this.#inner.read(buffer, offset + at - position, pageEnd - at, at);
        if (read < pageEnd - at) return at + read - position;
      } catch (error) {
        if (!patchesCover(this.#patches, at, pageEnd)) throw error;
      }
      at = pageEnd;
    }
    return at - position;
  }
  async write(data: Uint8Array, position: number): Promise<void> {
    this.#patches.push({ position, bytes: Buffer.from(data) });
  }
  async datasync(): Promise<void> {}
  async sync(): Promise<void> {}
  async truncate(): Promise<void> {
    throw fileSystemError('EROFS', 'truncate', this.path);
  }
  size(): Promise<number> {
    return this.#inner.size();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** True when the patches together hold every byte of [start, end). */
function patchesCover(patches: FilePatches, start: number, end: number): boolean {
  let covered = start;
  for (const patch of [...patches].sort((a, b) => a.position - b.position)) {
    if (patch.position > covered) break;
    covered = Math.max(covered, patch.position + patch.bytes.length);
    if (covered >= end) return true;
  }
  return covered >= end;
}

/**
 * `inner` with `path`'s writes kept in `patches` (and read back from them, also where `path`'s
 * own reads fail with EIO); nothing else can be written. Restore copies a rebuilt run through it.
 */
export function patchedView(inner: FileSystem, path: string, patches: FilePatches): FileSystem {
  const refuse = (operation: string, target: string) => Promise.reject(fileSystemError('EROFS', operation, target));
  return {
    async open(target: string, mode: OpenMode): Promise<FileHandle> {
      if (mode === 'createExclusive' || (mode === 'readWrite' && target !== path)) throw fileSystemError('EROFS', 'open', target);
      const handle = await inner.open(target, 'read');
      return target === path ? new PatchedHandle(handle, patches) : handle;
    },
    readFile: (target) => inner.readFile(target),
    readdir: (dir) => inner.readdir(dir),
    exists: (target) => inner.exists(target),
    mkdir: (dir) => refuse('mkdir', dir),
    rename: (from) => refuse('rename', from),
    link: (from) => refuse('link', from),
    unlink: (target) => refuse('unlink', target),
    syncDirectory: async () => undefined,
  };
}

/** The runs the backup's manifest names, by file name (the backup's manifest copies passed their BACKUP.json checksums). */
export async function backupRunDescriptors(fileSystem: FileSystem, backupDirectory: string, hash: Hash64): Promise<Map<string, RunDescriptor>> {
  const directory = joinPath(backupDirectory, MANIFEST_DIRECTORY_NAME);
  const choice = chooseGeneration(await fileSystem.readdir(directory));
  if (choice.chosen === undefined) throw new CorruptionError(directory, 0, 'restore: the backup has no manifest copy');
  const images = await readCopies(fileSystem, directory, choice.chosen.generation);
  const chain = mergeCopies(images, hash);
  const state = replayChain(chain.records, choice.chosen.generation, images[0]?.path ?? directory);
  return new Map(state.runs.map((run) => [run.fileName, run]));
}

/** Block kinds as scrub names them (the top-level index and format 2's index are 'index'). */
const REPAIRED_KIND_NAMES: Record<BlockKindValue, RunScrubFinding['kind']> = { 1: 'data', 2: 'index', 3: 'filter', 4: 'footer', 5: 'index' };

/** A rebuilt block or parity page of a backup's run file. */
export interface RestoreRepair {
  file: string;
  kind: RunScrubFinding['kind'];
  logicalOffset: number;
  stripe: number;
}

/** The chunked checksum (backup-manifest.ts) of `path` with `patches` laid over it. */
export async function patchedChecksum(fileSystem: FileSystem, path: string, patches: FilePatches, hash: Hash64): Promise<{ checksum: string; sizeBytes: number }> {
  return readChunks(patchedView(fileSystem, path, patches), path, hash, undefined, {
    ended: (position, sizeBytes) => new CorruptionError(path, position, `file ended at ${position} of ${sizeBytes} bytes`),
  });
}

/**
 * Rebuilds what parity can of the backup's run `descriptor` (in `runsDirectory`) in
 * memory; returns the pages to lay over the file and what was rebuilt. Throws
 * CorruptionError naming the backup's file and the logical offset of damage beyond
 * parity, or of a stripe whose rebuild still leaves the file unlike BACKUP.json's checksum.
 */
export async function repairBackupRun(
  fileSystem: FileSystem, runsDirectory: string, descriptor: RunDescriptor, hash: Hash64, expectedChecksum: string,
): Promise<{ patches: FilePatches; repaired: RestoreRepair[] }> {
  const path = joinPath(runsDirectory, descriptor.fileName);
  const patches: FilePatches = [];
  const repaired: RestoreRepair[] = [];
  let beyondParity: RunScrubFinding | undefined;
  let reader: RunReader | undefined;
  try {
    // Repairs are taken from the reader's events, not the scrub's findings: a block the open
    // reads (the footer's, format 3's top-level index) is rebuilt before the scrub begins.
    const onRepair = (event: RepairEvent): void => {
      repaired.push({ file: path, kind: event.kind === 'parity' ? 'parity' : REPAIRED_KIND_NAMES[event.kind], logicalOffset: event.logicalOffset, stripe: event.stripes[0] ?? -1 });
    };
    reader = await RunReader.open(patchedView(fileSystem, path, patches), runsDirectory, descriptor, hash, new BlockCache(0), { repair: true, onRepair });
    scrub: for await (const step of reader.scrub(true)) {
      for (const finding of step.findings) {
        if (finding.outcome !== 'repaired') {
          beyondParity = finding;
          break scrub;
        }
      }
    }
  } catch (error) {
    // The footer or top-level index beyond parity fails the open: its error names the file and offset.
    if (!(error instanceof CorruptionError)) throw error;
    throw new CorruptionError(path, error.offset, `restore: not rebuildable from parity: ${error.message}`);
  } finally {
    await reader?.close();
  }
  if (beyondParity !== undefined) {
    const { kind, stripe, logicalOffset, reason } = beyondParity;
    throw new CorruptionError(path, logicalOffset, `restore: ${kind} block (stripe ${stripe}) at logical offset ${logicalOffset} not rebuildable from parity: ${reason}`);
  }
  const patched = await patchedChecksum(fileSystem, path, patches, hash);
  if (patched.checksum !== expectedChecksum) {
    // Every block passes its check now, yet the file is not the one the backup certified:
    // bytes no block checksum covers differ (the stripe whose parity disagreed holds them).
    const parity = repaired.find((repair) => repair.kind === 'parity');
    const offset = parity?.logicalOffset ?? 0;
    throw new CorruptionError(path, offset, `restore: after rebuilding ${repaired.length} blocks from parity the file still differs from its BACKUP.json checksum `
      + `(bytes outside every checked block${parity === undefined ? '' : `, in stripe ${parity.stripe}`}); not restored`);
  }
  return { patches, repaired };
}

/**
 * repairBackupRun for the backup's run file `file` (a `runs/` entry of BACKUP.json whose
 * checksum differs), found in `descriptors` (backupRunDescriptors): what restore lays over
 * the file, and what verify reports as rebuildable. Nothing is written. A run the backup's
 * manifest does not name is BackupError 'corrupt'; damage beyond parity, CorruptionError.
 */
export function rebuildBackupRun(
  fileSystem: FileSystem, backupDirectory: string, file: BackupFile, descriptors: Map<string, RunDescriptor>, hash: Hash64,
): Promise<{ patches: FilePatches; repaired: RestoreRepair[] }> {
  const descriptor = descriptors.get(file.path.slice(RUNS_DIRECTORY.length + 1));
  if (descriptor === undefined) {
    return Promise.reject(new BackupError('corrupt', joinPath(backupDirectory, file.path), 'checksum mismatch, and the backup\'s manifest does not name the run'));
  }
  return repairBackupRun(fileSystem, joinPath(backupDirectory, RUNS_DIRECTORY), descriptor, hash, file.checksum);
}
