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
 * compaction never holds the loop for long. The kept entries go to the writer in
 * batches (mergeRunBatches, writeRun's EntryBatches), in run order, never empty.
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
  /**
   * Deletes at the retention floor dropped by the per-key count (version-gc.ts
   * `countedFloorDelete`), and the first FLOOR_DELETE_KEYS_MAX of their keys: the install
   * re-checks them against what was written since the deciding step (compaction-protocol.ts).
   * Absent: none.
   */
  floorDeletesDropped?: number;
  floorDeleteKeys?: string[];
}

/** Keys of counted floor deletes a merge lists for the install's check; past it, any write since counts. */
export const FLOOR_DELETE_KEYS_MAX = 65_536;

function noteFloorDelete(counters: MergeCounters, key: string): void {
  counters.floorDeletesDropped = (counters.floorDeletesDropped ?? 0) + 1;
  const keys = (counters.floorDeleteKeys ??= []);
  if (keys.length < FLOOR_DELETE_KEYS_MAX) keys.push(key);
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Kept entries handed to the writer at once (merge yields end a batch too): one
 * promise and one async-generator step per batch, not per entry. Per entry those were
 * about a third of a merge thread's CPU (4 tier-1 runs, 0.8M entries: 3.7 -> 2.4 us
 * per entry without the per-entry steps, busy machine). Small, because a batch's
 * entries (objects, value views, key strings) live until the writer is done with
 * it: in the merge thread's small young generation (merge-thread.ts) each scavenge
 * copies what is live, and batches of 512 cost ~25% more CPU than 64 (semi-space
 * 1 MiB, busy, alternated 3x: 70-78 vs 88-98 MB/s); 16 to 128 measured alike.
 */
export const MERGE_BATCH_ENTRIES = 64;

/**
 * A batch also ends once its values and keys reach this many bytes: a batch's values are
 * views that keep their cursors' decoded blocks alive until the writer has copied them,
 * so a batch of 64 entries of 16 MiB values held 1 GiB of blocks (three runs of eight
 * 16 MiB values compacted at +479 MiB RSS in the merge thread, +400 MiB of array buffers
 * in process). With this, a merge holds about one decoded block per input run, one large
 * value in the batch and the writer's block (test/mergerss-large-value-merge-memory.test.ts).
 */
export const MERGE_BATCH_BYTES = 1024 * 1024;

/**
 * Merged, collected entries of `cursors` (newest run first), in run order, in batches
 * of at most about MERGE_BATCH_ENTRIES entries or MERGE_BATCH_BYTES bytes (never empty; a batch array is the consumer's
 * to keep); closes the cursors at the end.
 */
export async function* mergeRunBatches(
  cursors: readonly RunCursor[],
  rule: VersionGcRule,
  counters: MergeCounters,
  onProgress?: (entriesRead: number) => void,
  signal?: AbortSignal,
  yieldEntries = MERGE_YIELD_ENTRIES,
): AsyncGenerator<RunEntry[]> {
  assert(Number.isInteger(yieldEntries) && yieldEntries > 0, `merge yields every ${yieldEntries} entries`);
  try {
    let sinceYield = 0;
    let batch: RunEntry[] = [];
    let batchBytes = 0;
    // One key's entries, reused for every key: its first `count` slots are the key's
    // (truncated only for collectKey: setting an array's length is a runtime call per
    // key); collectKey returns it as `kept` when nothing is dropped, and its entries are
    // copied into the batch before the next key.
    const history: RunEntry[] = [];
    const floor = rule.retentionFloor ?? 0;
    /** Counts a kept entry and adds it to the batch (both paths below). */
    const keep = (entry: RunEntry): void => {
      if (isNotRetainedMarker(entry.value)) counters.markersWritten++;
      counters.entriesWritten++;
      const bytes = entry.key.length + (entry.value?.length ?? 0);
      counters.payloadBytesWritten += bytes;
      batchBytes += bytes;
      batch.push(entry);
    };
    for (;;) {
      let smallest: string | undefined;
      for (const cursor of cursors) {
        const key = cursor.current?.key;
        if (key !== undefined && (smallest === undefined || key < smallest)) smallest = key;
      }
      if (smallest === undefined) break;
      let count = 0;
      for (const cursor of cursors) {
        while (cursor.current !== undefined && cursor.current.key === smallest) {
          // The value is a view into the cursor's decoded block (fresh per read, never
          // mutated), which the view keeps alive until the writer copies it into its
          // own block: no copy here (a copy per entry was one small off-heap buffer
          // each, more garbage for the collector while the store serves reads).
          // The cursor makes a fresh entry object per position: it is kept as is.
          history[count++] = cursor.current;
          const pending = cursor.advance();
          if (pending !== undefined) await pending;
        }
      }
      assert(count > 0, 'the smallest key has an entry');
      counters.entriesRead += count;
      if (count === 1 && floor === 0) {
        // A key with one entry and no retention floor keeps it (collectKey's result, without its object per key).
        const entry = history[0]!;
        if (isNotRetainedMarker(entry.value)) counters.markersRead++;
        keep(entry);
      } else {
        history.length = count;
        for (const entry of history) if (isNotRetainedMarker(entry.value)) counters.markersRead++;
        const { kept, droppedCount, countedFloorDelete } = collectKey(history, rule);
        counters.entriesDropped += droppedCount;
        if (countedFloorDelete === true) noteFloorDelete(counters, smallest);
        for (const entry of kept) keep(entry);
        // Emptied: a slot left set past the next key's count would keep a value (and its decoded block) alive.
        history.length = 0;
      }
      sinceYield += count;
      if (sinceYield >= yieldEntries) {
        sinceYield = 0;
        onProgress?.(counters.entriesRead);
        if (batch.length > 0) {
          yield batch;
          batch = [];
          batchBytes = 0;
        }
        await yieldToEventLoop();
        signal?.throwIfAborted();
      } else if (batch.length >= MERGE_BATCH_ENTRIES || batchBytes >= MERGE_BATCH_BYTES) {
        yield batch;
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    for (const cursor of cursors) cursor.close();
  }
}

/** mergeRunBatches one entry at a time (tests; the compactor's merges use the batches). */
export async function* mergeRuns(
  cursors: readonly RunCursor[],
  rule: VersionGcRule,
  counters: MergeCounters,
  onProgress?: (entriesRead: number) => void,
  signal?: AbortSignal,
  yieldEntries = MERGE_YIELD_ENTRIES,
): AsyncGenerator<RunEntry> {
  for await (const batch of mergeRunBatches(cursors, rule, counters, onProgress, signal, yieldEntries)) yield* batch;
}
