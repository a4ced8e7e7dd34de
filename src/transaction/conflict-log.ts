/**
 * The conflict log: the keys written by every recent commit, in version order,
 * including commits that are queued or being written but not yet durable.
 *
 * A transaction that read at version R conflicts with every logged commit whose
 * version is above R and that wrote a key it read (or a key inside a range it
 * scanned; under snapshot isolation: a key it writes). The check runs under the
 * commit lock, in the same synchronous section that assigns the version, so no
 * commit can slip between check and commit (the source system's race 2).
 *
 * Bounded: an entry at or below the horizon (the oldest read version of any running
 * transaction, and never above the visible version) cannot conflict with any
 * running or future transaction and is dropped.
 *
 * REQUIRES: the commit lock for append, findConflict and prune.
 */
import type { KeyRange } from '../memory/memory-index.js';
import { assert } from '../util/assert.js';

/** What the log needs of a commit's operations: the key each one writes. */
export interface KeyedOperation {
  readonly key: string;
}

interface LoggedCommit {
  version: number;
  /** The commit's own operations array (not copied: logging costs no allocation per key). */
  operations: readonly KeyedOperation[];
}

/** What a transaction read: point keys and scanned ranges (internal key form). */
export interface ReadSet {
  keys: ReadonlySet<string>;
  ranges: readonly KeyRange[];
}

export interface Conflict {
  /** The committed version that wrote what the transaction depended on. */
  version: number;
  keys: string[];
  ranges: KeyRange[];
}

export function keyInRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && key <= range.gt) return false;
  if (range.gte !== undefined && key < range.gte) return false;
  if (range.lt !== undefined && key >= range.lt) return false;
  if (range.lte !== undefined && key > range.lte) return false;
  return true;
}

/** True when one of `operations` writes a key in `keys` or inside one of `ranges`. */
function touches(operations: readonly KeyedOperation[], keys: ReadonlySet<string>, ranges: readonly KeyRange[]): boolean {
  for (let index = 0; index < operations.length; index++) {
    const key = operations[index]!.key;
    if (keys.has(key)) return true;
    for (let range = 0; range < ranges.length; range++) if (keyInRange(key, ranges[range]!)) return true;
  }
  return false;
}

/** The conflict with `entry`: every read key it wrote and every scanned range it wrote into. */
function conflictOf(entry: LoggedCommit, keys: ReadonlySet<string>, ranges: readonly KeyRange[]): Conflict {
  const conflict: Conflict = {
    version: entry.version,
    keys: entry.operations.filter((operation) => keys.has(operation.key)).map((operation) => operation.key),
    ranges: ranges.filter((range) => entry.operations.some((operation) => keyInRange(operation.key, range))),
  };
  assert(conflict.keys.length > 0 || conflict.ranges.length > 0, 'a conflict names what it touched');
  return conflict;
}

/** Compact the array once this many dropped entries sit at its head. */
const COMPACT_AFTER_ENTRIES = 4096;

export class ConflictLog {
  #entries: LoggedCommit[] = [];
  #head = 0;

  get size(): number {
    return this.#entries.length - this.#head;
  }

  append(version: number, operations: readonly KeyedOperation[]): void {
    const last = this.#entries[this.#entries.length - 1];
    assert(last === undefined || last.version < version, 'conflict log versions ascend');
    this.#entries.push({ version, operations });
  }

  /**
   * The first logged commit above `readVersion` that touched `readSet`, if any.
   * Allocates nothing until it finds one: a transaction is checked against every
   * commit ordered since it began (about one per concurrent client), and building
   * two arrays per entry was most of this check's cost (issue 12).
   */
  findConflict(readVersion: number, readSet: ReadSet): Conflict | undefined {
    const entries = this.#entries;
    const keys = readSet.keys;
    const ranges = readSet.ranges;
    for (let index = this.#firstAbove(readVersion); index < entries.length; index++) {
      const entry = entries[index]!;
      if (touches(entry.operations, keys, ranges)) return conflictOf(entry, keys, ranges);
    }
    return undefined;
  }

  /** Forgets what `version` wrote (a commit refused before reaching disk). */
  forget(version: number): void {
    const index = this.#firstAbove(version - 1);
    const entry = this.#entries[index];
    if (entry !== undefined && entry.version === version) this.#entries[index] = { version, operations: [] };
  }

  /** Drops entries at or below `horizon`. */
  prune(horizon: number): void {
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.version <= horizon) this.#head++;
    if (this.#head === this.#entries.length) {
      // The common case with no transaction running: empty the array in place, no allocation.
      this.#entries.length = 0;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER_ENTRIES) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Index of the first entry with version > `version` (binary search). */
  #firstAbove(version: number): number {
    let low = this.#head;
    let high = this.#entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#entries[middle]!.version <= version) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
