/**
 * The store's maintenance work: checkpoint, compaction, backup, and the steps of
 * close and of abandoning a handle. The handle (store.ts) checks it is open, takes
 * the store.lifecycle lock (rank 10) and calls these; none of them is on the get or
 * commit path.
 *
 * Invariants:
 * - Called with store.lifecycle held (all but abandonStoreParts, which does no I/O):
 *   one maintenance operation at a time, while commits continue under their own
 *   locks (the pipeline takes the commit lock, rank 30).
 * - A checkpoint cuts the WAL and seals the active memtable in one step under the
 *   commit lock (pipeline.cutWalForCheckpoint) before the engine flushes: the runs
 *   then hold every acknowledged write the deleted segments held.
 * - Each step of close is idempotent, so a close that failed half-way can be called
 *   again; a failed store or a full disk keeps its WAL (the data is safe there).
 * - A failed store (StoreFailure#current, any cause) writes nothing more here: checkpoint,
 *   compact and backup reject with its failure before any I/O, close skips its
 *   checkpoint and the manifest's rewrite.
 * - Errors leave as typed errors naming the operation and directory (asTypedError).
 */
import { DiskFullError, InvalidOptionError, asTypedError } from '../errors.js';
import { internalKey, type Key } from '../codec/keys.js';
import type { CompactionProgress, CompactionResult } from '../compaction/compaction-stats.js';
import type { CheckpointResult } from '../engine/storage-engine.js';
import { loadHash64 } from '../codec/checksum.js';
import { debugEnabled } from '../util/debug.js';
import { takeBackup, type BackupOptions, type BackupResult } from '../backup/take-backup.js';
import { optionsObject, refuseUnknownOptions, retainFromOption } from './read-options.js';
import type { StoreParts } from './store.js';

/** store.compact()'s options, as the caller gives them. */
export interface CompactOptions {
  gte?: Key;
  lt?: Key;
  retainFrom?: number;
  onProgress?: CompactionProgress;
}

/** store.compact()'s result: the compaction's, and the WAL's spare disk space it gave back (both releases). */
export interface StoreCompactionResult extends CompactionResult {
  /** Files removed from wal/: recycled pool files, and a next segment prepared ahead, unused. */
  walSegmentsReleased: number;
  /** Their bytes (a prepared new segment counts the bytes its zero fill had written). */
  walBytesReleased: number;
}

/** store.compact()'s options checked and in internal form, before the lock is taken. */
export interface CompactRequest {
  range: { gte: string | undefined; lt: string | undefined; retainFrom: number | undefined };
  onProgress: CompactionProgress | undefined;
}

/** Under store.lifecycle: seals what is acknowledged, flushes it into a run and drops the WAL the runs cover. */
export async function checkpointStore(parts: StoreParts): Promise<CheckpointResult> {
  try {
    const { engine, pipeline } = parts;
    // A failed store writes no run (its WAL keeps the data); one whose lock was lost must not touch the directory.
    if (parts.failure.current !== undefined) throw parts.failure.current;
    await pipeline.cutWalForCheckpoint(() => engine.memtables.seal());
    return await engine.checkpoint();
  } catch (error) {
    throw asTypedError(error, `checkpoint ${parts.directory}`);
  }
}

/**
 * Under store.lifecycle: close's steps, each idempotent. Drains the pipeline,
 * checkpoints (when checkpointOnClose and nothing failed; a full disk skips it),
 * then closes the engine, the WAL and the directory lock.
 */
export async function closeStoreParts(parts: StoreParts): Promise<void> {
  const { pipeline, writer, lock, engine } = parts;
  try {
    // Each step is idempotent, so a close that failed half-way can be called again.
    await pipeline.close();
    if (debugEnabled()) engine.memtables.active.verify();
    // A clean close checkpoints, so the next open replays nothing. A store that
    // failed (a WAL writer that failed with no commit since included), or a disk that
    // is full, keeps its WAL: the data is safe there. One whose directory lock was
    // taken over writes nothing more: the directory is another process's now. A close
    // called again after it failed past this step does not checkpoint again: the engine
    // it would flush into is closed (what the first call left unflushed is in the WAL).
    if (parts.options.checkpointOnClose && !engine.closeStarted && parts.failure.current === undefined && pipeline.failure === undefined && engine.failure === undefined && writer.failure === undefined) {
      await pipeline.cutWalForCheckpoint(() => engine.memtables.seal())
        .then(() => engine.checkpoint())
        .catch((error: unknown) => {
        if (!(error instanceof DiskFullError)) throw error;
      });
    }
    // A failed store's manifest is not rewritten at close either (its one-state rewrite of a
    // long edit chain): after a takeover the fence refused it, close rejected half-way and
    // left the WAL open until called again.
    await engine.close({ compactManifestChain: parts.failure.current === undefined });
    await writer.close();
    await lock.release();
  } catch (error) {
    throw asTypedError(error, `close ${parts.directory}`);
  }
}

/**
 * The parts of a handle abandoned as a dead process leaves them: no I/O from now on,
 * the in-process lock token forgotten (the lock file stays), and no threads left behind.
 */
export function abandonStoreParts(parts: StoreParts): void {
  parts.fileSystem.kill();
  parts.lock.abandon();
  // A dead process leaves no threads behind: nor may the handle dropped as one.
  void parts.engine.coldCompressor.abandon().catch(() => undefined);
  parts.engine.compactor.abandon();
  parts.engine.abandonFlushes();
}

/** The names compact()'s options take. */
const COMPACT_OPTION_NAMES: readonly string[] = ['gte', 'lt', 'retainFrom', 'onProgress'];

/** Checks store.compact()'s options (typed errors) and puts its bounds in internal form. */
export function compactRequest(options: CompactOptions | undefined): CompactRequest {
  const given = optionsObject('compact', options) ?? {};
  // A typo (`retainfrom`) or a range bound compact() does not take (`gt`, `lte`) is refused,
  // never ignored: ignored, it compacted every run, or kept no floor.
  refuseUnknownOptions('compact', given, COMPACT_OPTION_NAMES);
  const range = {
    gte: given.gte === undefined ? undefined : internalKey(given.gte), lt: given.lt === undefined ? undefined : internalKey(given.lt),
    retainFrom: retainFromOption(given.retainFrom),
  };
  // Checked here: unchecked, a non-function failed the compaction at its first report, after work was done.
  if (given.onProgress !== undefined && typeof given.onProgress !== 'function') {
    throw new InvalidOptionError('onProgress', `must be a function (entriesRead, entriesTotal) => void, got ${given.onProgress === null ? 'null' : typeof given.onProgress}`);
  }
  return { range, onProgress: given.onProgress };
}

/**
 * Under store.lifecycle: the compaction store.compact() asked for (src/compaction/compactor.ts),
 * with the WAL's spare segments given back before and after it.
 */
export async function compactStore(parts: StoreParts, request: CompactRequest): Promise<StoreCompactionResult> {
  try {
    // A failed store merges no runs (fail-stop); one whose lock was lost must not touch the directory.
    if (parts.failure.current !== undefined) throw parts.failure.current;
    // A user asking for space back: the WAL's spare segments (the recycled pool) go too,
    // before the merge (room for its output on a full disk) and after it (what a flush pooled meanwhile).
    const before = await parts.pipeline.releaseSpareWalSegments();
    const result = await parts.engine.compactor.compact(request.range, request.onProgress);
    const after = await parts.pipeline.releaseSpareWalSegments();
    return { ...result, walSegmentsReleased: before.files + after.files, walBytesReleased: before.bytes + after.bytes };
  } catch (error) {
    throw asTypedError(error, `compact ${parts.directory}`);
  }
}

/** Under store.lifecycle: an online backup into `targetDirectory` (src/backup/take-backup.ts), checkpointing first. */
export async function backupStore(parts: StoreParts, targetDirectory: string, checked: BackupOptions): Promise<BackupResult> {
  const { engine, pipeline, fileSystem, directory } = parts;
  try {
    // Refused before the target is made: a failed store cannot checkpoint (the backup's
    // first step), and after a takeover the runs are another process's to replace.
    if (parts.failure.current !== undefined) throw parts.failure.current;
    const checkpoint = async (): Promise<void> => {
      await pipeline.cutWalForCheckpoint(() => engine.memtables.seal());
      await engine.checkpoint();
    };
    const source = { fileSystem, storeDirectory: directory, hash: await loadHash64(), manifest: engine.manifest, checkpoint };
    return await takeBackup(source, targetDirectory, checked);
  } catch (error) {
    throw asTypedError(error, `backup ${directory} to ${targetDirectory}`);
  }
}
