/**
 * store.metrics(): what the commit path records (every commit, every fdatasync,
 * every group, every wait for the commit-path locks), the data form's invariants
 * (cumulative buckets ending at the count), and the Prometheus text form; every
 * flush and compaction, and one point read in READ_SAMPLE_INTERVAL under the
 * source that answered it (memtable, point cache, cached blocks, run file).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, openStore } from '../src/index.js';
import { MetricHistogram, READ_LATENCY_BUCKETS_SECONDS } from '../src/metrics/metric-histogram.js';
import type { HistogramData } from '../src/metrics/metric-histogram.js';
import { READ_SAMPLE_INTERVAL, READ_SOURCES, type ReadSource } from '../src/metrics/recorders.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

function expectWellFormed(data: HistogramData): void {
  const counts = data.buckets.map((bucket) => bucket.count);
  expect(counts).toEqual([...counts].sort((left, right) => left - right));
  expect(data.buckets.at(-1)).toEqual({ le: Infinity, count: data.count });
  if (data.count > 0) expect(data.min).toBeLessThanOrEqual(data.max);
}

describe('store.metrics()', () => {
  it('records every commit, fdatasync, group and lock wait', async () => {
    const store = await openStore(temporaryDirectory());
    for (let index = 0; index < 20; index++) await store.put(`sequential/${index}`, index);
    await Promise.all(Array.from({ length: 50 }, (_, index) => store.put(`concurrent/${index}`, index)));
    await store.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'del', key: 'b' }]);
    const metrics = store.metrics();
    const stats = store.stats();
    expect(metrics.commitSeconds.count).toBe(71);
    expect(metrics.commitsTotal).toBe(stats.commits);
    expect(metrics.groupSizeCommits.sum).toBe(71);
    expect(metrics.groupSizeCommits.count).toBe(stats.groupCommits);
    expect(metrics.groupSizeCommits.max).toBe(stats.groupSizeMax);
    expect(metrics.fdatasyncSeconds.count).toBe(stats.fsyncs);
    expect(metrics.lockWaitSeconds.commit.count).toBe(71);
    expect(metrics.lockWaitSeconds['wal.writer'].count).toBeGreaterThanOrEqual(stats.groupCommits > 0 ? 1 : 0);
    expect(metrics.walBytesWrittenTotal).toBe(stats.walBytes);
    expect(metrics.version).toBe(store.version);
    for (const data of [metrics.commitSeconds, metrics.fdatasyncSeconds, metrics.groupSizeCommits, metrics.lockWaitSeconds.commit]) expectWellFormed(data);
    // A commit waits at least for the fdatasync that covers it.
    expect(metrics.commitSeconds.max).toBeGreaterThanOrEqual(metrics.fdatasyncSeconds.min);
    await store.close();
    expect(store.metrics().commitSeconds.count).toBe(71);
  });

  it('renders the Prometheus text format: every histogram ends at +Inf equal to its count', async () => {
    const store = await openStore(temporaryDirectory());
    for (let index = 0; index < 5; index++) await store.put(`k${index}`, index);
    const text = store.metrics({ format: 'prometheus' });
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toContain('# TYPE ladybug_commit_seconds histogram');
    expect(text).toContain('ladybug_commit_seconds_bucket{le="+Inf"} 5\n');
    expect(text).toContain('ladybug_commit_seconds_count 5\n');
    expect(text).toContain('ladybug_lock_wait_seconds_bucket{lock="commit",le="+Inf"} 5\n');
    expect(text).toContain('# TYPE ladybug_commits_total counter\nladybug_commits_total 5\n');
    expect(text).toContain(`ladybug_version ${store.version}\n`);
    // Every sample line: a name, optional labels, a number (or +Inf).
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('#')) expect(line).toMatch(/^# (HELP|TYPE) ladybug_[a-z_]+ .+$/);
      else expect(line).toMatch(/^ladybug_[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? (\d+(\.\d+)?(e-?\d+)?|\+Inf)$/);
    }
    // One TYPE line per metric name.
    const types = text.split('\n').filter((line) => line.startsWith('# TYPE')).map((line) => line.split(' ')[2]);
    expect(new Set(types).size).toBe(types.length);
    await store.close();
  });

  it('records every flush and every compaction, with the bytes each wrote', async () => {
    const store = await openStore(temporaryDirectory());
    for (let round = 0; round < 3; round++) {
      await store.batch(Array.from({ length: 200 }, (_, index) => ({ type: 'put' as const, key: `key/${index}`, value: `round ${round} ${'x'.repeat(40)}` })));
      await store.checkpoint();
    }
    const compaction = await store.compact();
    expect(compaction.outcome).toBe('compacted');
    const metrics = store.metrics();
    const storage = store.stats().storage;
    expect(metrics.flushSeconds.count).toBe(storage.flushes);
    expect(metrics.flushSeconds.count).toBeGreaterThanOrEqual(3);
    expect(metrics.flushBytes.count).toBe(storage.flushes);
    expect(metrics.flushBytes.sum).toBe(storage.flushedBytes);
    expect(metrics.compactionSeconds.count).toBe(1);
    expect(metrics.compactionBytesIn.sum).toBe(compaction.bytesIn);
    expect(metrics.compactionBytesOut.sum).toBe(compaction.bytesOut);
    expect(metrics.compactionSeconds.sum).toBeCloseTo(compaction.durationMs / 1000, 5);
    for (const data of [metrics.flushSeconds, metrics.flushBytes, metrics.compactionSeconds, metrics.compactionBytesIn, metrics.compactionBytesOut]) expectWellFormed(data);
    const text = store.metrics({ format: 'prometheus' });
    expect(text).toContain(`ladybug_flush_seconds_count ${storage.flushes}\n`);
    expect(text).toContain(`ladybug_flush_bytes_sum ${storage.flushedBytes}\n`);
    expect(text).toContain('ladybug_compaction_seconds_count 1\n');
    expect(text).toContain(`ladybug_compaction_bytes_sum{direction="in"} ${compaction.bytesIn}\n`);
    expect(text).toContain(`ladybug_compaction_bytes_sum{direction="out"} ${compaction.bytesOut}\n`);
    await store.close();
  });

  it('times one point read in READ_SAMPLE_INTERVAL under the source that answered it', async () => {
    const directory = temporaryDirectory();
    const counts = (metrics: { readSeconds: Record<ReadSource, HistogramData> }): Record<ReadSource, number> =>
      Object.fromEntries(READ_SOURCES.map((source) => [source, metrics.readSeconds[source].count])) as Record<ReadSource, number>;
    const first = await openStore(directory);
    await first.batch([{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'b', value: 2 }]);
    for (let index = 0; index < 2 * READ_SAMPLE_INTERVAL; index++) expect(await first.get('a')).toBe(1);
    expect(counts(first.metrics())).toEqual({ memtable: 2, point_cache: 0, block_cache: 0, disk: 0 });
    await first.checkpoint();
    await first.put('c', 3);
    await first.close();

    // Reopened: 'a' and 'b' share one run (and block), 'c' is in a newer run; nothing is cached.
    const store = await openStore(directory);
    const readAThenTimed = async (timedKey: string): Promise<void> => {
      for (let index = 1; index < READ_SAMPLE_INTERVAL; index++) await store.get('a');
      await store.get(timedKey);
    };
    await readAThenTimed('a'); // the first read of 'a' read its block from disk; the timed one hits the point cache
    expect(counts(store.metrics())).toEqual({ memtable: 0, point_cache: 1, block_cache: 0, disk: 0 });
    await readAThenTimed('b'); // not in the point cache; its block is cached
    expect(counts(store.metrics())).toEqual({ memtable: 0, point_cache: 1, block_cache: 1, disk: 0 });
    await readAThenTimed('c'); // its run's block was never read
    expect(counts(store.metrics())).toEqual({ memtable: 0, point_cache: 1, block_cache: 1, disk: 1 });
    await store.put('d', 4);
    await readAThenTimed('d');
    const metrics = store.metrics();
    expect(counts(metrics)).toEqual({ memtable: 1, point_cache: 1, block_cache: 1, disk: 1 });
    expect(metrics.readSampleInterval).toBe(READ_SAMPLE_INTERVAL);
    for (const source of READ_SOURCES) {
      expectWellFormed(metrics.readSeconds[source]);
      expect(metrics.readSeconds[source].buckets.map((bucket) => bucket.le)).toEqual([...READ_LATENCY_BUCKETS_SECONDS, Infinity]);
    }
    const text = store.metrics({ format: 'prometheus' });
    for (const source of READ_SOURCES) expect(text).toContain(`ladybug_read_seconds_count{source="${source}"} 1\n`);
    expect(text).toContain('# TYPE ladybug_read_seconds histogram');
    expect(text).toContain(`ladybug_read_sample_interval ${READ_SAMPLE_INTERVAL}\n`);
    await store.close();
  });

  it('refuses unknown options and formats', async () => {
    const store = await openStore(temporaryDirectory());
    expect(() => store.metrics({ format: 'json' } as never)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOption }));
    expect(() => store.metrics({ fromat: 'prometheus' } as never)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOption }));
    await store.close();
  });
});

describe('MetricHistogram', () => {
  it('counts values into cumulative buckets, reports in the metric unit, clamps huge values only in the HDR part', () => {
    const histogram = new MetricHistogram([0.001, 0.01], 1_000_000);
    for (const microseconds of [500, 1000, 1001, 20_000, 5_000_000_000]) histogram.record(microseconds);
    const data = histogram.data();
    expect(data.buckets).toEqual([{ le: 0.001, count: 2 }, { le: 0.01, count: 3 }, { le: Infinity, count: 5 }]);
    expect(data.count).toBe(5);
    expect(data.min).toBe(0.0005);
    expect(data.max).toBe(5000);
    expect(data.sum).toBeCloseTo(0.0005 + 0.001 + 0.001001 + 0.02 + 5000, 9);
    expect(data.p50).toBeCloseTo(0.001, 4);
  });
});
