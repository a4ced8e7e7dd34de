/**
 * store.metrics(): what the commit path records (every commit, every fdatasync,
 * every group, every wait for the commit-path locks), the data form's invariants
 * (cumulative buckets ending at the count), and the Prometheus text form.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, openStore } from '../src/index.js';
import { MetricHistogram } from '../src/metrics/metric-histogram.js';
import type { HistogramData } from '../src/metrics/metric-histogram.js';
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
