/**
 * store.metrics(): the recorders' histograms and a few counters and gauges, as data
 * or as Prometheus text exposition format (version 0.0.4).
 *
 * Metric names follow the Prometheus conventions: prefix `ladybug_`, base units
 * (seconds), `_total` on counters, histograms as `_bucket{le}`, `_sum`, `_count`.
 * All counters count since the store was opened (a process restart resets them,
 * which Prometheus' rate() handles as a counter reset).
 *
 * Flushes and compactions are recorded each; point reads are timed one in
 * READ_SAMPLE_INTERVAL (recorders.ts), so each read source's count is the timed
 * reads, not all reads (a `sampleInterval` gauge says so).
 */
import { describeValue, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import type { HistogramData } from './metric-histogram.js';
import { type CommitMetrics, READ_SOURCES, type ReadSource, type StorageMetrics, type WalMetrics } from './recorders.js';

export interface StoreMetrics {
  /** Submit to acknowledgement of each commit, in seconds. */
  commitSeconds: HistogramData;
  /** Each WAL fdatasync, in seconds. */
  fdatasyncSeconds: HistogramData;
  /** Commits per WAL record (sharing one fdatasync). */
  groupSizeCommits: HistogramData;
  /** Waits for each lock of the commit path, in seconds. */
  lockWaitSeconds: { commit: HistogramData; 'wal.writer': HistogramData };
  /** Each flush, from writing its run to installing it, in seconds; and the bytes of each flushed run. */
  flushSeconds: HistogramData;
  flushBytes: HistogramData;
  /** Each completed compaction, in seconds; bytes of its input runs and of its output run. */
  compactionSeconds: HistogramData;
  compactionBytesIn: HistogramData;
  compactionBytesOut: HistogramData;
  /** Timed point reads (store.get) by the source that answered, in seconds: one read in `readSampleInterval`. */
  readSeconds: Record<ReadSource, HistogramData>;
  readSampleInterval: number;
  /** Counters since open, and gauges. */
  commitsTotal: number;
  walBytesWrittenTotal: number;
  version: number;
}

export interface MetricsSources {
  commit: CommitMetrics;
  wal: WalMetrics;
  storage: StorageMetrics;
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
  refuseOtherObjectKind('metrics()', options);
  for (const name of Object.keys(options)) {
    if (name !== 'format') throw new InvalidOptionError(name, 'is not an option of metrics() (accepted: format)');
  }
  // undefined only: null is a wrong type, refused as every other option refuses it.
  const format = options.format === undefined ? 'data' : options.format;
  if (format !== 'data' && format !== 'prometheus') throw new InvalidOptionError('format', `must be 'data' or 'prometheus', got ${describeValue(format)}`);
  return format;
}

export function collectMetrics(sources: MetricsSources): StoreMetrics {
  const { commit, wal, storage } = sources;
  return {
    commitSeconds: commit.commitLatency.data(),
    fdatasyncSeconds: wal.fdatasync.data(),
    groupSizeCommits: commit.groupSize.data(),
    lockWaitSeconds: { commit: commit.commitLockWait.data(), 'wal.writer': commit.walWriterLockWait.data() },
    flushSeconds: storage.flushSeconds.data(),
    flushBytes: storage.flushBytes.data(),
    compactionSeconds: storage.compactionSeconds.data(),
    compactionBytesIn: storage.compactionBytesIn.data(),
    compactionBytesOut: storage.compactionBytesOut.data(),
    readSeconds: {
      memtable: storage.readSeconds.memtable.data(), point_cache: storage.readSeconds.point_cache.data(),
      block_cache: storage.readSeconds.block_cache.data(), disk: storage.readSeconds.disk.data(),
    },
    readSampleInterval: storage.readSampleInterval,
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
    ...histogramLines('ladybug_flush_seconds', 'Duration of one flush: a sealed memtable written to a run and installed.', metrics.flushSeconds, ''),
    ...histogramLines('ladybug_flush_bytes', 'Bytes of the run file one flush wrote.', metrics.flushBytes, ''),
    ...histogramLines('ladybug_compaction_seconds', 'Duration of one completed compaction (merge, write, install).', metrics.compactionSeconds, ''),
    ...histogramLines('ladybug_compaction_bytes', 'Bytes of the run files one compaction read (direction="in") and wrote (direction="out").', metrics.compactionBytesIn, 'direction="in"'),
    ...histogramLines('ladybug_compaction_bytes', '', metrics.compactionBytesOut, 'direction="out"'),
    ...READ_SOURCES.flatMap((source, index) => histogramLines(
      'ladybug_read_seconds',
      index === 0 ? `Duration of a point read by the source that answered it; one read in ${metrics.readSampleInterval} is timed.` : '',
      metrics.readSeconds[source],
      `source="${source}"`,
    )),
    '# HELP ladybug_read_sample_interval One point read in this many is timed in ladybug_read_seconds.',
    '# TYPE ladybug_read_sample_interval gauge',
    `ladybug_read_sample_interval ${sampleValue(metrics.readSampleInterval)}`,
    '# HELP ladybug_commits_total Commits acknowledged since the store was opened.',
    '# TYPE ladybug_commits_total counter',
    `ladybug_commits_total ${metrics.commitsTotal}`,
    '# HELP ladybug_wal_written_bytes_total Bytes of WAL records written since the store was opened (not segment headers or zero fill).',
    '# TYPE ladybug_wal_written_bytes_total counter',
    `ladybug_wal_written_bytes_total ${metrics.walBytesWrittenTotal}`,
    '# HELP ladybug_version Newest durable and visible version.',
    '# TYPE ladybug_version gauge',
    `ladybug_version ${metrics.version}`,
  ];
  return `${lines.join('\n')}\n`;
}
