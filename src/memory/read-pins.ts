/**
 * Versions that running reads (scans, snapshots, transactions) still read as of.
 * Retention trimming asks `oldest()` and spares whatever that version sees, so a
 * long scan never finds a version it needs reclaimed underneath it.
 *
 * The pinned versions live in an ordered B+ tree (sorted-btree), one entry per
 * distinct version with its pin count, so pin, unpin and oldest are O(log n) for
 * any number of distinct pinned versions. (A spread `Math.min(...versions)` threw
 * RangeError past about 125,000 of them, inside a transaction's `finally` after
 * its commit had landed: issue 13, defect 8.)
 *
 * A pin either protects or only holds. Every pin keeps what is visible at its version
 * from being reclaimed (`oldest()`: memtable trimming, compaction's horizon). Only a
 * protecting pin also counts for other readers' retention rule (`readFloor()`): the
 * entry visible at it is retained for every read. A pin below what reads already
 * retain (a scan as of an old version, ScanIterator) only holds: as a protecting pin
 * it made reads answer for versions per-key retention had refused, and refuse them
 * again once it was released (retention review, 2026-12-03). A pin at or above the
 * oldest protecting pin, or at the newest version, adds nothing reads did not retain
 * already, so it protects (`protects()`).
 *
 * Invariants:
 * - `oldest()` is the smallest pinned version, or Infinity when none; `readFloor()`
 *   the smallest protecting one (at or above `oldest()`).
 * - Every entry's count is at least 1; `count` is the sum of the entries' counts.
 * - `unpin` of a version that is pinned never throws; only an unpin without a
 *   matching pin (a bug in the caller) fails an assertion.
 */
import { createRequire } from 'node:module';
import type sortedBtree from 'sorted-btree';
import { AssertionFailedError } from '../errors.js';
import { assert } from '../util/assert.js';

// sorted-btree is CommonJS with its class on `default` (see memory-index.ts).
const BTree = (createRequire(import.meta.url)('sorted-btree') as typeof sortedBtree).default;

interface PinEntry {
  /** Pins held on this version (at least 1). */
  count: number;
  /** When the version was first pinned (performance.now() ms). */
  pinnedAtMs: number;
}

function compareVersions(left: number, right: number): number {
  return left - right;
}

export class ReadPins {
  readonly #pinned: sortedBtree.default<number, PinEntry> = new BTree<number, PinEntry>(undefined, compareVersions);
  /** The protecting pins' counts per version (see the module header). */
  readonly #protecting: sortedBtree.default<number, number> = new BTree<number, number>(undefined, compareVersions);
  #total = 0;

  /** `protects`: false for a pin that only holds (the caller passes the same to unpin). */
  pin(version: number, protects = true): void {
    // The messages are built only on failure: a template argument is built at every call (issue 12).
    if (!(Number.isInteger(version) && version >= 0)) throw new AssertionFailedError(`pinned version ${version} is a non-negative integer`);
    const entry = this.#pinned.get(version);
    if (entry === undefined) this.#pinned.set(version, { count: 1, pinnedAtMs: performance.now() });
    else entry.count++;
    this.#total++;
    if (protects) this.#protecting.set(version, (this.#protecting.get(version) ?? 0) + 1);
  }

  unpin(version: number, protects = true): void {
    const entry = this.#pinned.get(version);
    if (!(entry !== undefined && entry.count > 0)) throw new AssertionFailedError(`unpin of version ${version} that is not pinned`);
    if (protects) {
      const count = this.#protecting.get(version);
      if (count === undefined) throw new AssertionFailedError(`unpin of version ${version} that is not pinned as protecting`);
      if (count > 1) this.#protecting.set(version, count - 1);
      else this.#protecting.delete(version);
    }
    this.#total--;
    assert(this.#total >= 0, 'pin total never goes negative');
    if (entry.count > 1) {
      entry.count--;
      return;
    }
    this.#pinned.delete(version);
  }

  /** The smallest pinned version (Infinity: none): what reclamation spares. */
  oldest(): number {
    return this.#pinned.minKey() ?? Infinity;
  }

  /** The smallest protecting pinned version (Infinity: none): the pin floor of reads' retention rule (resolve.ts). */
  readFloor(): number {
    return this.#protecting.minKey() ?? Infinity;
  }

  /** True when a pin at `version` adds nothing to what reads retain now: at or above readFloor(), or at the newest version. */
  protects(version: number, newestVersion: number): boolean {
    return version >= Math.min(this.readFloor(), newestVersion);
  }

  /** How long the oldest pinned version has been pinned, in ms (0 when none). */
  oldestAgeMs(): number {
    const oldest = this.#pinned.minKey();
    const entry = oldest === undefined ? undefined : this.#pinned.get(oldest);
    return entry === undefined ? 0 : performance.now() - entry.pinnedAtMs;
  }

  /** Number of pins held (two scans at one version count twice). */
  get count(): number {
    return this.#total;
  }

  /** Number of distinct versions pinned. */
  get distinctVersions(): number {
    return this.#pinned.size;
  }
}
