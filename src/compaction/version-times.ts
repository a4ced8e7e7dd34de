/**
 * Retention by age (`retainVersionsMs`): a sparse, bounded map from versions to the
 * wall-clock time they were committed, and the retention floor it gives.
 *
 * The rule: every version that was current (the newest of its key) at some time
 * within the last retainVersionsMs stays readable. That is exactly what a reader
 * pinned at the version that was newest at (now - retainVersionsMs) keeps, so the
 * floor acts as a virtual pin: ReadPins' oldest() is lowered to it (AgeRetainedPins),
 * and memtable trimming, resolve.ts and compaction's version GC honour it as they
 * honour any pin.
 *
 * Samples are (version, commitTimeMs) pairs recorded at the end of a commit group,
 * at most one per sampling interval (retainVersionsMs / VERSION_TIMES_MAX, at least
 * VERSION_TIMES_SAMPLE_MS_MIN). The floor is the version of the newest sample at or
 * before the cutoff: that version was committed by then, so the version newest at
 * the cutoff is at or above it. A floor at or below the exact one keeps more, never
 * less: every loss of precision (sparse samples, halving when full, a map lost at a
 * crash) only delays collection. Before any sample reaches the cutoff the floor is
 * 0 (nothing known to be old: everything is kept).
 *
 * Invariants: samples are ordered by version and by time (both non-decreasing,
 * asserted); at most VERSION_TIMES_MAX samples; the sample at or before the newest
 * cutoff asked for is never pruned; floor() never returns less than it returned before.
 *
 * Persistence: the samples are written with each compaction's manifest edit and at
 * each checkpoint() (close checkpoints) as `versionTimes` (docs/FORMAT.md), and read
 * back at open; a store written before (no field) starts with one sample at open.
 * The floor counts only samples such an edit has recorded (`recorded()`): a sample
 * lost at a crash would bring the floor back down after the reopen, and versions it
 * had refused would answer again (until 2026-12-03 it counted every sample:
 * test/retention-review-age-crash.test.ts). Waiting for the next edit only keeps more.
 */
import { VERSION_TIMES_MAX, VERSION_TIMES_SAMPLE_MS_MIN } from '../limits.js';
import { ReadPins } from '../memory/read-pins.js';
import { assert } from '../util/assert.js';

/** The clock retention by age reads (tests inject one; not a store option). */
export const versionTimeSettings: { nowMs: () => number } = { nowMs: () => Date.now() };

/** A persisted sample: [version, commit time in ms since the epoch]. */
export type VersionTimeSample = [version: number, timeMs: number];

export class VersionTimes {
  readonly retainVersionsMs: number;
  readonly #sampleIntervalMs: number;
  #versions: number[] = [];
  #timesMs: number[] = [];
  /** Samples at or below this version are in the manifest (the ones the floor counts). */
  #recordedVersion = 0;
  /**
   * The highest floor returned: the floor never goes down. A wall clock that stepped
   * back (Date.now() is not monotonic) found no sample old enough and gave 0, and the
   * versions it had refused answered again (retention review, 2026-12-03).
   */
  #highestFloor = 0;

  constructor(retainVersionsMs: number, samples: readonly VersionTimeSample[] = []) {
    assert(Number.isSafeInteger(retainVersionsMs) && retainVersionsMs > 0, 'retainVersionsMs is a positive integer');
    this.retainVersionsMs = retainVersionsMs;
    this.#sampleIntervalMs = Math.max(VERSION_TIMES_SAMPLE_MS_MIN, Math.floor(retainVersionsMs / VERSION_TIMES_MAX));
    for (const [version, timeMs] of samples) this.#append(version, timeMs);
    this.#recordedVersion = this.#versions.at(-1) ?? 0;
  }

  /** `samples` (from samples()) are in the manifest now: the floor may count them. */
  recorded(samples: readonly VersionTimeSample[]): void {
    const newest = samples.at(-1);
    if (newest !== undefined && newest[0] > this.#recordedVersion) this.#recordedVersion = newest[0];
  }

  get size(): number {
    return this.#versions.length;
  }

  /** Notes that every version up to `version` was committed by now (one call per commit group is enough). */
  record(version: number, nowMs: number = versionTimeSettings.nowMs()): void {
    const count = this.#versions.length;
    if (count > 0) {
      const lastTimeMs = this.#timesMs[count - 1]!;
      if (version <= this.#versions[count - 1]!) return;
      if (nowMs - lastTimeMs < this.#sampleIntervalMs) return;
    }
    this.#append(version, nowMs);
  }

  /** The retention floor now: the oldest version a reader by age may still read (0: keep everything). */
  floor(nowMs: number = versionTimeSettings.nowMs()): number {
    const cutoffMs = nowMs - this.retainVersionsMs;
    // Only recorded samples count (see the header): those at or below #recordedVersion.
    let recorded = this.#versions.length;
    while (recorded > 0 && this.#versions[recorded - 1]! > this.#recordedVersion) recorded--;
    // The newest of them at or before the cutoff (binary search over ordered times).
    let low = 0;
    let high = recorded;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#timesMs[middle]! <= cutoffMs) low = middle + 1;
      else high = middle;
    }
    if (low === 0) return this.#highestFloor;
    // Samples before the one in force are no longer needed (the floor only rises).
    if (low > 1) {
      this.#versions.splice(0, low - 1);
      this.#timesMs.splice(0, low - 1);
    }
    if (this.#versions[0]! > this.#highestFloor) this.#highestFloor = this.#versions[0]!;
    return this.#highestFloor;
  }

  /** The samples, for the manifest (a copy). */
  samples(): VersionTimeSample[] {
    return this.#versions.map((version, index) => [version, this.#timesMs[index]!]);
  }

  #append(version: number, timeMs: number): void {
    assert(Number.isSafeInteger(version) && version >= 0 && Number.isFinite(timeMs), `version time sample ${version}@${timeMs} is well formed`);
    const count = this.#versions.length;
    if (count > 0) {
      if (version <= this.#versions[count - 1]!) return;
      // A clock that stepped back: the sample keeps the older time (times stay ordered).
      timeMs = Math.max(timeMs, this.#timesMs[count - 1]!);
    }
    if (count >= VERSION_TIMES_MAX) this.#halve();
    this.#versions.push(version);
    this.#timesMs.push(timeMs);
    assert(this.#versions.length <= VERSION_TIMES_MAX, 'version time samples stay bounded');
  }

  /** Keeps every other sample (the oldest always): the floor only gets lower, never higher. */
  #halve(): void {
    this.#versions = this.#versions.filter((_, index) => index % 2 === 0);
    this.#timesMs = this.#timesMs.filter((_, index) => index % 2 === 0);
  }
}

/**
 * Read pins with retention by age as a virtual pin: oldest() (and readFloor()) is the
 * lower of the oldest real (protecting) pin and the age floor. Everything that spares pinned versions
 * (memtable trimming, reads' retention rule, compaction's horizon) reads oldest().
 */
export class AgeRetainedPins extends ReadPins {
  readonly #ageFloor: () => number;

  constructor(ageFloor: () => number) {
    super();
    this.#ageFloor = ageFloor;
  }

  override oldest(): number {
    return Math.min(super.oldest(), this.#ageFloor());
  }

  override readFloor(): number {
    return Math.min(super.readFloor(), this.#ageFloor());
  }
}
