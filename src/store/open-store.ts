/**
 * openStore: validate options, take the directory lock, open the manifest and the
 * runs it lists (lazily), replay only the WAL after the manifest's position into a
 * fresh memtable, and start the commit pipeline where the log ends.
 *
 *   a backup directory refused (BACKUP.json or BACKUP-INCOMPLETE: nothing written)
 *   -> mkdir (store dir, wal/) + fsync parents -> DirectoryLock.acquire, with the fsyncs of
 *      the existing directories running beside the rest of the open (awaited before it returns)
 *   -> openStorage (runs/, manifest read or created, WAL segments below its start
 *      removed; the orphan runs' removal left running beside the replay)
 *   -> recoverWal from the manifest's WAL start (torn tail zeroed, corruption refused
 *      or repaired), skipping commits the runs already hold
 *   -> apply the rest to the memtable in version order -> WalWriter at the resume point
 *   -> the orphan runs' removal awaited (before any run is written)
 *   -> the lease restart rule (expireLeasesAtOpen), unless no replayed commit and no
 *      run can hold a lease record
 *
 * On any failure after the lock is taken, the lock is released before rethrowing.
 */
import { performance } from 'node:perf_hooks';
import { resolve as resolvePath } from 'node:path';
import { asTypedError, BackupError, CorruptionError, InvalidOptionError } from '../errors.js';
import { backupMarkIn } from '../backup/backup-marks.js';
import { BACKUP_MANIFEST_NAME } from '../backup/backup-manifest.js';
import { KillableFileSystem } from '../fs/killable-file-system.js';
import { internalKeyFromRange } from '../codec/keys.js';
import { storedFromEncodedRange } from '../codec/values.js';
import { ValueSlabs } from '../codec/value-slabs.js';
import { loadHash64 } from '../codec/checksum.js';
import { CommitPipeline } from '../commit/commit-pipeline.js';
import type { FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath, parentDirectory } from '../fs/file-system.js';
import type { IndexOperation } from '../memory/memory-index.js';
import { openStorage } from '../engine/open-engine.js';
import { Manifest } from '../manifest/manifest.js';
import { StorageEngine } from '../engine/storage-engine.js';
import { ReadPins } from '../memory/read-pins.js';
import { AgeRetainedPins } from '../compaction/version-times.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';
import { debugEnabled, enableDebug } from '../util/debug.js';
import { createSegment, firstSegmentSizeBytes } from '../wal/segment-files.js';
import { type Hash64, SEGMENT_HEADER_BYTES } from '../wal/wal-format.js';
import { type OperationDecoder, recoverWal, type WalRecoveryResult } from '../wal/wal-recovery.js';
import { WalWriter } from '../wal/wal-writer.js';
import { expireLeasesAtOpen } from '../lease/lease-restart.js';
import { notADirectoryError } from './directory-argument.js';
import { DirectoryLock } from './directory-lock.js';
import { confirmLease, leaseHolds, lockStillHeld } from './lock-holder-check.js';
import { StoreFailure } from './store-failure.js';
import { type ResolvedOptions, resolveOptions, type StoreOptions } from './options.js';
import { Store } from './store.js';

export const WAL_DIRECTORY = 'wal';

/**
 * @internal Options of openStoreInternal that only code inside the package passes
 * (not StoreOptions: not documented, not exported by src/index.ts).
 */
export interface InternalOpenOptions {
  /**
   * False: every run the manifest lists is read as if its reservedEntryCount were
   * unknown (never skipped for reserved keys), so the lease restart rule at open sees
   * every record and tombstone. For opens that must not trust the counts: ladybug
   * repair (src/store/repair-reserved-counts.ts). Absent: trusted.
   */
  trustReservedEntryCounts?: boolean;
}

export async function openStore(directory: string, options?: StoreOptions): Promise<Store> {
  return openStoreInternal(directory, options, {});
}

/** @internal openStore with options the package keeps to itself (InternalOpenOptions). */
export async function openStoreInternal(directory: string, options: StoreOptions | undefined, internal: InternalOpenOptions): Promise<Store> {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new InvalidOptionError('directory', 'must be a non-empty path string');
  }
  const resolved = resolveOptions(options);
  if (resolved.debug) enableDebug();
  const absolute = resolvePath(directory);
  const fileSystem = new KillableFileSystem(resolved.fileSystem);
  const storeOptions = { ...resolved, fileSystem };
  // The hash's WebAssembly compile (once per process) overlaps the directory checks and the
  // lock: openLocked awaits the same promise (loadHash64 keeps it), which rejects there if it failed.
  loadHash64().catch(() => undefined);
  try {
    const { synced: directoriesSynced } = await refuseBackupDirectory(fileSystem, absolute).then(() => createDirectories(fileSystem, absolute)).catch(async (error: unknown) => {
      // A file on the path: the argument is wrong (an IoError ENOTDIR from a stat or mkdir said the disk failed).
      throw isFileSystemError(error, 'ENOTDIR') ? await notADirectoryError(fileSystem, 'directory', absolute) : error;
    });
    let lock: DirectoryLock;
    try {
      lock = await DirectoryLock.acquire(fileSystem, absolute);
    } catch (error) {
      await directoriesSynced; // no sync outlives a failed open
      throw error;
    }
    try {
      const { store, leaseRecordsPossible } = await openLocked(absolute, storeOptions, lock, fileSystem, internal, directoriesSynced);
      // Issue 10: leases of earlier opens end at open. Where no source can hold a lease
      // record, the scan would find none: the lease manager is then made on first use,
      // which applies the same rule before any lease operation (issue 7: the scan's
      // first run in a fresh process was 2-3 ms of a clean reopen).
      if (leaseRecordsPossible) await expireLeasesAtOpen(store);
      return store;
    } catch (error) {
      await directoriesSynced;
      await lock.release().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw asTypedError(error, `open ${absolute}`);
  }
}

/**
 * A backup directory (BACKUP.json, or BACKUP-INCOMPLETE of one cut short: docs/FORMAT.md
 * "Backup directory") is refused before anything is written: opened as a store it got a
 * LOCK file and a WAL segment (and wal/ where a killed backup had none), so it was no
 * longer the backup it was. Restore reads it; `ladybug verify` checks it. The CLI's
 * repair --dry-run, which takes the lock without opening, asks this too.
 */
export async function refuseBackupDirectory(fileSystem: FileSystem, directory: string): Promise<void> {
  const mark = await backupMarkIn(fileSystem, directory); // BACKUP-INCOMPLETE.tmp too where no store was made (backup-marks.ts)
  if (mark === undefined) return;
  if (mark !== BACKUP_MANIFEST_NAME) {
    // No BACKUP.json: restore refuses it too, so the only way on is to make it again.
    throw new BackupError('not-a-store', directory, `a backup or restore cut short (it holds ${mark}, no BACKUP.json), not a store, `
      + 'and restore refuses it: delete it, then take the backup again, or restore again from the backup with '
      + 'restoreBackup(backup, target) or `ladybug restore <backup> <target>`');
  }
  throw new BackupError('not-a-store', directory, `a backup directory (it holds ${mark}), not a store: `
    + 'opening it would write into it; restore it into a new directory with restoreBackup(backup, target) or `ladybug restore <backup> <target>` and open that');
}

/** The fsyncs of the store's directories, left running: settles (never rejects) with the first failure, if any. */
type DirectoriesSynced = Promise<{ error: unknown } | undefined>;

/**
 * Creates the store and WAL directories if missing, one level at a time from the
 * nearest existing ancestor, fsyncing each created directory's parent so the new
 * entry survives a power loss (a plain `mkdir -p` left every level but the last
 * unsynced: the whole store could vanish). On every open it also fsyncs the WAL
 * directory, the store directory and its parent: an earlier open may have died
 * after mkdir, leaving those entries only in the page cache.
 *
 * Those three fsyncs are returned running, not awaited: openLocked awaits them before
 * the store is returned (and a failed open before it releases the lock). Nothing the
 * open does needs them earlier: a store with acknowledged commits was returned by an
 * open that had finished them, so until this open returns they can only matter to a
 * directory with nothing acknowledged in it. On a clean reopen each was a device cache
 * flush (and could wait behind other processes' writes) on the critical path (issue 7).
 */
async function createDirectories(fileSystem: FileSystem, directory: string): Promise<{ synced: DirectoriesSynced }> {
  const walDir = joinPath(directory, WAL_DIRECTORY);
  const missing: string[] = [];
  for (let current = walDir; !(await fileSystem.exists(current)); current = parentDirectory(current)) {
    assert(parentDirectory(current) !== current, `the file-system root ${current} exists`);
    missing.push(current);
  }
  if (missing.length === 1) await refuseManifestWithoutWal(fileSystem, directory, walDir);
  for (const created of missing.reverse()) {
    // Its parent exists now, so this mkdir creates exactly one level.
    await fileSystem.mkdir(created);
    await fileSystem.syncDirectory(parentDirectory(created));
  }
  // Three independent syncs, concurrently (each is a thread-pool round trip, issue 7's
  // killed reopen), all settled before a failure is reported.
  const synced = Promise.allSettled([walDir, directory, parentDirectory(directory)].map((path) => fileSystem.syncDirectory(path))).then((outcomes) => {
    for (const outcome of outcomes) if (outcome.status === 'rejected') return { error: outcome.reason as unknown };
    return undefined;
  });
  return { synced };
}

/**
 * A store directory holding a manifest but no wal/: wal/ is created (and synced) before
 * the manifest is ever written, so no crash leaves this; the directory was removed. The
 * commits after the manifest's flushedVersion lived only there. Creating a fresh wal/
 * would open the store without them and hand their versions to new commits, so the open
 * is refused, as for runs without a manifest (open-engine.ts). A listing that fails
 * (a file on the path) is left to the mkdir that follows, which reports it.
 */
async function refuseManifestWithoutWal(fileSystem: FileSystem, directory: string, walDir: string): Promise<void> {
  const names = await Manifest.list(fileSystem, directory).catch(() => []);
  if (!Manifest.listed(names)) return;
  throw new CorruptionError(walDir, 0,
    'the WAL directory is missing while manifest/ holds the store\'s manifest: any commit it held after the last flush is lost (restore from a backup)');
}

async function openLocked(
  directory: string,
  options: ResolvedOptions,
  lock: DirectoryLock,
  fileSystem: KillableFileSystem,
  internal: InternalOpenOptions,
  directoriesSynced: DirectoriesSynced,
): Promise<{ store: Store; leaseRecordsPossible: boolean }> {
  const started = performance.now();
  const hash = await loadHash64();
  const walDir = joinPath(directory, WAL_DIRECTORY);
  // The orphan runs' removal runs beside the replay; awaited below once the writer exists (its catch closes it).
  const storage = await openStorage(options.fileSystem, directory, walDir, hash, { deferRunOrphans: true });
  let writer: WalWriter | undefined;
  try {
    const { manifest } = storage;
    const { flushedVersion, walStartSegment } = manifest.state;
    // Until the writer exists, the segment being replayed stands for "current".
    let walSegment = walStartSegment;
    const engine = new StorageEngine({
      fileSystem: options.fileSystem, runsDirectory: storage.runsDirectory, walDirectory: walDir, hash, manifest,
      memoryBudgetBytes: options.memoryBudgetBytes, maxVersionsPerKey: options.maxVersionsPerKey,
      retainVersionsMs: options.retainVersionsMs,
      walCheckpointBytes: options.walCheckpointBytes, trustReservedEntryCounts: internal.trustReservedEntryCounts,
      backgroundThreadNice: options.backgroundThreadNice,
      currentWalSegment: () => writer?.segmentNumber ?? walSegment,
      walBytesWritten: () => writer?.bytesWritten ?? 0,
    });
    let skipped = 0;
    // recoverWal decodes the whole record first (replayDecoder): a value that cannot be
    // decoded leaves nothing of its record applied. Commits the runs already hold are skipped.
    const recovered = await recoverWal<IndexOperation>(options.fileSystem, walDir, hash, options.repair, (commits, segmentNumber) => {
      walSegment = segmentNumber ?? walSegment;
      for (const commit of commits) {
        if (commit.version > flushedVersion) engine.replay(commit.version, commit.operations);
        else skipped++;
      }
    }, {
      expectedFirstSegment: walStartSegment, decoder: replayDecoder(flushedVersion),
      listedSegments: storage.walSegments, firstSegmentRead: storage.firstSegmentRead,
    });
    if (debugEnabled()) engine.memtables.active.verify();
    writer = await startWriter(options, walDir, hash, recovered);
    const runOrphans = await storage.runOrphans;
    if (runOrphans.failure !== undefined) throw runOrphans.failure.error;
    const directoriesFailure = await directoriesSynced; // before anything runs that a failed open would have to stop
    if (directoriesFailure !== undefined) throw directoriesFailure.error;
    const lastVersion = Math.max(recovered.lastVersion, manifest.state.versionHighWater, flushedVersion);
    engine.finishReplay();
    // Retention by age is a virtual pin at the version newest at (now - retainVersionsMs).
    const versionTimes = engine.versionTimes;
    versionTimes?.record(lastVersion);
    const pins = versionTimes === undefined ? new ReadPins() : new AgeRetainedPins(() => versionTimes.floor());
    const transactionPins = new ReadPins();
    const pipeline = new CommitPipeline(writer, engine, lastVersion, () => pins.oldest(), () => transactionPins.oldest());
    engine.startCompaction(() => pins.oldest());
    const recovery = {
      openedAtMs: Date.now(),
      durationMs: performance.now() - started,
      records: recovered.records,
      commits: recovered.commits - skipped,
      skippedCommits: skipped,
      tornTail: recovered.tornTail,
      repair: recovered.repair,
      removedSegments: recovered.removedSegments,
      removedOrphans: [...runOrphans.removed, ...storage.removedOrphans],
      upgradedFromWalOnly: storage.createdManifest && recovered.records > 0,
      manifest: manifest.recovery,
    };
    // A lease record (under the reserved prefix) can be only in a replayed commit or in a
    // run that does not say it holds no reserved entry (none said, for untrusted counts).
    const leaseRecordsPossible = recovery.commits > 0 || engine.runSet.runs.some((run) => run.descriptor.reservedEntryCount !== 0);
    // Another process took the directory over: nothing more may change it (flushes,
    // compactions, WAL segments, close's checkpoint), reads still answer. Registered
    // before the store's failure hears of it, so its listeners find the fence up.
    lock.onLost(() => fileSystem.refuseWrites());
    // The heartbeat finds a takeover late: a rename, link or unlink first confirms the lock (lock-holder-check.ts).
    fileSystem.confirmBeforeNameChanges(() => lockStillHeld(fileSystem, lock), lock.path);
    manifest.confirmBeforeAppends(() => lockStillHeld(fileSystem, lock)); // an append changes no name: the manifest asks itself
    const failure = new StoreFailure({ directory, pipeline, engine, lock });
    // ... and the WAL's appends change no name: no group is written from an expired lease (lock-holder-check.ts).
    const currentFailure = () => failure.current; // made once: the check runs per group
    pipeline.confirmLeaseBeforeWrites(() => confirmLease(lock, currentFailure));
    writer.fenceBackgroundWrites(() => leaseHolds(lock)); // nor a zero fill or segment after a record's late fdatasync
    const store = new Store({ directory, options, lock, writer, engine, pins, transactionPins, pipeline, failure, recovery, fileSystem });
    return { store, leaseRecordsPossible };
  } catch (error) {
    await storage.runOrphans; // never rejects: no removal outlives the failed open
    await storage.firstSegmentRead?.catch(() => undefined); // settled by recovery, unless the open failed before it
    await writer?.close().catch(() => undefined);
    await storage.manifest.close({ compactChain: false }).catch(() => undefined);
    throw error;
  }
}

/**
 * The memtable's form of each replayed operation, built straight from the segment
 * image: the key string and the stored value (bytes copied into shared slabs), no
 * view or WAL operation object in between (issue 7). Commits at or below
 * `flushedVersion` are in runs already: their operations are not built.
 */
function replayDecoder(flushedVersion: number): OperationDecoder<IndexOperation> {
  const slabs = new ValueSlabs();
  return {
    keeps: (version) => version > flushedVersion,
    put: (image, keyStart, keyEnd, valueStart, valueEnd) => ({
      key: internalKeyFromRange(image, keyStart, keyEnd),
      slot: storedFromEncodedRange(image, valueStart, valueEnd, slabs),
    }),
    delete: (image, keyStart, keyEnd) => ({ key: internalKeyFromRange(image, keyStart, keyEnd), slot: TOMBSTONE }),
  };
}

async function startWriter(options: ResolvedOptions, walDir: string, hash: Hash64, recovered: WalRecoveryResult): Promise<WalWriter> {
  const config = { fileSystem: options.fileSystem, walDir, hash, segmentSizeBytes: options.segmentSizeBytes };
  if (recovered.resume !== undefined) return new WalWriter(config, recovered.resume);
  const created = await createSegment(options.fileSystem, walDir, recovered.nextSegmentNumber, firstSegmentSizeBytes(options.segmentSizeBytes), hash);
  return new WalWriter(config, { ...created, offset: SEGMENT_HEADER_BYTES });
}
