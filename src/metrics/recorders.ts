/**
 * The recorders the hot paths hold: the commit pipeline owns a CommitMetrics, the
 * WAL writer a WalMetrics. The per-commit cost is one clock read at submit and one
 * histogram record at acknowledgement; the acknowledgement clock read and the
 * group-size record are per group; an uncontended commit lock is a counter
 * increment, folded into its histogram (as zero waits) when metrics are read.
 * No allocation, no I/O (measured: under 2% of commit throughput, README "Metrics").
 *
 * The storage engine owns a StorageMetrics: one record per flush and per
 * compaction (rare, so exact), and point reads timed one in
 * READ_SAMPLE_INTERVAL (a memtable hit costs about a microsecond, two clock reads
 * would add a measurable share of it; see README "Metrics").
 *
 * Invariants: recorders only count; nothing on the commit path waits on them;
 * every commit is recorded once in commitLatency and once in the commit lock wait;
 * a timed read is recorded once, under the one source that answered it.
 */
import { performance } from 'node:perf_hooks';
import { assert } from '../util/assert.js';
import { GROUP_SIZE_BUCKETS, latencyHistogram, MetricHistogram, MICROSECONDS_PER_SECOND, readLatencyHistogram, sizeHistogram } from './metric-histogram.js';

const MICROSECONDS_PER_MILLISECOND = MICROSECONDS_PER_SECOND / 1000;
const NANOSECONDS_PER_MILLISECOND = 1_000_000;

export class CommitMetrics {
  /** Submit to acknowledgement (durable and visible, its caller resumed), per commit. */
  readonly commitLatency = latencyHistogram();
  /** Commits acknowledged per WAL record (one write + one fdatasync). */
  readonly groupSize = new MetricHistogram(GROUP_SIZE_BUCKETS, 1);
  /** Wait for the commit lock (slow path; the fast path is counted in uncontendedCommitLock). */
  readonly #commitLockWait = latencyHistogram();
  /** Commits that took the commit lock without waiting, not yet folded into #commitLockWait. */
  uncontendedCommitLock = 0;
  readonly walWriterLockWait = latencyHistogram();

  /** Records a group's size and the latency of its commits [start, end), each submitted at `submittedMs`. */
  recordGroup(commits: ReadonlyArray<{ submittedMs: number }>, start: number, end: number): void {
    // Callers resume only after the synchronous acknowledgement loop: one clock read serves the group.
    const acknowledgedMs = performance.now();
    for (let index = start; index < end; index++) {
      this.commitLatency.record((acknowledgedMs - commits[index]!.submittedMs) * MICROSECONDS_PER_MILLISECOND);
    }
    this.groupSize.record(end - start);
  }

  get commitLockWait(): MetricHistogram {
    if (this.uncontendedCommitLock > 0) {
      this.#commitLockWait.recordRepeated(0, this.uncontendedCommitLock);
      this.uncontendedCommitLock = 0;
    }
    return this.#commitLockWait;
  }
}

export class WalMetrics {
  /** One fdatasync of the active WAL segment. */
  readonly fdatasync = latencyHistogram();
}

/**
 * One point read in this many is timed; the others cost one decrement and compare.
 * Measured (2026-11-30, loaded machine): a timed read costs about 210 ns (two clock
 * reads and a histogram record) against 300-500 ns of CPU for a whole memtable get,
 * so 1 in 16 cost 3-5% of get throughput; 1 in 128 costs under 1%.
 */
export const READ_SAMPLE_INTERVAL = 128;

/**
 * The interval a new StorageMetrics starts with (the benchmark sets Infinity to
 * measure gets with no read timed: bench/workloads/read-metrics-cost.ts). Not a
 * store option: read when a store opens.
 */
export const readSampling = { interval: READ_SAMPLE_INTERVAL };

/**
 * Where a point read was answered: the memtables; the point cache; the runs with
 * every block it needed cached (or ruled out by the runs' filters); the runs with
 * at least one block read from a run file.
 */
export type ReadSource = 'memtable' | 'point_cache' | 'block_cache' | 'disk';

export const READ_SOURCES: readonly ReadSource[] = ['memtable', 'point_cache', 'block_cache', 'disk'];

/** A timed read in progress: when it started and the deepest source it reached so far. */
export interface ReadSample {
  startedMs: number;
  source: ReadSource;
}

export class StorageMetrics {
  /** Each flush: from writing its run to the run installed (the memtable retired), in seconds. */
  readonly flushSeconds = latencyHistogram();
  /** Bytes of the run file each flush wrote. */
  readonly flushBytes = sizeHistogram();
  /** Each completed compaction (an aborted one is not counted), in seconds. */
  readonly compactionSeconds = latencyHistogram();
  /** Bytes of the input run files, and of the output run file, of each completed compaction. */
  readonly compactionBytesIn = sizeHistogram();
  readonly compactionBytesOut = sizeHistogram();
  /** Timed point reads (one in READ_SAMPLE_INTERVAL), by source, in seconds. */
  readonly readSeconds: Readonly<Record<ReadSource, MetricHistogram>> = {
    memtable: readLatencyHistogram(), point_cache: readLatencyHistogram(), block_cache: readLatencyHistogram(), disk: readLatencyHistogram(),
  };
  /** One point read in this many is timed (Infinity: none). */
  readonly readSampleInterval = readSampling.interval;
  /** Point reads left until the next timed one. */
  #readsUntilSample = this.readSampleInterval;

  /** A sample to time this read with, or undefined for an untimed read (most of them). */
  sampleRead(): ReadSample | undefined {
    if (--this.#readsUntilSample > 0) return undefined;
    this.#readsUntilSample = this.readSampleInterval;
    return { startedMs: performance.now(), source: 'memtable' };
  }

  recordRead(sample: ReadSample): void {
    this.readSeconds[sample.source].record((performance.now() - sample.startedMs) * NANOSECONDS_PER_MILLISECOND);
  }

  recordFlush(startedMs: number, fileBytes: number): void {
    assert(fileBytes > 0, 'a flushed run has bytes');
    this.flushSeconds.recordSince(startedMs);
    this.flushBytes.record(fileBytes);
  }

  recordCompaction(durationMs: number, bytesIn: number, bytesOut: number): void {
    assert(bytesIn > 0 && bytesOut >= 0, 'a compaction reads runs');
    this.compactionSeconds.record(durationMs * MICROSECONDS_PER_MILLISECOND);
    this.compactionBytesIn.record(bytesIn);
    this.compactionBytesOut.record(bytesOut);
  }
}
