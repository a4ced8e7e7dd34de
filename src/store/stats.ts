/**
 * stats(): one plain object of counters, cheap to build (no I/O), safe to log.
 *
 * Two scopes, named in the shape (issue 11: `commits: 0` right after a reopen
 * read as if the store were empty):
 * - `sinceOpen`: counters of this open of the store, in this process; every open
 *   starts them at zero (`openedAt` says when).
 * - `lifetime`: figures of the store itself, the same whichever process reads them:
 *   derived from what is durable (the version, the runs, the memtables replayed
 *   from the WAL). No lifetime commit count is kept on disk: a commit takes the
 *   next version, so `lifetime.version` bounds the commits ever acknowledged from
 *   above (a commit refused before reaching disk leaves a gap).
 * The flat counters (commits, fsyncs, walBytes, ...) are kept for compatibility:
 * each equals its `sinceOpen` twin; `version`, `keys`, ... equal their `lifetime` twins.
 *
 * Invariants: every sinceOpen counter is zero on a store opened and not yet
 * used; lifetime figures after a clean reopen equal those before the close.
 */
import type { RepairReport, TornTail } from '../wal/wal-recovery.js';
import type { EngineStats } from '../engine/storage-engine.js';
import type { ManifestRecovery } from '../manifest/manifest.js';
import type { StoreParts } from './store.js';

export interface RecoveryReport {
  /** When the open that made this report finished (epoch ms). */
  openedAtMs: number;
  durationMs: number;
  /** WAL records read and commits replayed into the memtable (commits the runs already held are skipped). */
  records: number;
  commits: number;
  skippedCommits: number;
  tornTail: TornTail | undefined;
  repair: RepairReport | undefined;
  removedSegments: string[];
  /** Run files and WAL segments no durable state referred to (a crash mid-flush or mid-checkpoint), removed. */
  removedOrphans: string[];
  /** True when this open found a store written by release 0.1 (WAL only) and gave it a manifest. */
  upgradedFromWalOnly: boolean;
  /** What opening the manifest found and repaired. */
  manifest: ManifestRecovery;
}

/** Counters of this open of the store (all zero right after an open). */
export interface SinceOpenStats {
  /** When this open finished, ISO 8601, and milliseconds since. */
  openedAt: string;
  uptimeMs: number;
  /** Commits acknowledged, group commits (one WAL write + one fdatasync each), mean and largest group. */
  commits: number;
  groupCommits: number;
  meanGroupSize: number;
  groupSizeMax: number;
  /**
   * Commits refused once queued, none of their bytes written: disk full, or the store
   * failing while they waited (StoreFailedError). Safe to retry. A write made once the
   * store has failed is refused at once and not counted (`failed` says so).
   */
  rejectedCommits: number;
  /**
   * Commits rejected with CommitOutcomeUnknownError: their record was handed to write()
   * when the store failed, so they may be durable (a reopen replays what reached the disk).
   */
  outcomeUnknownCommits: number;
  /**
   * fdatasyncs of WAL records (one per group commit; a new segment's creation sync is not
   * counted), and the records' bytes: how much the log grew (the segment headers, the zero
   * fill and a recycled segment's end marker after each record are written, not counted).
   */
  fsyncs: number;
  walBytes: number;
  /**
   * WAL rotations of every kind (a full segment, a commit larger than the segment, a
   * memtable seal's cut, a checkpoint) that waited for their segment's creation: none was
   * prepared in the background, its preparation had not finished, or a cut or checkpoint
   * removed a larger prepared one and made its own. Commits arriving meanwhile wait behind
   * it; a checkpoint's rotation (checkpoint(), close(), backup()) counts also when no
   * commit was waiting. A rotation that took a prepared segment already made is not
   * counted. And the milliseconds those rotations took.
   */
  walRotationWaits: number;
  walRotationWaitMs: number;
  /** Versions reclaimed by the retention policy in memtables. */
  reclaimedVersions: number;
  /** Memtables flushed to runs (and their bytes), compactions completed. */
  flushes: number;
  flushedBytes: number;
  compactions: number;
}

/** Figures of the store itself: the same after a reopen (derived from durable state, not counted). */
export interface LifetimeStats {
  /** Newest durable and visible version; every acknowledged commit ever took one, so it bounds their count. */
  version: number;
  /** Every version at or below this is in runs. */
  flushedVersion: number;
  /** Live keys (exact only while `keysExact`; see StoreStats.keys), keys with history, versions held. */
  keys: number;
  keysExact: boolean;
  keysWithHistory: number;
  versions: number;
  /** Run files, and their bytes on disk (WAL segments not included). */
  runs: number;
  runBytes: number;
}

export interface StoreStats {
  /** Counters since this open (zero right after an open); see the module header. */
  sinceOpen: SinceOpenStats;
  /** Figures of the store across opens. */
  lifetime: LifetimeStats;
  /** Newest durable and visible version (= lifetime.version). */
  version: number;
  /** Commits acknowledged since open (= sinceOpen.commits; for the store's total see lifetime.version). */
  commits: number;
  /** Group commits (one WAL write + one fdatasync each) since open. */
  groupCommits: number;
  /** Mean and largest number of commits that shared one fdatasync. */
  meanGroupSize: number;
  groupSizeMax: number;
  /** Commits refused once queued, none written (= sinceOpen.rejectedCommits; outcome-unknown ones: sinceOpen.outcomeUnknownCommits). */
  rejectedCommits: number;
  /** fdatasyncs of WAL records since open (= sinceOpen.fsyncs). */
  fsyncs: number;
  /** Bytes of WAL records written since open (= sinceOpen.walBytes). */
  walBytes: number;
  /** Segment currently appended to. */
  walSegment: number;
  /**
   * Keys whose newest version is not a delete: exact while every key is in the
   * active memtable (`keysExact`); once runs exist, an upper bound (a key in two
   * runs, or deleted in a newer one, counts more than once) until compaction.
   */
  keys: number;
  keysExact: boolean;
  /** Keys with any retained history (including deleted ones); an upper bound once runs exist. */
  keysWithHistory: number;
  /** Versions held in memtables and runs (and tombstones). */
  versions: number;
  /** Versions reclaimed by the retention policy in memtables since open. */
  reclaimedVersions: number;
  /** Bytes of memory held against the budget: memtables (with flushed ones readers still hold: storage.retainedMemtableBytes), value slabs held for reuse, block cache, run index and filter blocks. */
  memoryBytes: number;
  /** Pins held by running scans, snapshots and transactions, and the oldest pinned version. */
  pinnedReads: number;
  oldestPinnedVersion: number | undefined;
  /** How long the oldest pin has been held (ms), and how many versions were committed since it. */
  oldestPinAgeMs: number;
  oldestPinLagVersions: number;
  /** Recent commits kept for transaction conflict checks (bounded by the oldest running transaction). */
  conflictLogEntries: number;
  /** Their estimated heap (outside memoryBytes and the budget), at most CONFLICT_LOG_BYTES_MAX (64 MiB) past a commit: src/transaction/conflict-log.ts. */
  conflictLogBytes: number;
  /** The store failed (fail-stop: a WAL write or fdatasync, a flush, or the directory lock lost; src/store/store-failure.ts): writes are refused until it is reopened. */
  failed: boolean;
  closed: boolean;
  recovery: RecoveryReport;
  /** Memtables, runs, block cache and flushes: each part of memory against the budget. */
  storage: EngineStats;
}

export function buildStats(parts: StoreParts, closed: boolean): StoreStats {
  const pipeline = parts.pipeline.stats();
  const wal = parts.writer.stats();
  const storage = parts.engine.stats();
  const memory = parts.engine.memtableCounts();
  const oldestPinned = parts.pins.oldest();
  const keys = memory.liveKeys + storage.runKeys;
  const keysExact = storage.runs === 0 && storage.immutableMemtables === 0;
  const keysWithHistory = memory.keys + storage.runKeys;
  const versions = memory.versions + storage.runEntries;
  const meanGroupSize = pipeline.groupCommits === 0 ? 0 : pipeline.commits / pipeline.groupCommits;
  const openedAtMs = parts.recovery.openedAtMs;
  return {
    sinceOpen: {
      openedAt: new Date(openedAtMs).toISOString(),
      uptimeMs: Math.max(0, Date.now() - openedAtMs),
      commits: pipeline.commits,
      groupCommits: pipeline.groupCommits,
      meanGroupSize,
      groupSizeMax: pipeline.groupSizeMax,
      rejectedCommits: pipeline.rejectedCommits,
      outcomeUnknownCommits: pipeline.outcomeUnknownCommits,
      fsyncs: wal.datasyncs,
      walBytes: wal.bytesWritten,
      walRotationWaits: wal.rotationWaits,
      walRotationWaitMs: wal.rotationWaitMs,
      reclaimedVersions: memory.reclaimedVersions,
      flushes: storage.flushes,
      flushedBytes: storage.flushedBytes,
      compactions: storage.compaction.compactions,
    },
    lifetime: {
      version: parts.pipeline.visibleVersion,
      flushedVersion: storage.flushedVersion,
      keys, keysExact, keysWithHistory, versions,
      runs: storage.runs,
      runBytes: storage.runBytes,
    },
    version: parts.pipeline.visibleVersion,
    commits: pipeline.commits,
    groupCommits: pipeline.groupCommits,
    meanGroupSize,
    groupSizeMax: pipeline.groupSizeMax,
    rejectedCommits: pipeline.rejectedCommits,
    fsyncs: wal.datasyncs,
    walBytes: wal.bytesWritten,
    walSegment: wal.segmentNumber,
    keys,
    keysExact,
    keysWithHistory,
    versions,
    reclaimedVersions: memory.reclaimedVersions,
    memoryBytes: storage.memtableBytes + storage.immutableMemtableBytes + storage.retainedMemtableBytes + storage.valueSlabPoolBytes + storage.cacheBytes + storage.runIndexBytes,
    pinnedReads: parts.pins.count,
    oldestPinnedVersion: oldestPinned === Infinity ? undefined : oldestPinned,
    oldestPinAgeMs: parts.pins.oldestAgeMs(),
    oldestPinLagVersions: oldestPinned === Infinity ? 0 : parts.pipeline.visibleVersion - oldestPinned,
    conflictLogEntries: pipeline.conflictLogEntries,
    conflictLogBytes: pipeline.conflictLogBytes,
    failed: parts.failure.current !== undefined,
    closed,
    recovery: parts.recovery,
    storage,
  };
}
