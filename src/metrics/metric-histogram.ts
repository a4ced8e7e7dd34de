/**
 * One histogram metric: an HDR histogram (hdr-histogram-js) for percentiles, plus
 * fixed cumulative buckets for the Prometheus exposition (hdr-histogram-js has no
 * public "count at or below" query).
 *
 * Values are recorded as integers in a base unit (microseconds for durations,
 * commits for group sizes) and reported in the metric's unit (seconds, commits) by
 * dividing by `unitScale`. Values past the HDR histogram's range are clamped to it
 * (and still counted exactly in the buckets, the sum and the count).
 *
 * A value is not recorded into the HDR histogram at once: hdr-histogram-js finds a
 * value's slot with Math.log2, Math.pow and Math.floor and updates its own min, max and
 * total through several calls, 90-400 ns a value measured (busy machine), once per commit
 * for the commit latency (issue 12). `record` counts the value at that same slot of its
 * own array (countsIndex: two integer operations, the HDR layout for these settings), and
 * the counts are folded into the HDR histogram, one call per slot used, when it is read
 * (data()). A percentile depends only on the counts per slot, so it is the same.
 *
 * Invariants: count equals the HDR histogram's total count (once folded) and the +Inf
 * bucket; bucket bounds ascend strictly; recording allocates nothing; countsIndex(v) is
 * the slot hdr-histogram-js gives v (test/metric-histogram-slots.test.ts) and
 * lowestValueAt(countsIndex(v)) lies in that same slot.
 */
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { assert } from '../util/assert.js';

/** Significant decimal digits the HDR histograms keep (1% resolution). */
export const HISTOGRAM_SIGNIFICANT_DIGITS = 2;
/** Largest recorded value in base units (one hour of microseconds, or a group of as many commits). */
export const HISTOGRAM_VALUE_MAX = 3_600_000_000;

/**
 * The HDR layout of these settings (lowest discernible value 1, so unit magnitude 0):
 * 2 significant digits need 2 * 10^2 = 200 values at unit resolution, so sub-buckets of
 * 2^8 = 256 slots, of which the upper half, 2^7, is new in every bucket after the first.
 */
const SUB_BUCKET_HALF_COUNT_MAGNITUDE = 7;
const SUB_BUCKET_HALF_COUNT = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
assert(HISTOGRAM_SIGNIFICANT_DIGITS === 2 && 2 * 10 ** HISTOGRAM_SIGNIFICANT_DIGITS <= 2 * SUB_BUCKET_HALF_COUNT, 'the sub-bucket layout matches the significant digits');
assert(HISTOGRAM_VALUE_MAX < 2 ** 32, 'a recorded value is a 32-bit unsigned integer (Math.clz32)');

/**
 * The HDR counts slot of an integer value 0 <= value <= HISTOGRAM_VALUE_MAX: bucket
 * max(floor(log2 value) - 7, 0), sub-bucket value >> bucket, slot bucket * 128 +
 * sub-bucket (hdr-histogram-js countsArrayIndex, with integer operations).
 */
export function countsIndex(value: number): number {
  const bucket = Math.max(31 - Math.clz32(value) - SUB_BUCKET_HALF_COUNT_MAGNITUDE, 0);
  return bucket * SUB_BUCKET_HALF_COUNT + (value >>> bucket);
}

/** The lowest value of a counts slot (its bucket's sub-bucket times the bucket's unit). */
export function lowestValueAt(index: number): number {
  const bucket = index < 2 * SUB_BUCKET_HALF_COUNT ? 0 : (index >>> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1;
  return (index - bucket * SUB_BUCKET_HALF_COUNT) * 2 ** bucket;
}

/** Slots in use up to HISTOGRAM_VALUE_MAX (the counts array of every MetricHistogram). */
const COUNTS_LENGTH = countsIndex(HISTOGRAM_VALUE_MAX) + 1;

export interface HistogramData {
  /** Recorded values. */
  count: number;
  /** Sum of the recorded values, in the metric's unit. */
  sum: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  /** Cumulative counts: values at or below `le` (in the metric's unit); the last has le = Infinity. */
  buckets: Array<{ le: number; count: number }>;
}

export class MetricHistogram {
  readonly #hdr: Histogram;
  /** Counts per HDR slot not yet folded into #hdr (see the module header); made at the first record (26 KiB). */
  #unfolded: Float64Array | undefined;
  /** Lowest and highest slot with an unfolded count (#unfoldedLow > #unfoldedHigh: none). */
  #unfoldedLow = COUNTS_LENGTH;
  #unfoldedHigh = -1;
  /** Upper bounds of the buckets, in base units, ascending. */
  readonly #boundsBase: readonly number[];
  /** Per-bucket (not cumulative) counts; the last slot is the +Inf bucket. */
  readonly #bucketCounts: Float64Array;
  readonly #unitScale: number;
  #sumBase = 0;
  #count = 0;
  #minBase = Infinity;
  #maxBase = 0;

  /** `bounds` in the metric's unit; `unitScale`: base units per metric unit (1e6 for seconds recorded in µs). */
  constructor(bounds: readonly number[], unitScale: number) {
    assert(bounds.length > 0 && bounds.every((bound, index) => index === 0 || bound > bounds[index - 1]!), 'bucket bounds ascend');
    assert(unitScale >= 1, 'the base unit is no larger than the metric unit');
    this.#hdr = build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_VALUE_MAX, numberOfSignificantValueDigits: HISTOGRAM_SIGNIFICANT_DIGITS, bitBucketSize: 32 });
    // Rounded: base units are integers, and 0.00001 * 1e6 is 10.000000000000002.
    this.#boundsBase = bounds.map((bound) => Math.round(bound * unitScale));
    this.#bucketCounts = new Float64Array(bounds.length + 1);
    this.#unitScale = unitScale;
  }

  /** Records one value in base units (a non-negative number; rounded to an integer). */
  record(valueBase: number): void {
    this.recordRepeated(valueBase, 1);
  }

  /** Records `count` occurrences of one value in base units. */
  recordRepeated(valueBase: number, count: number): void {
    const value = valueBase <= 0 ? 0 : Math.round(valueBase);
    const slot = countsIndex(value < HISTOGRAM_VALUE_MAX ? value : HISTOGRAM_VALUE_MAX);
    (this.#unfolded ??= new Float64Array(COUNTS_LENGTH))[slot]! += count;
    if (slot < this.#unfoldedLow) this.#unfoldedLow = slot;
    if (slot > this.#unfoldedHigh) this.#unfoldedHigh = slot;
    const bounds = this.#boundsBase;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.#bucketCounts[index]! += count;
    this.#sumBase += value * count;
    this.#count += count;
    if (value < this.#minBase) this.#minBase = value;
    if (value > this.#maxBase) this.#maxBase = value;
  }

  /** Records the microseconds elapsed since `startMs` (a performance.now() reading). */
  recordSince(startMs: number): void {
    this.record((performance.now() - startMs) * 1000);
  }

  get count(): number {
    return this.#count;
  }

  /** Records the unfolded counts into the HDR histogram, one call per slot, at the slot's lowest value. */
  #fold(): void {
    const unfolded = this.#unfolded;
    if (unfolded === undefined) return;
    for (let slot = this.#unfoldedLow; slot <= this.#unfoldedHigh; slot++) {
      const count = unfolded[slot]!;
      if (count === 0) continue;
      this.#hdr.recordValueWithCount(lowestValueAt(slot), count);
      unfolded[slot] = 0;
    }
    this.#unfoldedLow = COUNTS_LENGTH;
    this.#unfoldedHigh = -1;
  }

  data(): HistogramData {
    const scale = this.#unitScale;
    const hdr = this.#hdr;
    this.#fold();
    assert(hdr.totalCount === this.#count, 'the HDR histogram and the buckets counted the same values');
    const buckets: HistogramData['buckets'] = [];
    let cumulative = 0;
    for (let index = 0; index < this.#bucketCounts.length; index++) {
      cumulative += this.#bucketCounts[index]!;
      const bound = this.#boundsBase[index];
      buckets.push({ le: bound === undefined ? Infinity : bound / scale, count: cumulative });
    }
    const empty = this.#count === 0;
    return {
      count: this.#count,
      sum: this.#sumBase / scale,
      min: empty ? 0 : this.#minBase / scale,
      max: this.#maxBase / scale,
      mean: empty ? 0 : this.#sumBase / this.#count / scale,
      p50: hdr.getValueAtPercentile(50) / scale,
      p90: hdr.getValueAtPercentile(90) / scale,
      p99: hdr.getValueAtPercentile(99) / scale,
      p999: hdr.getValueAtPercentile(99.9) / scale,
      buckets,
    };
  }
}

/** Latency buckets in seconds: 10 µs to 10 s, about three per decade (fdatasync is 50 µs to 50 ms). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/** Group size buckets, in commits. */
export const GROUP_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Microseconds per second: durations are recorded in µs, reported in seconds. */
export const MICROSECONDS_PER_SECOND = 1_000_000;

/** Nanoseconds per second: point reads (often under a microsecond) are recorded in ns. */
export const NANOSECONDS_PER_SECOND = 1_000_000_000;

/** Point read buckets in seconds: 250 ns to 10 s (a memtable hit is about a microsecond, a disk read 10 µs to 10 ms). */
export const READ_LATENCY_BUCKETS_SECONDS: readonly number[] = [0.00000025, 0.0000005, 0.000001, 0.0000025, 0.000005, ...LATENCY_BUCKETS_SECONDS];

/** Size buckets in bytes, powers of four from 4 KiB to 4 GiB (a flushed or compacted run). */
export const SIZE_BUCKETS_BYTES: readonly number[] = Array.from({ length: 11 }, (_, index) => 4096 * 4 ** index);

export function latencyHistogram(): MetricHistogram {
  return new MetricHistogram(LATENCY_BUCKETS_SECONDS, MICROSECONDS_PER_SECOND);
}

/** A histogram of point read durations, recorded in nanoseconds, reported in seconds. */
export function readLatencyHistogram(): MetricHistogram {
  return new MetricHistogram(READ_LATENCY_BUCKETS_SECONDS, NANOSECONDS_PER_SECOND);
}

/** A histogram of sizes in bytes. */
export function sizeHistogram(): MetricHistogram {
  return new MetricHistogram(SIZE_BUCKETS_BYTES, 1);
}
