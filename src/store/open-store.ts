/**
 * openStore: validate options, take the directory lock, replay the WAL into a
 * fresh memory index, and start the commit pipeline where the log ends.
 *
 *   mkdir (store dir, wal/) + fsync parents -> DirectoryLock.acquire
 *   -> recoverWal (torn tail zeroed, corruption refused or repaired)
 *   -> apply every recovered commit in version order -> WalWriter at the resume point
 *
 * On any failure after the lock is taken, the lock is released before rethrowing.
 */
import { performance } from 'node:perf_hooks';
import { resolve as resolvePath } from 'node:path';
import { asTypedError, InvalidOptionError } from '../errors.js';
import { KillableFileSystem } from '../fs/killable-file-system.js';
import { internalKeyFromBytes } from '../codec/keys.js';
import { storedFromEncoded } from '../codec/values.js';
import { loadHash64 } from '../codec/checksum.js';
import { CommitPipeline } from '../commit/commit-pipeline.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath, parentDirectory } from '../fs/file-system.js';
import { type IndexOperation, MemoryIndex } from '../memory/memory-index.js';
import { ReadPins } from '../memory/read-pins.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';
import { debugEnabled, enableDebug } from '../util/debug.js';
import { createSegment, firstSegmentSizeBytes } from '../wal/segment-files.js';
import { type DecodedCommit, type Hash64, OPERATION_PUT, SEGMENT_HEADER_BYTES } from '../wal/wal-format.js';
import { recoverWal, type WalRecoveryResult } from '../wal/wal-recovery.js';
import { WalWriter } from '../wal/wal-writer.js';
import { DirectoryLock } from './directory-lock.js';
import { type ResolvedOptions, resolveOptions, type StoreOptions } from './options.js';
import { Store } from './store.js';

export const WAL_DIRECTORY = 'wal';

export async function openStore(directory: string, options?: StoreOptions): Promise<Store> {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new InvalidOptionError('directory', 'must be a non-empty path string');
  }
  const resolved = resolveOptions(options);
  if (resolved.debug) enableDebug();
  const absolute = resolvePath(directory);
  const fileSystem = new KillableFileSystem(resolved.fileSystem);
  const storeOptions = { ...resolved, fileSystem };
  try {
    await createDirectories(fileSystem, absolute);
    const lock = await DirectoryLock.acquire(fileSystem, absolute);
    try {
      return await openLocked(absolute, storeOptions, lock, fileSystem);
    } catch (error) {
      await lock.release().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw asTypedError(error, `open ${absolute}`);
  }
}

/**
 * Creates the store and WAL directories if missing, one level at a time from the
 * nearest existing ancestor, fsyncing each created directory's parent so the new
 * entry survives a power loss (a plain `mkdir -p` left every level but the last
 * unsynced: the whole store could vanish). On every open it also fsyncs the WAL
 * directory, the store directory and its parent: an earlier open may have died
 * after mkdir, leaving those entries only in the page cache.
 */
async function createDirectories(fileSystem: FileSystem, directory: string): Promise<void> {
  const walDir = joinPath(directory, WAL_DIRECTORY);
  const missing: string[] = [];
  for (let current = walDir; !(await fileSystem.exists(current)); current = parentDirectory(current)) {
    assert(parentDirectory(current) !== current, `the file-system root ${current} exists`);
    missing.push(current);
  }
  for (const created of missing.reverse()) {
    // Its parent exists now, so this mkdir creates exactly one level.
    await fileSystem.mkdir(created);
    await fileSystem.syncDirectory(parentDirectory(created));
  }
  await fileSystem.syncDirectory(walDir);
  await fileSystem.syncDirectory(directory);
  await fileSystem.syncDirectory(parentDirectory(directory));
}

async function openLocked(
  directory: string,
  options: ResolvedOptions,
  lock: DirectoryLock,
  fileSystem: KillableFileSystem,
): Promise<Store> {
  const started = performance.now();
  const hash = await loadHash64();
  const index = new MemoryIndex(options.maxVersionsPerKey);
  const walDir = joinPath(directory, WAL_DIRECTORY);
  const recovered = await recoverWal(options.fileSystem, walDir, hash, options.repair, (commits) => {
    // Decode the whole record first: a value that cannot be decoded must leave
    // nothing of its record applied.
    const decoded = commits.map((commit) => indexOperations(commit));
    commits.forEach((commit, position) => index.apply(commit.version, decoded[position]!, Infinity));
  });
  if (debugEnabled()) index.verify();
  const writer = await startWriter(options, walDir, hash, recovered);
  const pins = new ReadPins();
  const transactionPins = new ReadPins();
  const pipeline = new CommitPipeline(writer, index, recovered.lastVersion, () => pins.oldest(), () => transactionPins.oldest());
  const recovery = {
    durationMs: performance.now() - started,
    records: recovered.records,
    commits: recovered.commits,
    tornTail: recovered.tornTail,
    repair: recovered.repair,
    removedSegments: recovered.removedSegments,
  };
  return new Store({ directory, options, lock, writer, index, pins, transactionPins, pipeline, recovery, fileSystem });
}

function indexOperations(commit: DecodedCommit): IndexOperation[] {
  return commit.operations.map((operation) => ({
    key: internalKeyFromBytes(operation.key),
    slot: operation.type === OPERATION_PUT ? storedFromEncoded(operation.value) : TOMBSTONE,
  }));
}

async function startWriter(options: ResolvedOptions, walDir: string, hash: Hash64, recovered: WalRecoveryResult): Promise<WalWriter> {
  const config = { fileSystem: options.fileSystem, walDir, hash, segmentSizeBytes: options.segmentSizeBytes };
  if (recovered.resume !== undefined) return new WalWriter(config, recovered.resume);
  const created = await createSegment(options.fileSystem, walDir, recovered.nextSegmentNumber, firstSegmentSizeBytes(options.segmentSizeBytes), hash);
  return new WalWriter(config, { ...created, offset: SEGMENT_HEADER_BYTES });
}
