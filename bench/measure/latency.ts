/**
 * Per-operation latency recording with hdr-histogram-js, in nanoseconds
 * (3 significant digits), summarized in microseconds for the report.
 */
import { build, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  readonly maxUs: number;
  /** Number of latency samples behind the percentiles. */
  readonly sampleCount: number;
  /** What one sample is, e.g. "one put" or "one batch of 100". */
  readonly sampleMeaning: string;
  readonly source: 'hdr-histogram-js' | 'tinybench';
}

const NANOSECONDS_PER_MICROSECOND = 1_000;
const NANOSECONDS_PER_MILLISECOND = 1_000_000;

export class LatencyRecorder {
  private readonly histogram: Histogram = build({ numberOfSignificantValueDigits: 3 });

  /** Records `count` samples of `durationMs` (count > 1: records acknowledged together). */
  record(durationMs: number, count = 1): void {
    const durationNs = Math.max(1, Math.round(durationMs * NANOSECONDS_PER_MILLISECOND));
    if (count === 1) this.histogram.recordValue(durationNs);
    else this.histogram.recordValueWithCount(durationNs, count);
  }

  summary(sampleMeaning: string): LatencySummary {
    return {
      p50Us: this.percentileUs(50),
      p99Us: this.percentileUs(99),
      meanUs: this.histogram.mean / NANOSECONDS_PER_MICROSECOND,
      maxUs: this.histogram.maxValue / NANOSECONDS_PER_MICROSECOND,
      sampleCount: this.histogram.totalCount,
      sampleMeaning,
      source: 'hdr-histogram-js',
    };
  }

  private percentileUs(percentile: number): number {
    return this.histogram.getValueAtPercentile(percentile) / NANOSECONDS_PER_MICROSECOND;
  }
}
