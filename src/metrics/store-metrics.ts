/**
 * store.metrics(): the recorders' histograms and a few counters and gauges, as data
 * or as Prometheus text exposition format (version 0.0.4).
 *
 * Metric names follow the Prometheus conventions: prefix `ladybug_`, base units
 * (seconds), `_total` on counters, histograms as `_bucket{le}`, `_sum`, `_count`.
 * All counters count since the store was opened (a process restart resets them,
 * which Prometheus' rate() handles as a counter reset).
 *
 * Not measured yet (named in issue 11): flush and compaction durations and read
 * latency by source (memtable, cache, disk); their hooks live in the storage engine.
 */
import { InvalidOptionError } from '../errors.js';
import type { HistogramData } from './metric-histogram.js';
import type { CommitMetrics, WalMetrics } from './recorders.js';

export interface StoreMetrics {
  /** Submit to acknowledgement of each commit, in seconds. */
  commitSeconds: HistogramData;
  /** Each WAL fdatasync, in seconds. */
  fdatasyncSeconds: HistogramData;
  /** Commits per WAL record (sharing one fdatasync). */
  groupSizeCommits: HistogramData;
  /** Waits for each lock of the commit path, in seconds. */
  lockWaitSeconds: { commit: HistogramData; 'wal.writer': HistogramData };
  /** Counters since open, and gauges. */
  commitsTotal: number;
  walBytesWrittenTotal: number;
  version: number;
}

export interface MetricsSources {
  commit: CommitMetrics;
  wal: WalMetrics;
  walBytesWritten: number;
  version: number;
}

export interface MetricsOptions {
  /** 'data' (default): a StoreMetrics object; 'prometheus': text exposition format. */
  format?: 'data' | 'prometheus';
}

export function metricsFormat(options: MetricsOptions | undefined): 'data' | 'prometheus' {
  if (options === undefined) return 'data';
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'metrics() options must be an object');
  for (const name of Object.keys(options)) {
    if (name !== 'format') throw new InvalidOptionError(name, 'is not an option of metrics() (accepted: format)');
  }
  const format = options.format ?? 'data';
  if (format !== 'data' && format !== 'prometheus') throw new InvalidOptionError('format', `must be 'data' or 'prometheus', got ${String(format)}`);
  return format;
}

export function collectMetrics(sources: MetricsSources): StoreMetrics {
  const { commit, wal } = sources;
  return {
    commitSeconds: commit.commitLatency.data(),
    fdatasyncSeconds: wal.fdatasync.data(),
    groupSizeCommits: commit.groupSize.data(),
    lockWaitSeconds: { commit: commit.commitLockWait.data(), 'wal.writer': commit.walWriterLockWait.data() },
    commitsTotal: commit.commitLatency.count,
    walBytesWrittenTotal: sources.walBytesWritten,
    version: sources.version,
  };
}

/** A Prometheus sample value: integers as such, +Inf for Infinity. */
function sampleValue(value: number): string {
  if (value === Infinity) return '+Inf';
  return String(value);
}

function histogramLines(name: string, help: string, data: HistogramData, labels: string): string[] {
  const lines: string[] = [];
  const prefix = labels === '' ? '' : `${labels},`;
  const suffix = labels === '' ? '' : `{${labels}}`;
  for (const bucket of data.buckets) lines.push(`${name}_bucket{${prefix}le="${sampleValue(bucket.le)}"} ${bucket.count}`);
  lines.push(`${name}_sum${suffix} ${sampleValue(data.sum)}`, `${name}_count${suffix} ${data.count}`);
  return help === '' ? lines : [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`, ...lines];
}

export function prometheusText(metrics: StoreMetrics): string {
  const lines = [
    ...histogramLines('ladybug_commit_seconds', 'Time from submitting a commit to its acknowledgement (durable and visible).', metrics.commitSeconds, ''),
    ...histogramLines('ladybug_wal_fdatasync_seconds', 'Duration of one fdatasync of the active WAL segment.', metrics.fdatasyncSeconds, ''),
    ...histogramLines('ladybug_commit_group_size', 'Commits written by one WAL record and made durable by one fdatasync.', metrics.groupSizeCommits, ''),
    ...histogramLines('ladybug_lock_wait_seconds', 'Time spent waiting for a lock of the commit path.', metrics.lockWaitSeconds.commit, 'lock="commit"'),
    ...histogramLines('ladybug_lock_wait_seconds', '', metrics.lockWaitSeconds['wal.writer'], 'lock="wal.writer"'),
    '# HELP ladybug_commits_total Commits acknowledged since the store was opened.',
    '# TYPE ladybug_commits_total counter',
    `ladybug_commits_total ${metrics.commitsTotal}`,
    '# HELP ladybug_wal_written_bytes_total Bytes appended to the WAL since the store was opened.',
    '# TYPE ladybug_wal_written_bytes_total counter',
    `ladybug_wal_written_bytes_total ${metrics.walBytesWrittenTotal}`,
    '# HELP ladybug_version Newest durable and visible version.',
    '# TYPE ladybug_version gauge',
    `ladybug_version ${metrics.version}`,
  ];
  return `${lines.join('\n')}\n`;
}
