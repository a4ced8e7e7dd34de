/**
 * src/fs/sync-placement.ts: syncMode 'adaptive' runs a lone commit's fdatasync where it
 * has measured faster (inline or the thread pool), and keeps measuring the other.
 */
import { describe, expect, it } from 'vitest';
import { SYNC_PLACEMENT_PROBE_INTERVAL, SYNC_PLACEMENT_SAMPLES, SYNC_PLACEMENT_SAMPLES_FIRST, SyncPlacement } from '../src/fs/sync-placement.js';

/** Makes `count` choices, recording `inlineMs` or `threadPoolMs` for each; returns how many went inline. */
function drive(placement: SyncPlacement, count: number, inlineMs: number, threadPoolMs: number): number {
  let inline = 0;
  for (let index = 0; index < count; index++) {
    const chosenInline = placement.chooseInline();
    if (chosenInline) inline++;
    placement.record(chosenInline, chosenInline ? inlineMs : threadPoolMs);
  }
  return inline;
}

describe('SyncPlacement', () => {
  it('measures both, alternating and inline first, before relying on either', () => {
    const placement = new SyncPlacement();
    const placed: boolean[] = [];
    for (let index = 0; index < 2 * SYNC_PLACEMENT_SAMPLES_FIRST; index++) {
      const inline = placement.chooseInline();
      placed.push(inline);
      placement.record(inline, inline ? 0.1 : 0.2);
    }
    expect(placed).toEqual(Array.from({ length: 2 * SYNC_PLACEMENT_SAMPLES_FIRST }, (_, index) => index % 2 === 0));
    expect(placement.mediansMs).toEqual({ inline: 0.1, threadPool: 0.2 });
    expect(placement.chooseInline()).toBe(true);
  });

  it('a quiet machine (inline 0.12 ms, pool 0.18 ms): inline except the probes of the pool', () => {
    const placement = new SyncPlacement();
    const count = 10 * SYNC_PLACEMENT_PROBE_INTERVAL;
    const inline = drive(placement, count, 0.12, 0.18);
    // One choice measures the pool at the start, then one probe per interval.
    expect(count - inline).toBeLessThanOrEqual(SYNC_PLACEMENT_SAMPLES_FIRST + count / SYNC_PLACEMENT_PROBE_INTERVAL);
    expect(inline).toBeGreaterThan(count * 0.8);
  });

  it('a CPU-contended machine (inline 3.5 ms, pool 0.3 ms): the pool, with a probe of inline per interval', () => {
    const placement = new SyncPlacement();
    const count = 10 * SYNC_PLACEMENT_PROBE_INTERVAL;
    const inline = drive(placement, count, 3.5, 0.3);
    expect(inline).toBeLessThanOrEqual(SYNC_PLACEMENT_SAMPLES_FIRST + count / SYNC_PLACEMENT_PROBE_INTERVAL);
  });

  it('one outlier of a probe does not decide (a heavy-tailed disk)', () => {
    const placement = new SyncPlacement();
    placement.chooseInline();
    placement.record(true, 3.5);
    placement.chooseInline();
    placement.record(false, 15); // the pool's first measurement is an outlier
    placement.chooseInline();
    placement.record(true, 0.2); // and inline got lucky once
    let inline = 0;
    for (let index = 0; index < 20 * SYNC_PLACEMENT_PROBE_INTERVAL; index++) {
      const chosenInline = placement.chooseInline();
      if (chosenInline) inline++;
      placement.record(chosenInline, chosenInline ? 3.5 : index % 10 === 0 ? 15 : 0.3);
    }
    expect(placement.chooseInline()).toBe(false);
    // Inline holds on for at most a couple of probe intervals, then only its probes: 20 + 2 * 32.
    expect(inline).toBeLessThanOrEqual(20 + 2 * SYNC_PLACEMENT_PROBE_INTERVAL);
  });

  it('follows a change of conditions through the probes', () => {
    const placement = new SyncPlacement();
    drive(placement, 4 * SYNC_PLACEMENT_PROBE_INTERVAL, 0.12, 0.18);
    expect(placement.chooseInline()).toBe(true);
    // The machine gets busy: inline latencies rise; the pool takes over.
    drive(placement, 20 * SYNC_PLACEMENT_PROBE_INTERVAL, 3.5, 0.3);
    const lastRound = drive(placement, SYNC_PLACEMENT_PROBE_INTERVAL, 3.5, 0.3);
    expect(lastRound).toBeLessThanOrEqual(1);
    // Quiet again: the probes of inline bring it back (once most of its window is quiet).
    drive(placement, (SYNC_PLACEMENT_SAMPLES + 1) * SYNC_PLACEMENT_PROBE_INTERVAL, 0.12, 0.18);
    expect(drive(placement, SYNC_PLACEMENT_PROBE_INTERVAL, 0.12, 0.18)).toBeGreaterThanOrEqual(SYNC_PLACEMENT_PROBE_INTERVAL - 1);
  });

  it('the median is the lower median of the latest samples, with repeats and evictions (against a sort of the window)', () => {
    const placement = new SyncPlacement();
    const window: number[] = [];
    let seed = 7;
    for (let index = 0; index < 2000; index++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      // Few distinct values, so repeats leave the window too.
      const sampleMs = (seed % 13) / 10;
      placement.record(true, sampleMs);
      window.push(sampleMs);
      if (window.length > SYNC_PLACEMENT_SAMPLES) window.shift();
      const sorted = window.slice().sort((left, right) => left - right);
      expect(placement.mediansMs.inline).toBe(sorted[(sorted.length - 1) >> 1]);
    }
  });
});
