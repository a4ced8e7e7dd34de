/**
 * stats(): one plain object of counters, cheap to build (no I/O), safe to log.
 */
import type { RepairReport, TornTail } from '../wal/wal-recovery.js';
import type { StoreParts } from './store.js';

export interface RecoveryReport {
  durationMs: number;
  records: number;
  commits: number;
  tornTail: TornTail | undefined;
  repair: RepairReport | undefined;
  removedSegments: string[];
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
  /** Keys whose newest version is not a delete. */
  keys: number;
  /** Keys with any retained history (including deleted ones). */
  keysWithHistory: number;
  /** Versions retained in memory, over all keys. */
  versions: number;
  /** Versions reclaimed by the retention policy since open. */
  reclaimedVersions: number;
  /** Estimated bytes held by the memory index (keys, values, bookkeeping). */
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
}

export function buildStats(parts: StoreParts, closed: boolean): StoreStats {
  const pipeline = parts.pipeline.stats();
  const wal = parts.writer.stats();
  const index = parts.index.stats();
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
    keys: index.liveKeys,
    keysWithHistory: index.keys,
    versions: index.versions,
    reclaimedVersions: index.reclaimedVersions,
    memoryBytes: index.memoryBytes,
    pinnedReads: parts.pins.count,
    oldestPinnedVersion: oldestPinned === Infinity ? undefined : oldestPinned,
    oldestPinAgeMs: parts.pins.oldestAgeMs(),
    oldestPinLagVersions: oldestPinned === Infinity ? 0 : parts.pipeline.visibleVersion - oldestPinned,
    conflictLogEntries: pipeline.conflictLogEntries,
    failed: parts.pipeline.failure !== undefined,
    closed,
    recovery: parts.recovery,
  };
}
