/**
 * One key's version history: the newest version inline, older ones (if any) in
 * parallel arrays, ascending. Most keys have one version, so they cost one small
 * object and no arrays (this matters at millions of keys: memory and GC time).
 *
 * Invariants (checked by `verify()` in debug mode):
 * - olderVersions and olderSlots have equal length; all older versions ascend and
 *   are below newestVersion.
 * - `trimmedBelow` is 0 while nothing was reclaimed; after trimming it is the
 *   oldest retained version, and reads as of an older version fail with
 *   VersionNotRetainedError instead of guessing.
 */
import { AssertionFailedError, VersionNotRetainedError } from '../errors.js';
import type { StoredValue } from '../codec/values.js';
import { assert } from '../util/assert.js';

export const TOMBSTONE: unique symbol = Symbol('ladybug.tombstone');
export type VersionSlot = StoredValue | typeof TOMBSTONE;

export class VersionChain {
  /** The version that created the key (kept when trimming: as-of reads before it are simply "absent"). */
  readonly firstVersion: number;
  newestVersion: number;
  newest: VersionSlot;
  #olderVersions: number[] | undefined;
  #olderSlots: VersionSlot[] | undefined;
  trimmedBelow = 0;

  constructor(version: number, value: VersionSlot) {
    this.firstVersion = version;
    this.newestVersion = version;
    this.newest = value;
  }

  get length(): number {
    return (this.#olderVersions?.length ?? 0) + 1;
  }

  /** Version at `index`, 0 = oldest retained, length-1 = newest. */
  versionAt(index: number): number {
    const older = this.#olderVersions;
    return older === undefined || index >= older.length ? this.newestVersion : older[index]!;
  }

  /** Slot at `index`, 0 = oldest retained, length-1 = newest. */
  slotAt(index: number): VersionSlot {
    const older = this.#olderSlots;
    return older === undefined || index >= older.length ? this.newest : older[index]!;
  }

  /** All retained versions, oldest first (a fresh array: for inspection and tests). */
  get versions(): number[] {
    return [...(this.#olderVersions ?? []), this.newestVersion];
  }

  /** All retained slots, oldest first (a fresh array: for inspection and tests). */
  get values(): VersionSlot[] {
    return [...(this.#olderSlots ?? []), this.newest];
  }

  /** REQUIRES: version > newestVersion (versions are applied in ascending order). */
  append(version: number, value: VersionSlot): void {
    // The message is built only on failure (this runs once per write of an existing key).
    if (!(version > this.newestVersion)) throw new AssertionFailedError(`version ${version} applied after ${this.newestVersion}`);
    if (this.#olderVersions === undefined) {
      this.#olderVersions = [this.newestVersion];
      this.#olderSlots = [this.newest];
    } else {
      this.#olderVersions.push(this.newestVersion);
      this.#olderSlots!.push(this.newest);
    }
    this.newestVersion = version;
    this.newest = value;
  }

  /**
   * The slot visible as of `version`: the newest entry with version <= `version`,
   * or undefined when the key did not exist yet. Throws when that entry was reclaimed.
   */
  slotAsOf(version: number): VersionSlot | undefined {
    if (version >= this.newestVersion) return this.newest;
    if (version < this.firstVersion) return undefined;
    const index = this.#olderIndexAtOrBelow(version);
    if (index < 0) {
      if (this.trimmedBelow !== 0) throw new VersionNotRetainedError(version, this.trimmedBelow);
      return undefined;
    }
    return this.#olderSlots![index];
  }

  /**
   * Drops the oldest versions so at most `keepCount` remain, never dropping the entry
   * visible at `pinnedVersion` (the oldest version a reader still uses) or anything
   * newer. Returns the slots dropped, oldest first.
   */
  trim(keepCount: number, pinnedVersion: number): VersionSlot[] {
    const olderVersions = this.#olderVersions;
    const excess = this.length - keepCount;
    if (olderVersions === undefined || excess <= 0) return [];
    // Entries strictly older than the one visible at the pin may go.
    const pinnedIndex = pinnedVersion >= this.newestVersion ? olderVersions.length : this.#olderIndexAtOrBelow(pinnedVersion);
    const dropCount = Math.min(excess, Math.max(0, pinnedIndex));
    if (dropCount === 0) return [];
    olderVersions.splice(0, dropCount);
    const dropped = this.#olderSlots!.splice(0, dropCount);
    this.trimmedBelow = this.versionAt(0);
    if (olderVersions.length === 0) {
      this.#olderVersions = undefined;
      this.#olderSlots = undefined;
    }
    return dropped;
  }

  verify(): void {
    const versions = this.versions;
    assert(versions.length === this.values.length && versions.length > 0, 'chain arrays match');
    for (let index = 1; index < versions.length; index++) {
      assert(versions[index - 1]! < versions[index]!, 'chain versions ascend');
    }
    assert(this.trimmedBelow === 0 || this.trimmedBelow === versions[0], 'trimmedBelow is the oldest retained version');
  }

  /** Index in the older arrays of the newest entry with version <= `version`, or -1. */
  #olderIndexAtOrBelow(version: number): number {
    const versions = this.#olderVersions;
    if (versions === undefined) return -1;
    let low = 0;
    let high = versions.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (versions[middle]! <= version) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}
