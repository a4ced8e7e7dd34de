/**
 * Where a lone commit's fdatasync runs under syncMode 'adaptive' (src/fs/node-file-system.ts):
 * on the main thread (no thread-pool hop) or on libuv's thread pool, whichever has
 * been faster here, measured from the call to the moment the caller can go on.
 *
 * Why measure: on a quiet machine the inline fdatasync saves the hop (raw limit
 * p50 121 µs inline vs 184 µs thread pool, issue 12), but on a CPU-contended one the
 * main thread waits for a CPU after the flush completes: interleaved in one process
 * on a 2-core machine at load 10, inline p50 was 3.5-4 ms against 0.2-0.4 ms on the
 * thread pool, for the raw limit and the store alike. Neither placement wins everywhere.
 *
 * Invariants:
 * - Each placement is measured SYNC_PLACEMENT_SAMPLES_FIRST times (alternating,
 *   inline first) before the choice relies on either; the loser is re-measured every SYNC_PLACEMENT_PROBE_INTERVAL choices,
 *   so a change of conditions is noticed; each is judged by the median of its last
 *   SYNC_PLACEMENT_SAMPLES measurements.
 * - Only the placement changes: every fdatasync still resolves after the flush.
 */
import { assert } from '../util/assert.js';

/**
 * Every this many choices the placement currently losing is measured again. A probe
 * of the thread pool costs the hop (about 60 µs on a quiet machine) and the
 * submission (15-30 µs of the main thread on this VM): at 32 that was about 1 µs of
 * main-thread CPU per put of one awaited writer (issue 12 profile). The winner's own
 * window follows a change at once; the probes only notice that the loser got better,
 * which at 128 takes about 5 probes (half a window) = 640 syncs.
 */
export const SYNC_PLACEMENT_PROBE_INTERVAL = 128;
/**
 * Latest measurements kept per placement; each is judged by their median, since
 * fdatasync latency is heavy-tailed (a busy disk's p99 is 50x its p50) and a mean
 * or moving average let one outlier of a rare probe decide for hundreds of commits.
 */
export const SYNC_PLACEMENT_SAMPLES = 9;
/** Measurements of each placement taken first, alternating, before either is relied on. */
export const SYNC_PLACEMENT_SAMPLES_FIRST = 3;

assert(SYNC_PLACEMENT_SAMPLES_FIRST <= SYNC_PLACEMENT_SAMPLES && SYNC_PLACEMENT_SAMPLES_FIRST < SYNC_PLACEMENT_PROBE_INTERVAL, 'sampling constants ordered');

/** The latest latencies of one placement and their median. */
class LatencyWindow {
  /** The ring of the latest samples (the first `#count` slots are filled). */
  readonly #samples = new Float64Array(SYNC_PLACEMENT_SAMPLES);
  /** The same samples in ascending order, kept by insertion: no array made per sample (one per fdatasync). */
  readonly #sorted = new Float64Array(SYNC_PLACEMENT_SAMPLES);
  #count = 0;
  #next = 0;
  /** Median of the samples held; Infinity until the first. */
  medianMs = Infinity;

  add(sampleMs: number): void {
    const sorted = this.#sorted;
    let length = this.#count;
    if (length === SYNC_PLACEMENT_SAMPLES) {
      // Take the sample leaving the ring out of the sorted copy.
      const leaving = this.#samples[this.#next]!;
      let at = 0;
      while (sorted[at] !== leaving) at++;
      sorted.copyWithin(at, at + 1, length);
      length--;
    }
    let at = length;
    while (at > 0 && sorted[at - 1]! > sampleMs) {
      sorted[at] = sorted[at - 1]!;
      at--;
    }
    sorted[at] = sampleMs;
    this.#count = length + 1;
    this.#samples[this.#next] = sampleMs;
    this.#next = (this.#next + 1) % SYNC_PLACEMENT_SAMPLES;
    // The lower median: of two samples, the smaller (an outlier is usually the larger).
    this.medianMs = sorted[(this.#count - 1) >> 1]!;
    assert(this.#count <= SYNC_PLACEMENT_SAMPLES, 'the window is bounded');
  }

  get count(): number {
    return this.#count;
  }
}

export class SyncPlacement {
  readonly #inline = new LatencyWindow();
  readonly #threadPool = new LatencyWindow();
  #choices = 0;

  /** True: run this fdatasync on the calling thread; false: on the thread pool. */
  chooseInline(): boolean {
    this.#choices++;
    const inlineCount = this.#inline.count;
    const threadPoolCount = this.#threadPool.count;
    if (inlineCount < SYNC_PLACEMENT_SAMPLES_FIRST || threadPoolCount < SYNC_PLACEMENT_SAMPLES_FIRST) return inlineCount <= threadPoolCount;
    const inlineFaster = this.#inline.medianMs <= this.#threadPool.medianMs;
    return this.#choices % SYNC_PLACEMENT_PROBE_INTERVAL === 0 ? !inlineFaster : inlineFaster;
  }

  /** Records how long one fdatasync placed as chosen took, call to continuation. */
  record(inline: boolean, elapsedMs: number): void {
    assert(elapsedMs >= 0 && Number.isFinite(elapsedMs), 'a latency is finite and not negative');
    (inline ? this.#inline : this.#threadPool).add(elapsedMs);
  }

  /** The medians (tests, diagnostics); Infinity = not measured yet. */
  get mediansMs(): { inline: number; threadPool: number } {
    return { inline: this.#inline.medianMs, threadPool: this.#threadPool.medianMs };
  }
}
