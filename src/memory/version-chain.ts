/**
 * One key's version history: parallel arrays of versions (strictly ascending) and
 * what each version holds (a stored value or TOMBSTONE for a delete).
 *
 * Invariants (checked by `verify()` in debug mode):
 * - versions.length === values.length >= 1; versions strictly ascending.
 * - `trimmedBelow` is 0 while nothing was reclaimed; after trimming it is the
 *   oldest retained version, and reads as of an older version must fail with
 *   VersionNotRetainedError instead of guessing.
 */
import { VersionNotRetainedError } from '../errors.js';
import type { StoredValue } from '../codec/values.js';
import { assert } from '../util/assert.js';

export const TOMBSTONE: unique symbol = Symbol('ladybug.tombstone');
export type VersionSlot = StoredValue | typeof TOMBSTONE;

export class VersionChain {
  readonly versions: number[];
  readonly values: VersionSlot[];
  trimmedBelow = 0;

  constructor(version: number, value: VersionSlot) {
    this.versions = [version];
    this.values = [value];
  }

  get newestVersion(): number {
    return this.versions[this.versions.length - 1]!;
  }

  get newest(): VersionSlot {
    return this.values[this.values.length - 1]!;
  }

  get length(): number {
    return this.versions.length;
  }

  /** REQUIRES: version > newestVersion (versions are applied in ascending order). */
  append(version: number, value: VersionSlot): void {
    assert(version > this.newestVersion, `version ${version} applied after ${this.newestVersion}`);
    this.versions.push(version);
    this.values.push(value);
  }

  /**
   * The slot visible as of `version`: the newest entry with version <= `version`,
   * or undefined when the key did not exist yet. Throws when that entry was reclaimed.
   */
  slotAsOf(version: number): VersionSlot | undefined {
    if (version >= this.newestVersion) return this.newest;
    const index = this.#indexAtOrBelow(version);
    if (index < 0) {
      if (this.trimmedBelow !== 0) throw new VersionNotRetainedError(version, this.trimmedBelow);
      return undefined;
    }
    return this.values[index];
  }

  /**
   * Drops the oldest versions so at most `keepCount` remain, never dropping the entry
   * visible at `pinnedVersion` (the oldest version a reader still uses) or anything newer.
   * Returns the number of versions dropped and the bytes they held.
   */
  trim(keepCount: number, pinnedVersion: number): number {
    const excess = this.versions.length - keepCount;
    if (excess <= 0) return 0;
    const pinnedIndex = this.#indexAtOrBelow(pinnedVersion);
    const dropCount = Math.min(excess, Math.max(0, pinnedIndex));
    if (dropCount === 0) return 0;
    this.versions.splice(0, dropCount);
    this.values.splice(0, dropCount);
    this.trimmedBelow = this.versions[0]!;
    return dropCount;
  }

  verify(): void {
    assert(this.versions.length === this.values.length && this.versions.length > 0, 'chain arrays match');
    for (let index = 1; index < this.versions.length; index++) {
      assert(this.versions[index - 1]! < this.versions[index]!, 'chain versions ascend');
    }
  }

  /** Index of the newest entry with version <= `version`, or -1. Binary search. */
  #indexAtOrBelow(version: number): number {
    let low = 0;
    let high = this.versions.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.versions[middle]! <= version) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}
