/**
 * When the commit pipeline (src/commit/commit-pipeline.ts) cuts its next group, and
 * whether a record's fdatasync may block the event loop.
 *
 * When the last group held several commits, the next group is started with
 * setImmediate, so every caller whose promise was just resolved gets to queue its
 * next commit (in microtasks) before the group is cut: 64 concurrent writers share
 * one fdatasync instead of alternating 1 and 63. When the last group held a single
 * commit (a sequential writer), the group is cut in a microtask: nobody else is
 * waiting, and the event-loop turn would cost a sequential writer about 4 µs a put.
 *
 * A record holding the rest of its group asks the writer for a blocking fdatasync
 * (FileHandle#datasync's hint; NodeFileSystem's 'adaptive' syncMode then syncs on the
 * main thread when that measured faster) when nothing is queued and nothing was
 * queued while the previous record's fdatasync ran: every writer is waiting for its
 * own commit (a sequential writer, or N closed-loop writers sharing each group), so
 * the loop has nothing to do during the flush, and the thread-pool submission (about
 * 15-25 µs of the main thread measured here) and the loop's wake-up are pure cost. A
 * commit queued during a thread-pool fdatasync (writers arriving on their own) turns
 * the hint off until a fdatasync passes with nothing queued; the placement's periodic
 * probe of the thread pool gives such arrivals the chance to show up.
 *
 * Invariants: only hints live here (when to cut, whether to block); neither changes
 * what is written, in what order, or when a commit is acknowledged. No allocation per
 * group: the callbacks are function values the pipeline made once.
 */

/** One settled promise to schedule a microtask from (schedule). */
export const RESOLVED: Promise<void> = Promise.resolve();

export class GroupPacing {
  /** A commit was queued while the last record's fdatasync ran (recordSynced): the next record does not ask to block. */
  #queuedDuringLastSync = false;

  /** Runs `startFlush` to cut the next group, paced by `lastGroupSize` (the commits of the last group; see the module header). */
  schedule(startFlush: () => void, lastGroupSize: number): void {
    // A reaction on a settled promise, not queueMicrotask: under Node 20 queueMicrotask
    // wraps every callback in an AsyncResource (about 1 µs a group for a sequential writer).
    if (lastGroupSize <= 1) void RESOLVED.then(startFlush);
    else setImmediate(startFlush);
  }

  /**
   * Whether the next record's fdatasync may block the loop, with `queuedCount` commits
   * queued now: nothing queued now nor during the last fdatasync means every writer
   * waits for a commit of this group, so blocking beats paying the thread hop.
   */
  mayBlock(queuedCount: number): boolean {
    return queuedCount === 0 && !this.#queuedDuringLastSync;
  }

  /**
   * A record's fdatasync resolved with `queuedCount` commits queued. Read before the
   * acknowledgement resolves anyone: only commits that arrived during the fdatasync.
   */
  recordSynced(queuedCount: number): void {
    this.#queuedDuringLastSync = queuedCount > 0;
  }
}
