/**
 * stats(): one plain object of counters, cheap to build (no I/O), safe to log.
 */
import type { RepairReport, TornTail } from '../wal/wal-recovery.js';
import type { EngineStats } from '../engine/storage-engine.js';
import type { ManifestRecovery } from '../manifest/manifest.js';
import type { StoreParts } from './store.js';

export interface RecoveryReport {
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

export interface StoreStats {
  /** Newest durable and visible version. */
  version: number;
  /** Commits acknowledged since open. */
  commits: number;
  /** Group commits (one WAL write + one fdatasync each) since open. */
  groupCommits: number;
  /** Mean and largest number of commits that shared one fdatasync. */
  meanGroupSize: number;
  groupSizeMax: number;
  /** Commits rejected before reaching disk (disk full, failed store). */
  rejectedCommits: number;
  /** fdatasync calls on WAL segments since open. */
  fsyncs: number;
  /** Bytes appended to the WAL since open. */
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
  /** Bytes of memory held against the budget: memtables, block cache, run index and filter blocks. */
  memoryBytes: number;
  /** Pins held by running scans, snapshots and transactions, and the oldest pinned version. */
  pinnedReads: number;
  oldestPinnedVersion: number | undefined;
  /** How long the oldest pin has been held (ms), and how many versions were committed since it. */
  oldestPinAgeMs: number;
  oldestPinLagVersions: number;
  /** Recent commits kept for transaction conflict checks (bounded by the oldest running transaction). */
  conflictLogEntries: number;
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
  return {
    version: parts.pipeline.visibleVersion,
    commits: pipeline.commits,
    groupCommits: pipeline.groupCommits,
    meanGroupSize: pipeline.groupCommits === 0 ? 0 : pipeline.commits / pipeline.groupCommits,
    groupSizeMax: pipeline.groupSizeMax,
    rejectedCommits: pipeline.rejectedCommits,
    fsyncs: wal.datasyncs,
    walBytes: wal.bytesWritten,
    walSegment: wal.segmentNumber,
    keys: memory.liveKeys + storage.runKeys,
    keysExact: storage.runs === 0 && storage.immutableMemtables === 0,
    keysWithHistory: memory.keys + storage.runKeys,
    versions: memory.versions + storage.runEntries,
    reclaimedVersions: memory.reclaimedVersions,
    memoryBytes: storage.memtableBytes + storage.immutableMemtableBytes + storage.blockCacheBytes + storage.runIndexBytes,
    pinnedReads: parts.pins.count,
    oldestPinnedVersion: oldestPinned === Infinity ? undefined : oldestPinned,
    oldestPinAgeMs: parts.pins.oldestAgeMs(),
    oldestPinLagVersions: oldestPinned === Infinity ? 0 : parts.pipeline.visibleVersion - oldestPinned,
    conflictLogEntries: pipeline.conflictLogEntries,
    failed: parts.pipeline.failure !== undefined,
    closed,
    recovery: parts.recovery,
    storage,
  };
}
