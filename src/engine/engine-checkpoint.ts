/**
 * A checkpoint of the storage engine (StorageEngine#checkpoint): the active memtable
 * sealed, everything applied so far flushed to runs and recorded in the manifest, and
 * the WAL segments the runs cover deleted, so a clean reopen replays no record.
 *
 * Invariants:
 * - The manifest's WAL start moves to the writer's segment only when no memtable holds
 *   anything (every applied commit is in runs) and it is below that segment: a segment
 *   is left behind by the writer only after its last group was acknowledged, so no
 *   record below the writer's segment is unapplied.
 * - Only segments below both the manifest's WAL start and the writer's segment are
 *   deleted: each is covered by runs the manifest records, and none is being written.
 * - With retention by age, the commit-time samples are written to the manifest too, so
 *   they survive a reopen (compaction writes them as well).
 */
import { performance } from 'node:perf_hooks';
import type { VersionTimes } from '../compaction/version-times.js';
import type { FileSystem } from '../fs/file-system.js';
import type { Manifest } from '../manifest/manifest.js';
import { removeSegmentsBelow } from '../wal/segment-files.js';
import type { Flusher } from './flusher.js';
import type { Memtables } from './memtables.js';

export interface CheckpointResult {
  /** Every version at or below this is in runs. */
  flushedVersion: number;
  runsWritten: number;
  bytesWritten: number;
  walSegmentsDeleted: number;
  durationMs: number;
}

/** The engine's parts a checkpoint works with. */
export interface CheckpointParts {
  readonly memtables: Memtables;
  readonly flusher: Flusher;
  readonly manifest: Manifest;
  readonly versionTimes: VersionTimes | undefined;
  readonly fileSystem: FileSystem;
  readonly walDirectory: string;
  /** The segment the WAL writer appends to now. */
  readonly currentWalSegment: () => number;
}

/**
 * Flushes everything applied so far to runs, records it in the manifest and deletes
 * the WAL segments the runs cover. REQUIRES: no commit is applied concurrently in a
 * way that matters (commits may continue; they land in the next memtable).
 */
export async function checkpointEngine(parts: CheckpointParts): Promise<CheckpointResult> {
  const { memtables, flusher, manifest } = parts;
  const started = performance.now();
  const before = flusher.stats();
  memtables.seal();
  await flusher.flushAll();
  let walSegmentsDeleted = 0;
  const current = parts.currentWalSegment();
  if (memtables.immutableCount === 0 && memtables.active.appliedVersion === 0 && manifest.state.walStartSegment < current) {
    // Everything applied is in runs (no memtable holds anything), and no record of a
    // segment below the writer's is unapplied (a segment is left only after its last
    // group was acknowledged): the log may start at the writer's segment.
    await manifest.apply({ walStartSegment: current });
  }
  // Every segment below the manifest's WAL start is covered by runs; a flush leaves
  // the one the writer was still in (a cut waiting for its rotation, e.g. after an
  // outsized record), and once the writer has moved on nothing else would delete it
  // before the next flush: a 6 MB segment of flushed records outlived checkpoint and
  // close, and the next open read it again.
  const deleteBelow = Math.min(manifest.state.walStartSegment, current);
  walSegmentsDeleted = (await removeSegmentsBelow(parts.fileSystem, parts.walDirectory, deleteBelow)).length;
  // Retention by age: the commit-time samples survive a reopen (compaction writes them too).
  if (parts.versionTimes !== undefined) {
    const samples = parts.versionTimes.samples();
    await manifest.apply({ versionTimes: samples });
    parts.versionTimes.recorded(samples);
  }
  const after = flusher.stats();
  return {
    flushedVersion: manifest.state.flushedVersion,
    runsWritten: after.flushes - before.flushes,
    bytesWritten: after.flushedBytes - before.flushedBytes,
    walSegmentsDeleted: after.walSegmentsDeleted - before.walSegmentsDeleted + walSegmentsDeleted,
    durationMs: performance.now() - started,
  };
}
