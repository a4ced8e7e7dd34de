/**
 * The k-way merge of compaction: the entries of several adjacent runs in run
 * order (key ascending, version descending), one key at a time through version GC
 * (version-gc.ts).
 *
 * Inputs are given newest first. Their version ranges do not overlap, so a key's
 * entries from a newer run are all above its entries from an older one: taking the
 * cursors in input order for each key yields the key's history newest first.
 *
 * Invariants: every cursor is closed when the merge ends (finished, failed or
 * abandoned by its consumer); values are views into the cursors' decoded blocks,
 * which are never mutated or reused (run-cursor.ts), not copies; the merge yields to the event loop every MERGE_YIELD_ENTRIES entries, so a large
 * compaction never holds the loop for long.
 *
 * Cancellation: after each yield the merge checks its `signal` (the compactor's, aborted
 * by close()) and throws the signal's reason: the consumer (writeRun) then removes its
 * temporary output. A cancelled merge stops within `yieldEntries` entries (MERGE_YIELD_ENTRIES
 * on the main thread, MERGE_WORKER_YIELD_ENTRIES in the merge thread).
 */
import type { RunCursor } from '../run/run-cursor.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { collectKey, type VersionGcRule } from './version-gc.js';
import { isNotRetainedMarker } from '../engine/resolve.js';

/** Entries merged between two yields to the event loop (the main thread's merge). */
export const MERGE_YIELD_ENTRIES = 256;
/**
 * The same in the merge thread (merge-worker.ts): its loop serves only the cancel
 * message, so it yields less often; a cancel still stops it within this many entries.
 */
export const MERGE_WORKER_YIELD_ENTRIES = 4096;

export interface MergeCounters {
  entriesRead: number;
  entriesWritten: number;
  /** Versions (values and tombstones) dropped: markers are not versions. */
  entriesDropped: number;
  /** NOT_RETAINED markers among the entries read, and among those written. */
  markersRead: number;
  markersWritten: number;
  /** Bytes of the values (and keys) written: live data in the output. */
  payloadBytesWritten: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Merged, collected entries of `cursors` (newest run first); closes them at the end. */
export async function* mergeRuns(
  cursors: readonly RunCursor[],
  rule: VersionGcRule,
  counters: MergeCounters,
  onProgress?: (entriesRead: number) => void,
  signal?: AbortSignal,
  yieldEntries = MERGE_YIELD_ENTRIES,
): AsyncGenerator<RunEntry> {
  assert(Number.isInteger(yieldEntries) && yieldEntries > 0, `merge yields every ${yieldEntries} entries`);
  try {
    let sinceYield = 0;
    for (;;) {
      let smallest: string | undefined;
      for (const cursor of cursors) {
        const key = cursor.current?.key;
        if (key !== undefined && (smallest === undefined || key < smallest)) smallest = key;
      }
      if (smallest === undefined) return;
      const history: RunEntry[] = [];
      for (const cursor of cursors) {
        while (cursor.current !== undefined && cursor.current.key === smallest) {
          const entry = cursor.current;
          // The value is a view into the cursor's decoded block (fresh per read, never
          // mutated), which the view keeps alive until the writer copies it into its
          // own block: no copy here (a copy per entry was one small off-heap buffer
          // each, more garbage for the collector while the store serves reads).
          // The cursor makes a fresh entry object per position: it is kept as is.
          history.push(entry);
          const pending = cursor.advance();
          if (pending !== undefined) await pending;
        }
      }
      assert(history.length > 0, 'the smallest key has an entry');
      counters.entriesRead += history.length;
      const { kept, droppedCount } = collectKey(history, rule);
      counters.entriesDropped += droppedCount;
      for (const entry of history) if (isNotRetainedMarker(entry.value)) counters.markersRead++;
      for (const entry of kept) {
        if (isNotRetainedMarker(entry.value)) counters.markersWritten++;
        counters.entriesWritten++;
        counters.payloadBytesWritten += entry.key.length + (entry.value?.length ?? 0);
        yield entry;
      }
      sinceYield += history.length;
      if (sinceYield >= yieldEntries) {
        sinceYield = 0;
        onProgress?.(counters.entriesRead);
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
    }
  } finally {
    for (const cursor of cursors) cursor.close();
  }
}
