/**
 * MetricHistogram counts a recorded value at its HDR slot itself and folds the counts
 * into the HDR histogram when it is read (src/metrics/metric-histogram.ts): the slot
 * must be the one hdr-histogram-js computes for every value up to HISTOGRAM_VALUE_MAX
 * (around every power of two, where its Math.log2 decides the bucket), a slot's lowest
 * value must lie in that slot, and every figure read must equal a histogram recorded
 * straight into hdr-histogram-js, whether it is read once or between records.
 */
import { build } from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { countsIndex, HISTOGRAM_SIGNIFICANT_DIGITS, HISTOGRAM_VALUE_MAX, latencyHistogram, lowestValueAt } from '../src/metrics/metric-histogram.js';

const newHdr = () => build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_VALUE_MAX, numberOfSignificantValueDigits: HISTOGRAM_SIGNIFICANT_DIGITS, bitBucketSize: 32 });

/** hdr-histogram-js's own slot of a value (a method of its JS histogram, not of the typed interface). */
const hdr = newHdr() as unknown as { countsArrayIndex(value: number): number };

/** A seeded generator (xorshift32), so a failure names its values again. */
function randomInts(count: number, seed: number, max: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % (max + 1);
  });
}

describe('MetricHistogram slots', () => {
  it('are hdr-histogram-js\'s slots: every value below 70,000, around every power of two, random values and the largest', () => {
    const values: number[] = [];
    for (let value = 0; value < 70_000; value++) values.push(value);
    for (let power = 0; power < 32; power++) {
      for (let offset = -3; offset <= 3; offset++) {
        const value = 2 ** power + offset;
        if (value >= 0 && value <= HISTOGRAM_VALUE_MAX) values.push(value);
      }
    }
    for (const value of randomInts(200_000, 0x9e3779b9, HISTOGRAM_VALUE_MAX)) values.push(value);
    values.push(HISTOGRAM_VALUE_MAX - 1, HISTOGRAM_VALUE_MAX);
    for (const value of values) {
      const slot = countsIndex(value);
      if (slot !== hdr.countsArrayIndex(value)) expect({ value, slot }).toEqual({ value, slot: hdr.countsArrayIndex(value) });
      const lowest = lowestValueAt(slot);
      if (!(lowest <= value && countsIndex(lowest) === slot)) expect({ value, lowest, slot: countsIndex(lowest) }).toEqual({ value, lowest, slot });
    }
  });

  it('read once or between records, give the figures of a histogram recorded straight into hdr-histogram-js', () => {
    const histogram = latencyHistogram();
    const reference = newHdr();
    const values = [...randomInts(20_000, 7, 2_000), ...randomInts(5_000, 11, 5_000_000), 0, 0, HISTOGRAM_VALUE_MAX, 123_456_789];
    values.forEach((value, index) => {
      histogram.record(value);
      reference.recordValue(value);
      if (index % 4_999 === 0) expect(histogram.data().p99).toBe(reference.getValueAtPercentile(99) / 1e6);
    });
    histogram.recordRepeated(250, 3_000);
    reference.recordValueWithCount(250, 3_000);
    const data = histogram.data();
    expect(data.count).toBe(reference.totalCount);
    for (const [percentile, figure] of [[50, data.p50], [90, data.p90], [99, data.p99], [99.9, data.p999]] as const) {
      expect(figure).toBe(reference.getValueAtPercentile(percentile) / 1e6);
    }
    expect(data.max).toBe(HISTOGRAM_VALUE_MAX / 1e6);
    expect(data.min).toBe(0);
    expect(histogram.data()).toEqual(data); // a second read folds nothing twice
  });
});
