/**
 * One key's version history: the newest version inline, older ones (if any) in
 * parallel arrays, ascending, inside an OlderVersions record made at the second
 * version. Most keys have one version, so they cost one small object of three fields
 * (48 B) and no arrays: this matters at millions of keys (memory), and every key of a
 * live memtable is copied twice by V8's scavenger before it is promoted, so its bytes
 * are paid again in young-generation pauses (issue 12; 72 B with the creation
 * version and trimmedBelow inline).
 *
 * A chain trimmed back to its newest version alone (maxVersionsPerKey 1: every rewrite
 * of a key) keeps only its creation version, in the same field as the record (its
 * trimmedBelow is then its newest version): keeping the record cost such a key 56 B
 * that the memtable's estimate (measured on a one-version chain) did not count.
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

/**
 * A chain's versions below the newest, made at its second version; a trim that takes
 * them all replaces it with the creation version (VersionChain#older). Invariant:
 * versions and slots have equal length, at least one.
 */
class OlderVersions {
  /** The version that created the key (kept when trimming: as-of reads before it are simply "absent"). */
  readonly firstVersion: number;
  /** 0 while nothing was reclaimed; else the oldest retained version. */
  trimmedBelow = 0;
  versions: number[];
  slots: VersionSlot[];

  constructor(firstVersion: number, trimmedBelow: number, version: number, slot: VersionSlot) {
    this.firstVersion = firstVersion;
    this.trimmedBelow = trimmedBelow;
    this.versions = [version];
    this.slots = [slot];
  }
}

export class VersionChain {
  newestVersion: number;
  newest: VersionSlot;
  /**
   * Undefined while the chain has one version and nothing was trimmed (firstVersion is
   * newestVersion); a number, the creation version, when a trim left the newest version
   * alone (trimmedBelow is newestVersion); else the record of the older versions.
   */
  #older: OlderVersions | number | undefined;

  constructor(version: number, value: VersionSlot) {
    this.newestVersion = version;
    this.newest = value;
    this.#older = undefined;
  }

  /** The version that created the key (kept when trimming: as-of reads before it are simply "absent"). */
  get firstVersion(): number {
    const older = this.#older;
    return older === undefined ? this.newestVersion : typeof older === 'number' ? older : older.firstVersion;
  }

  /** 0 while nothing was reclaimed; after trimming, the oldest retained version. */
  get trimmedBelow(): number {
    const older = this.#older;
    return older === undefined ? 0 : typeof older === 'number' ? this.newestVersion : older.trimmedBelow;
  }

  /** For tests of verify() only: a chain with older versions gets a trimmedBelow (trim() sets it otherwise). */
  set trimmedBelow(version: number) {
    const older = this.#older;
    assert(older !== undefined && typeof older !== 'number', 'only a chain that has older versions gets one');
    older.trimmedBelow = version;
  }

  get length(): number {
    const older = this.#older;
    return older === undefined || typeof older === 'number' ? 1 : older.versions.length + 1;
  }

  /** Version at `index`, 0 = oldest retained, length-1 = newest. */
  versionAt(index: number): number {
    const older = this.#older;
    return older === undefined || typeof older === 'number' || index >= older.versions.length ? this.newestVersion : older.versions[index]!;
  }

  /** Slot at `index`, 0 = oldest retained, length-1 = newest. */
  slotAt(index: number): VersionSlot {
    const older = this.#older;
    return older === undefined || typeof older === 'number' || index >= older.slots.length ? this.newest : older.slots[index]!;
  }

  /** All retained versions, oldest first (a fresh array: for inspection and tests). */
  get versions(): number[] {
    const older = this.#older;
    return [...(older === undefined || typeof older === 'number' ? [] : older.versions), this.newestVersion];
  }

  /** All retained slots, oldest first (a fresh array: for inspection and tests). */
  get values(): VersionSlot[] {
    const older = this.#older;
    return [...(older === undefined || typeof older === 'number' ? [] : older.slots), this.newest];
  }

  /** REQUIRES: version > newestVersion (versions are applied in ascending order). */
  append(version: number, value: VersionSlot): void {
    // The message is built only on failure (this runs once per write of an existing key).
    if (!(version > this.newestVersion)) throw new AssertionFailedError(`version ${version} applied after ${this.newestVersion}`);
    const older = this.#older;
    if (older === undefined) {
      this.#older = new OlderVersions(this.newestVersion, 0, this.newestVersion, this.newest);
    } else if (typeof older === 'number') {
      // Trimmed to the newest alone: a record again, its oldest version the one trimmed to.
      this.#older = new OlderVersions(older, this.newestVersion, this.newestVersion, this.newest);
    } else {
      older.versions.push(this.newestVersion);
      older.slots.push(this.newest);
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
    return (this.#older as OlderVersions).slots[index];
  }

  /**
   * Drops the oldest versions so at most `keepCount` remain, never dropping the entry
   * visible at `pinnedVersion` (the oldest version a reader still uses), the
   * `keepCount - 1` entries below it (a snapshot's history lists the newest keepCount
   * at or below its version: resolve.ts) or anything newer. Returns the slots
   * dropped, oldest first.
   */
  trim(keepCount: number, pinnedVersion: number): VersionSlot[] {
    const older = this.#older;
    const excess = this.length - keepCount;
    if (older === undefined || typeof older === 'number' || excess <= 0) return [];
    // Entries more than keepCount - 1 below the one visible at the pin may go.
    const pinnedIndex = pinnedVersion >= this.newestVersion ? older.versions.length : this.#olderIndexAtOrBelow(pinnedVersion) - (keepCount - 1);
    const dropCount = Math.min(excess, Math.max(0, pinnedIndex));
    if (dropCount === 0) return [];
    let dropped: VersionSlot[];
    if (older.versions.length - dropCount === 1) {
      // One older version left: fresh one-element arrays, as a two-version chain has. A
      // splice keeps the backing stores grown at the third version (17 slots each), which
      // the memtable estimate (olderArraysSizeBytes) does not count: under
      // maxVersionsPerKey 2, keys written 3 times held 676 B/key of heap against 386 estimated.
      dropped = older.slots.slice(0, dropCount);
      older.versions = [older.versions[dropCount]!];
      older.slots = [older.slots[dropCount]!];
    } else {
      older.versions.splice(0, dropCount);
      dropped = older.slots.splice(0, dropCount);
    }
    assert(older.versions.length === older.slots.length, 'older arrays match');
    // Every older version gone: only the creation version stays (trimmedBelow is the newest).
    if (older.versions.length === 0) this.#older = older.firstVersion;
    else older.trimmedBelow = older.versions[0]!;
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
    const older = this.#older;
    if (older === undefined || typeof older === 'number') return -1;
    const versions = older.versions;
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
