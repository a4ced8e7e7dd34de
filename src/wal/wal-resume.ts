/**
 * The end of WAL recovery: the point writing resumes at, made durable before the store
 * serves anything (wal-recovery.ts finds it; this module makes it safe to build on).
 *
 * Invariants, each done before recovery returns:
 * - The last segment holding records has its replayed records rewritten and
 *   datasynced (rewriteDurably): what recovery read may be pages a failed fdatasync
 *   left clean but unwritten, and nothing is served or appended after them until they
 *   are on disk.
 * - The segment writing resumes in is synced with its directory entry (openForResume,
 *   the two fsyncs together): a kill during its creation may have left it only in the
 *   page cache.
 * - If either step fails the open fails, and no handle is left open.
 */
import type { FileSystem } from '../fs/file-system.js';
import { SEGMENT_HEADER_BYTES } from './wal-format.js';
import type { WalPosition } from './wal-position.js';
import type { SegmentImage } from './wal-scan.js';

/** A position in a segment image: where its records end, or where writing resumes. */
export interface SegmentPoint {
  segment: SegmentImage;
  offset: number;
}

/**
 * rewriteDurably and openForResume, concurrently (two independent fsyncs, often of the
 * same file through two handles): both are done before recovery returns, which is all
 * either needs. If either fails, the open fails, and a handle the other opened is closed.
 */
export async function rewriteAndOpenForResume(
  fileSystem: FileSystem,
  walDir: string,
  lastData: { segment: SegmentImage; endOffset: number } | undefined,
  resumeCandidate: SegmentPoint | undefined,
): Promise<WalPosition | undefined> {
  const [rewritten, resumed] = await Promise.allSettled([
    lastData === undefined ? undefined : rewriteDurably(fileSystem, lastData.segment, lastData.endOffset),
    resumeCandidate === undefined ? undefined : openForResume(fileSystem, walDir, resumeCandidate.segment, resumeCandidate.offset),
  ]);
  if (rewritten.status === 'rejected') {
    if (resumed.status === 'fulfilled') await resumed.value?.handle.close().catch(() => undefined);
    throw rewritten.reason;
  }
  if (resumed.status === 'rejected') throw resumed.reason;
  return resumed.value;
}

/**
 * Rewrites the replayed records of the last segment that holds data, then
 * datasyncs it. What recovery read may have come from the page cache of a process
 * whose fdatasync failed (Linux then marks the pages clean without writing them):
 * replayed, visible, yet not on disk. Rewriting dirties those pages again, so the
 * sync really writes them before anything is served or appended after them.
 * Earlier segments were synced before the writer moved on from them.
 */
async function rewriteDurably(fileSystem: FileSystem, segment: SegmentImage, endOffset: number): Promise<void> {
  const handle = await fileSystem.open(segment.path, 'readWrite');
  try {
    await handle.write(segment.image.subarray(SEGMENT_HEADER_BYTES, endOffset), SEGMENT_HEADER_BYTES);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Opens the segment writing resumes in, and makes it and its directory entry
 * durable first: a process killed while creating it may have left it complete in
 * the page cache only, and a power loss would then take every write made into it.
 * The two fsyncs are independent (either order leaves the same state on disk once
 * both are done, and nothing is written before both are), so they run together: on
 * every clean reopen they were two device cache flushes one after the other (issue 7).
 * Both settle before a failure is thrown, and the handle is closed on any failure.
 */
async function openForResume(fileSystem: FileSystem, walDir: string, segment: SegmentImage, offset: number): Promise<WalPosition> {
  const handle = await fileSystem.open(segment.path, 'readWrite');
  const [fileSynced, directorySynced] = await Promise.allSettled([handle.sync(), fileSystem.syncDirectory(walDir)]);
  const failed = fileSynced.status === 'rejected' ? fileSynced : directorySynced.status === 'rejected' ? directorySynced : undefined;
  if (failed !== undefined) {
    await handle.close().catch(() => undefined);
    throw failed.reason;
  }
  // Only `offset` is known zero-filled (filledBytes absent): the writer fills before writing past it.
  return { segmentNumber: segment.segmentNumber, handle, sizeBytes: segment.image.length, offset, tag: segment.tag };
}
