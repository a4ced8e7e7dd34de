/**
 * Review of a774931 (SyncPlacement probes the losing placement every
 * SYNC_PLACEMENT_PROBE_INTERVAL-th hinted fdatasync): against a plain model, for
 * random latency sequences with ties and a change of conditions, each placement's
 * median is the lower median of its last SYNC_PLACEMENT_SAMPLES samples, and every
 * choice is what the rule says: alternate (inline first) until both have
 * SYNC_PLACEMENT_SAMPLES_FIRST samples, then the faster by median, the slower on every
 * SYNC_PLACEMENT_PROBE_INTERVAL-th choice.
 */
import { describe, expect, it } from 'vitest';
import { SYNC_PLACEMENT_PROBE_INTERVAL, SYNC_PLACEMENT_SAMPLES, SYNC_PLACEMENT_SAMPLES_FIRST, SyncPlacement } from '../src/fs/sync-placement.js';

function lowerMedian(samples: readonly number[]): number {
  if (samples.length === 0) return Infinity;
  const sorted = [...samples].sort((left, right) => left - right);
  return sorted[(sorted.length - 1) >> 1]!;
}

describe('review of a774931: SyncPlacement against a model', () => {
  it('medians and choices follow the rule over 5,000 syncs with ties and a change of conditions', () => {
    let state = 99;
    const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (const tieLevels of [2, 5, 1000]) {
      const placement = new SyncPlacement();
      const inline: number[] = [];
      const threadPool: number[] = [];
      let choices = 0;
      for (let sync = 0; sync < 5000; sync++) {
        choices++;
        const inlineFaster = lowerMedian(inline.slice(-SYNC_PLACEMENT_SAMPLES)) <= lowerMedian(threadPool.slice(-SYNC_PLACEMENT_SAMPLES));
        const expected = inline.length < SYNC_PLACEMENT_SAMPLES_FIRST || threadPool.length < SYNC_PLACEMENT_SAMPLES_FIRST
          ? inline.length <= threadPool.length
          : choices % SYNC_PLACEMENT_PROBE_INTERVAL === 0 ? !inlineFaster : inlineFaster;
        const chosen = placement.chooseInline();
        expect(chosen, `sync ${sync}`).toBe(expected);
        // Inline is faster for the first half, then the thread pool is (a change of conditions).
        const base = (sync < 2500) === chosen ? 1 : 3;
        const latencyMs = base + Math.floor(random() * tieLevels) / tieLevels;
        placement.record(chosen, latencyMs);
        (chosen ? inline : threadPool).push(latencyMs);
        const { inline: inlineMedian, threadPool: threadPoolMedian } = placement.mediansMs;
        expect(inlineMedian).toBe(lowerMedian(inline.slice(-SYNC_PLACEMENT_SAMPLES)));
        expect(threadPoolMedian).toBe(lowerMedian(threadPool.slice(-SYNC_PLACEMENT_SAMPLES)));
      }
      // The change was followed: the thread pool wins at the end.
      expect(threadPool.length).toBeGreaterThan(SYNC_PLACEMENT_SAMPLES);
      expect(placement.mediansMs.threadPool).toBeLessThan(placement.mediansMs.inline);
    }
  });
});
