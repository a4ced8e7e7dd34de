/**
 * The pacing of a flush's packing on the main thread (flush-thread.ts): how long the
 * walk over a sealed memtable's entries holds the event loop before it yields. A
 * stretch ends once it has run as long as the loop's recent turns of other work (the
 * lower median of the last FLUSH_PACK_TURNS_KEPT), at least FLUSH_PACK_STRETCH_MS_MIN,
 * and never later than FLUSH_PACK_YIELD_ENTRIES entries: so under commits' short turns
 * the stretches stay short (each one delays every commit in flight by its length:
 * issue 12's p99), and a flush never holds the loop for long. A median, not the last
 * turn: one turn made long by a slow fdatasync run inline or a scavenge (the group in
 * it was already late) gave the next stretch that long a budget, so the next group
 * was late too (64 random-key writers, /dev/shm, load 7-9: after a turn over 2 ms a
 * stretch packed 2,304 entries at the median against 512 after a shorter one, and
 * lasted 6.4-19 ms on average against 4.1-8.8 with the median, 4 alternated pairs);
 * a run of long turns (large batches) still gets long stretches once they are most
 * of the kept ones.
 * The clock is given (tests give a fake one); it is read every
 * FLUSH_PACK_CLOCK_CHECK_ENTRIES entries, never per entry.
 */
import { assert } from '../util/assert.js';

/**
 * The most entries packed between two yields to the event loop: ~3 ms of packing at
 * ~0.7 µs per entry. One chunk per turn starved the thread while large batches made
 * each turn long: 1M-key load, flush p50 0.57 s against 0.21 in process, 26 write
 * stalls against 1 (busy machine); a stretch as long as the loop's last turn of other
 * work (PackingPace) reaches this bound under such turns, as before.
 */
export const FLUSH_PACK_YIELD_ENTRIES = 4096;

/**
 * The shortest stretch of packing between two yields (ms). Under 64 concurrent
 * writers a turn of other work (one group's acknowledgements and next commits) lasts
 * about as long, so packing keeps about half the loop while every commit in flight
 * waits at most about this long for it. Whole stretches of FLUSH_PACK_YIELD_ENTRIES
 * were 0.45% of the 64-writer puts' latencies, 2.9-7.7 ms each (busy), the most of
 * any main-thread cause after scavenges (issue 12, p99 attribution).
 */
export const FLUSH_PACK_STRETCH_MS_MIN = 0.5;

/**
 * The loop's turns away whose lower median is a stretch's budget (odd: a true median).
 * One outlier among them moves the budget not at all, a run of three long turns does.
 */
export const FLUSH_PACK_TURNS_KEPT = 5;

/** Entries packed between two clock reads of the pacing (a read costs ~0.1 µs; 256 entries ~0.2 ms). */
export const FLUSH_PACK_CLOCK_CHECK_ENTRIES = 256;

assert(FLUSH_PACK_CLOCK_CHECK_ENTRIES > 0 && FLUSH_PACK_CLOCK_CHECK_ENTRIES < FLUSH_PACK_YIELD_ENTRIES, 'the clock is read within a stretch');
assert(Number.isInteger(FLUSH_PACK_TURNS_KEPT) && FLUSH_PACK_TURNS_KEPT % 2 === 1, 'an odd number of turns has a median');

/**
 * When the main thread's packing of a flush yields the event loop. A stretch starts
 * at `resumed()` (or construction); `packed()` after each entry says whether it is
 * over: after FLUSH_PACK_YIELD_ENTRIES entries, or, read every
 * FLUSH_PACK_CLOCK_CHECK_ENTRIES, once it has run its budget: as long as the loop's
 * recent turns away from it (`paused()` to `resumed()` across one setImmediate; the
 * lower median of the last FLUSH_PACK_TURNS_KEPT), at least FLUSH_PACK_STRETCH_MS_MIN.
 * A wait for the thread (`resumed(false)`) gives the minimum and is not a turn kept:
 * the loop was not busy for that long, the thread was.
 */
export class PackingPace {
  readonly #now: () => number;
  #stretchStartMs: number;
  #budgetMs = FLUSH_PACK_STRETCH_MS_MIN;
  #pausedMs: number;
  /** Entries packed in this stretch. */
  #entries = 0;
  /** The last turns away (ms), a ring of FLUSH_PACK_TURNS_KEPT; the first #turnsKept slots are filled. */
  readonly #turnsAwayMs = new Float64Array(FLUSH_PACK_TURNS_KEPT);
  /** A copy of the turns kept, sorted when the budget is taken (five numbers: no allocation). */
  readonly #sortedMs = new Float64Array(FLUSH_PACK_TURNS_KEPT);
  #turnsKept = 0;
  #nextTurn = 0;

  constructor(now: () => number) {
    this.#now = now;
    this.#stretchStartMs = now();
    this.#pausedMs = this.#stretchStartMs;
  }

  /** One entry was packed: true when the stretch is over (yield, then call paused/resumed). */
  packed(): boolean {
    const entries = ++this.#entries;
    if (entries >= FLUSH_PACK_YIELD_ENTRIES) return true;
    if (entries % FLUSH_PACK_CLOCK_CHECK_ENTRIES !== 0) return false;
    return this.#now() - this.#stretchStartMs >= this.#budgetMs;
  }

  /** The loop is handed back now. */
  paused(): void {
    this.#pausedMs = this.#now();
  }

  /**
   * Packing goes on: a new stretch, its budget the lower median of the loop's recent
   * turns away when `turnAway` (one yield, kept), else the minimum.
   */
  resumed(turnAway: boolean): void {
    const now = this.#now();
    assert(now >= this.#pausedMs, 'the pacing clock does not go back');
    this.#budgetMs = turnAway ? Math.max(FLUSH_PACK_STRETCH_MS_MIN, this.#keepTurn(now - this.#pausedMs)) : FLUSH_PACK_STRETCH_MS_MIN;
    this.#stretchStartMs = now;
    this.#entries = 0;
  }

  /** Keeps one turn away; returns the lower median of the turns kept. */
  #keepTurn(turnMs: number): number {
    this.#turnsAwayMs[this.#nextTurn] = turnMs;
    this.#nextTurn = (this.#nextTurn + 1) % FLUSH_PACK_TURNS_KEPT;
    if (this.#turnsKept < FLUSH_PACK_TURNS_KEPT) this.#turnsKept++;
    const kept = this.#turnsKept;
    const sorted = this.#sortedMs;
    // Insertion sort of at most FLUSH_PACK_TURNS_KEPT numbers, once per yield.
    for (let index = 0; index < kept; index++) {
      const value = this.#turnsAwayMs[index]!;
      let at = index;
      while (at > 0 && sorted[at - 1]! > value) {
        sorted[at] = sorted[at - 1]!;
        at--;
      }
      sorted[at] = value;
    }
    const median = sorted[(kept - 1) >> 1]!;
    assert(median >= 0 && median <= sorted[kept - 1]!, 'the median lies within the turns kept');
    return median;
  }
}
