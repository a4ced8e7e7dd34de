/**
 * VersionTimes (src/compaction/version-times.ts), the commit-time samples behind
 * retainVersionsMs: the floor is never above the exact version newest at the cutoff
 * (checked against a full record of every commit), the samples stay bounded,
 * a clock that steps back keeps them ordered, and AgeRetainedPins takes the lower of
 * a real pin and the floor.
 */
import { describe, expect, it } from 'vitest';
import { AgeRetainedPins, VersionTimes } from '../src/compaction/version-times.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { VERSION_TIMES_MAX } from '../src/limits.js';

describe('VersionTimes', () => {
  it('the floor is at or below the version newest at the cutoff, and close to it', () => {
    const random = new SeededRandom(5);
    const retainMs = 10_000;
    const times = new VersionTimes(retainMs);
    const commits: Array<{ version: number; timeMs: number }> = [];
    let nowMs = 1_000;
    for (let version = 1; version <= 20_000; version++) {
      nowMs += random.nextIntInclusive(0, 5);
      commits.push({ version, timeMs: nowMs });
      times.record(version, nowMs);
      if (version % 97 === 0) {
        // As if a manifest edit had just written them: the floor counts recorded samples only.
        times.recorded(times.samples());
        const floor = times.floor(nowMs);
        const cutoffMs = nowMs - retainMs;
        const exact = commits.filter((commit) => commit.timeMs <= cutoffMs).at(-1)?.version ?? 0;
        expect(floor, `floor at version ${version}`).toBeLessThanOrEqual(exact);
        // Sparse samples cost at most one sampling interval's worth of commits (plus ties).
        const slackCommits = commits.filter((commit) => commit.timeMs > cutoffMs - 2 * (retainMs / VERSION_TIMES_MAX) - 5 && commit.timeMs <= cutoffMs).length;
        expect(exact - floor).toBeLessThanOrEqual(slackCommits + 1);
      }
      expect(times.size).toBeLessThanOrEqual(VERSION_TIMES_MAX);
    }
  });

  it('counts only samples a manifest edit recorded (a crash loses the others: retention review)', () => {
    const times = new VersionTimes(1_000, [[10, 5_000]]);
    times.record(20, 6_000);
    expect(times.floor(8_000)).toBe(10);
    times.recorded(times.samples());
    expect(times.floor(8_000)).toBe(20);
  });

  it('is 0 (keep everything) until a sample is older than the window', () => {
    const times = new VersionTimes(1_000, [[10, 5_000]]);
    expect(times.floor(5_999)).toBe(0);
    expect(times.floor(6_000)).toBe(10);
  });

  it('stays bounded when no floor is asked for (halving keeps the oldest sample)', () => {
    const times = new VersionTimes(VERSION_TIMES_MAX);
    for (let version = 1; version <= 10 * VERSION_TIMES_MAX; version++) times.record(version, version);
    expect(times.size).toBeLessThanOrEqual(VERSION_TIMES_MAX);
    expect(times.samples()[0]).toEqual([1, 1]);
  });

  it('a clock that steps back keeps the samples ordered (the newer version gets the older time)', () => {
    const times = new VersionTimes(100, [[1, 1_000]]);
    times.record(2, 500);
    times.record(3, 2_000);
    const samples = times.samples();
    for (let index = 1; index < samples.length; index++) {
      expect(samples[index]![0]).toBeGreaterThan(samples[index - 1]![0]);
      expect(samples[index]![1]).toBeGreaterThanOrEqual(samples[index - 1]![1]);
    }
  });

  it('AgeRetainedPins: oldest() is the lower of the real pins and the floor', () => {
    let floor = 50;
    const pins = new AgeRetainedPins(() => floor);
    expect(pins.oldest()).toBe(50);
    pins.pin(30);
    expect(pins.oldest()).toBe(30);
    floor = 10;
    expect(pins.oldest()).toBe(10);
    pins.unpin(30);
    floor = Infinity;
    expect(pins.oldest()).toBe(Infinity);
  });
});
