/**
 * Lets the event loop turn during a loop of awaited gets (issue 7).
 *
 * A get that finds its answer without waiting for I/O (the memtables, the point and
 * block caches, a run block read with readSync) settles in microtasks alone, so a loop
 * of such awaited gets never hands control back to the event loop: no macrotask runs
 * until the loop ends. The store's background work needs those turns: a compaction's
 * install (the merge thread's answer is a message event; the manifest edit's write and
 * sync complete as I/O callbacks), a flush's install, an in-process merge's slices
 * (setImmediate), and timers (background scrub, the directory lock's heartbeat).
 * Measured (1M-key random load, reopen, 200,000 uniform awaited gets): the reopen's
 * merge of the 21 flushed runs finished during the gets but was installed ~50 ms after
 * the last one, 9-12 s later on this shared machine, so every get asked 23 runs, not 3.
 *
 * So every GETS_PER_EVENT_LOOP_TURN-th get waits for one setImmediate after its lookup
 * (its answer is decoded before the wait: it answers what it looked up, as of its call). One turn per 256 gets
 * costs about a setImmediate round trip spread over 256 gets, and bounds how long a get
 * loop holds the main thread to 256 gets (a few ms for gets that read run blocks).
 *
 * Invariant: a count, no clock; the turn is taken after the lookup, never between the
 * open check and the read (a get's semantics do not change).
 */

/** Gets between two event-loop turns forced by EventLoopTurns. */
export const GETS_PER_EVENT_LOOP_TURN = 256;

export class EventLoopTurns {
  #untilTurn = GETS_PER_EVENT_LOOP_TURN;

  /** Counts one get; true for every GETS_PER_EVENT_LOOP_TURN-th (it should await nextEventLoopTurn()). */
  due(): boolean {
    if (--this.#untilTurn > 0) return false;
    this.#untilTurn = GETS_PER_EVENT_LOOP_TURN;
    return true;
  }
}

/** Resolves after the event loop has turned once (timers, I/O callbacks and messages ran). */
export function nextEventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
