/**
 * Lets a compaction install during a loop of awaited gets (issue 7).
 *
 * A get that finds its answer without waiting for I/O (the memtables, the point and
 * block caches, a run block read with readSync) settles in microtasks alone, so a loop
 * of such awaited gets never hands control back to the event loop: no macrotask runs
 * until the loop ends. A compaction needs those turns: the merge thread's answer is a
 * message event, the install's manifest write and sync complete as I/O callbacks, and
 * an in-process merge yields with setImmediate. Measured (1M-key random load, reopen,
 * 200,000 uniform awaited gets): the reopen's merge of the 21 flushed runs finished
 * during the gets but was installed ~50 ms after the last one, 9-12 s later on this
 * shared machine, so every get asked 23 runs, not 3.
 *
 * So while a compaction is in flight (Compactor#inFlight), every
 * GETS_PER_EVENT_LOOP_TURN-th get waits for one setImmediate after its lookup (its
 * answer is decoded before the wait: it answers what it looked up, as of its call).
 *
 * Why only then: with no compaction in flight, a get loop still holds back the other
 * background work that waits for a turn (a flush's install and its cache
 * prepopulation, the WAL's fill-ahead steps, timers such as the lock heartbeat).
 * Letting it run makes the gets of that moment slower: the hot-get bench preloads
 * 100,000 keys and measures gets right away, and with a turn every 256 gets its first
 * 100,000-get windows ran at 46-74k gets/s against 143-265k (the flush of the
 * preloaded memtable installed and prepopulated the cache meanwhile; in the previous
 * code it had not installed after 800,000 gets). Whether gets should yield to all
 * background work is a read-path decision, left to it; a compaction in flight is what
 * the run count depends on.
 *
 * Scans have the same problem: a scan whose sources need no file read (the memtables,
 * cached blocks) settles every next() in microtasks, so a loop of
 * `for await (... of store.scan(...))` never yielded either (probe: a 22.6 MB sealed
 * memtable still not flushed after 8 s of scanning, flushed 1.3 s after the load when
 * idle; a compaction in flight is held back the same way). So while a compaction is in
 * flight, every SCAN_STEPS_PER_EVENT_LOOP_TURN-th scan step of a store handle (a
 * next() that answers: an entry, or a scan's end, so a loop of empty scans counts too)
 * waits for one setImmediate after its entry is read and decoded. A turn changes no
 * scan's answer: a scan reads the view captured at scan() (its memtables, its acquired
 * runs, src/engine/read-view.ts) as of its pinned version, so a flush or compaction that
 * installs during the turn, or a write, is not seen (test scan-turns-compaction).
 * Snapshot scans (src/transaction/snapshot.ts) and transaction scans
 * (scanWithOwnWrites) count their steps with the same handle's counter.
 *
 * Scans do not yield when only a flush is pending (a sealed memtable), as gets do not:
 * measured with the range-scan bench (quick profile, ladybug, 100-entry scans after a
 * 100,000-key preload whose sealed memtable flushes meanwhile), 10 alternated pairs of
 * private builds on the loaded 2-core host (load 6.4-7.7), turn also while a memtable
 * is sealed against only while a compaction is in flight: scans/s median 390 against
 * 2,180 (lower in 8 of 10 pairs), scan p50 297 against 177 us, p99 24.3 against 6.8 ms.
 * The flush's install, its cache prepopulation and its thread then run inside the
 * measured scans. A loop that also writes gives turns anyway (a commit waits for the
 * WAL's I/O); a loop that only reads holds the sealed memtable's memory and WAL a while
 * longer (not measured here). Whether reads should yield to all background
 * work stays a read-path decision.
 *
 * Invariant: a count, no clock; the turn is taken after the lookup, never between the
 * open check and the read (a get's or a scan step's semantics do not change).
 */

/** Gets between two event-loop turns forced while a compaction is in flight. */
export const GETS_PER_EVENT_LOOP_TURN = 256;

/** Scan steps (next() calls: each entry, and each scan's end) between two turns forced while a compaction is in flight. */
export const SCAN_STEPS_PER_EVENT_LOOP_TURN = 256;

export class EventLoopTurns {
  readonly #period: number;
  #untilTurn: number;

  /** `period`: reads counted per turn (GETS_PER_EVENT_LOOP_TURN or SCAN_STEPS_PER_EVENT_LOOP_TURN). */
  constructor(period = GETS_PER_EVENT_LOOP_TURN) {
    this.#period = period;
    this.#untilTurn = period;
  }

  /** Counts one read; true for every `period`-th (it should await nextEventLoopTurn()). */
  due(): boolean {
    if (--this.#untilTurn > 0) return false;
    this.#untilTurn = this.#period;
    return true;
  }
}

/** Resolves after the event loop has turned once (timers, I/O callbacks and messages ran). */
export function nextEventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
