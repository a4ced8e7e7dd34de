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
 * running or future transaction and is dropped. And by bytes: an open transaction
 * whose body waits keeps every later entry (about 170-200 B of heap per one-put commit,
 * measured; the values are not kept: a visible entry a prune keeps is copied to its keys)
 * up to its lifetime. The log counts an estimate
 * (`bytes`: ENTRY_BYTES per commit, OPERATION_BYTES plus the key per operation); past
 * conflictLogSettings.bytesMax it drops its oldest entries at or below the visible
 * version down to half of it (a visible commit: every new transaction reads above it),
 * as FoundationDB's resolvers forget history past their window. A read version below
 * a dropped entry can no longer be checked (`covers` false): the transaction's commit
 * is refused (TransactionLimitError 'conflictLog', transaction.ts), never checked
 * against a log with a gap.
 *
 * REQUIRES: the commit lock for append, findConflict and prune.
 */
import type { KeyRange } from '../memory/memory-index.js';
import { CONFLICT_LOG_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';

/** The log's bound (tests lower it): see the header. */
export const conflictLogSettings = { bytesMax: CONFLICT_LOG_BYTES_MAX };

/** Estimated heap of one logged commit beyond its operations (its slots in the arrays, its operations array). */
const ENTRY_BYTES = 48;
/** Estimated heap of one logged operation beyond its key's characters (measured about 170-200 B per one-put commit with 9-character keys). */
const OPERATION_BYTES = 128;

/** What the log needs of a commit's operations: the key each one writes. */
export interface KeyedOperation {
  readonly key: string;
}

/** A logged commit as conflictOf reports it (built only for the conflict found). */
interface LoggedCommit {
  version: number;
  operations: readonly KeyedOperation[];
}

/** What a transaction read: point keys and scanned ranges (internal key form). */
export interface ReadSet {
  keys: ReadonlySet<string>;
  ranges: readonly KeyRange[];
}

/**
 * A ReadSet whose keys may also be an array of distinct keys: a transaction that read
 * few keeps them so (searched linearly: no Set per small transaction, issue 12).
 */
export interface TransactionReads {
  keys: ReadonlySet<string> | readonly string[];
  ranges: readonly KeyRange[];
}

/** True when `keys` holds `key`. */
function hasKey(keys: ReadonlySet<string> | readonly string[], key: string): boolean {
  return Array.isArray(keys) ? (keys as readonly string[]).includes(key) : (keys as ReadonlySet<string>).has(key);
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
function touches(operations: readonly KeyedOperation[], keys: ReadonlySet<string> | readonly string[], ranges: readonly KeyRange[]): boolean {
  for (let index = 0; index < operations.length; index++) {
    const key = operations[index]!.key;
    if (hasKey(keys, key)) return true;
    for (let range = 0; range < ranges.length; range++) if (keyInRange(key, ranges[range]!)) return true;
  }
  return false;
}

/** The conflict with `entry`: every read key it wrote and every scanned range it wrote into. */
function conflictOf(entry: LoggedCommit, keys: ReadonlySet<string> | readonly string[], ranges: readonly KeyRange[]): Conflict {
  const conflict: Conflict = {
    version: entry.version,
    keys: entry.operations.filter((operation) => hasKey(keys, operation.key)).map((operation) => operation.key),
    ranges: ranges.filter((range) => entry.operations.some((operation) => keyInRange(operation.key, range))),
  };
  assert(conflict.keys.length > 0 || conflict.ranges.length > 0, 'a conflict names what it touched');
  return conflict;
}

/** Compact the array once this many dropped entries sit at its head. */
const COMPACT_AFTER_ENTRIES = 4096;
/** An emptied log keeps arrays of up to this many entries for reuse; longer ones are released. */
const REUSE_ENTRIES_MAX = 4096;

/** A forgotten commit's operations: it wrote nothing that can conflict. */
const NO_OPERATIONS: readonly KeyedOperation[] = [];

export class ConflictLog {
  /**
   * The entries as two parallel arrays, index for index: each commit's version and its
   * own operations array (not copied). No object per commit (issue 12: every commit,
   * plain puts too, is logged while it is unapplied). The entries are [#head, #end);
   * the arrays keep their room when the log empties (below REUSE_ENTRIES_MAX), so a
   * group's appends do not grow them from nothing again. Invariant: versions ascend
   * over [#head, #end); every slot of #operations outside it is NO_OPERATIONS (a
   * dropped commit's operations are not kept alive).
   */
  #versions: number[] = [];
  #operations: (readonly KeyedOperation[])[] = [];
  /** Each entry's estimated bytes (parallel to #versions; 0 outside [#head, #end) and for a forgotten one). */
  #entryBytes: number[] = [];
  /** The sum of #entryBytes over [#head, #end). */
  #bytes = 0;
  /** Read versions below this cannot be checked: an entry above them was dropped at the bytes bound. */
  #checkableFrom = 0;
  #head = 0;
  #end = 0;
  /**
   * The newest version that wrote each key, over entries [#head, #indexedEnd): built
   * lazily by findConflict (commits ordered while no transaction validates, plain puts,
   * never pay for it), kept exact by prune and forget.
   * Invariant: for every key written by an entry in [#head, #indexedEnd), the version of
   * the newest such entry; no other key.
   */
  readonly #newestWriter = new Map<string, number>();
  #indexedEnd = 0;
  /**
   * Entries below this (from #head) hold key-only copies of their operations: a commit's
   * own operations carry its values, which a transaction held open would otherwise keep
   * in memory through the log, uncounted (1 MiB values: 44 MiB of heap for 40 commits).
   * An entry is copied once, when a prune finds it visible and still kept (a transaction
   * reads below it); with no transaction running, visible entries are dropped, not copied.
   */
  #keysOnlyEnd = 0;

  get size(): number {
    return this.#end - this.#head;
  }

  /** The estimated heap the entries hold (see the header; stats().conflictLogBytes). */
  get bytes(): number {
    return this.#bytes;
  }

  /** False when a transaction that read at `readVersion` can no longer be checked (entries above it were dropped at the bound). */
  covers(readVersion: number): boolean {
    return readVersion >= this.#checkableFrom;
  }

  append(version: number, operations: readonly KeyedOperation[]): void {
    const end = this.#end;
    assert(end === this.#head || this.#versions[end - 1]! < version, 'conflict log versions ascend');
    let bytes = ENTRY_BYTES;
    for (let index = 0; index < operations.length; index++) bytes += OPERATION_BYTES + operations[index]!.key.length;
    // At the arrays' length this appends; below it, it reuses a slot of an earlier, emptied log.
    this.#versions[end] = version;
    this.#operations[end] = operations;
    this.#entryBytes[end] = bytes;
    this.#bytes += bytes;
    this.#end = end + 1;
  }

  /**
   * The first logged commit above `readVersion` that touched `readSet`, if any.
   * Point reads alone are decided by the key index: one lookup per read key (a
   * transaction under 64 clients is checked against ~64-128 commits ordered since it
   * began; scanning them all, with two arrays built per entry, was most of the check's
   * cost, issue 12). A possible conflict, or a scanned range, scans the entries,
   * allocating nothing until it finds the first conflicting one.
   */
  findConflict(readVersion: number, readSet: ReadSet | TransactionReads): Conflict | undefined {
    const keys = readSet.keys;
    const ranges = readSet.ranges;
    if (ranges.length === 0) {
      this.#indexToEnd();
      let newestAbove = false;
      for (const key of keys) {
        const version = this.#newestWriter.get(key);
        if (version !== undefined && version > readVersion) {
          newestAbove = true;
          break;
        }
      }
      if (!newestAbove) return undefined;
    }
    const operations = this.#operations;
    for (let index = this.#firstAbove(readVersion); index < this.#end; index++) {
      if (touches(operations[index]!, keys, ranges)) return conflictOf({ version: this.#versions[index]!, operations: operations[index]! }, keys, ranges);
    }
    assert(ranges.length > 0, 'the key index names a conflict only when an entry above the read version has it');
    return undefined;
  }

  /** Indexes the entries appended since the last findConflict. */
  #indexToEnd(): void {
    const versions = this.#versions;
    const newestWriter = this.#newestWriter;
    for (let index = Math.max(this.#indexedEnd, this.#head); index < this.#end; index++) {
      const operations = this.#operations[index]!;
      const version = versions[index]!;
      for (let operation = 0; operation < operations.length; operation++) newestWriter.set(operations[operation]!.key, version);
    }
    this.#indexedEnd = this.#end;
  }

  /** Removes entry `index`'s keys from the index where it is their newest writer (the entry leaves the index). */
  #unindex(index: number): void {
    const newestWriter = this.#newestWriter;
    const version = this.#versions[index]!;
    for (const operation of this.#operations[index]!) {
      if (newestWriter.get(operation.key) !== version) continue;
      // An older indexed entry (forget's case; prune drops the oldest first, so none) may still write the key.
      const older = this.#newestOlderWriter(operation.key, index);
      if (older === undefined) newestWriter.delete(operation.key);
      else newestWriter.set(operation.key, older);
    }
  }

  /** The newest version among entries [#head, before) that wrote `key`. */
  #newestOlderWriter(key: string, before: number): number | undefined {
    for (let index = before - 1; index >= this.#head; index--) {
      if (this.#operations[index]!.some((operation) => operation.key === key)) return this.#versions[index]!;
    }
    return undefined;
  }

  /** Forgets what `version` wrote (a commit refused before reaching disk). */
  forget(version: number): void {
    const index = this.#firstAbove(version - 1);
    if (index >= this.#end || this.#versions[index] !== version) return;
    if (index < this.#indexedEnd) this.#unindex(index);
    this.#operations[index] = NO_OPERATIONS;
    this.#bytes -= this.#entryBytes[index]!;
    this.#entryBytes[index] = 0;
  }

  /**
   * Drops entries at or below `horizon`; then, while over the bytes bound, the oldest at
   * or below `visibleVersion` down to half the bound (see the header).
   */
  prune(horizon: number, visibleVersion: number = horizon): void {
    const versions = this.#versions;
    while (this.#head < this.#end && versions[this.#head]! <= horizon) this.#dropHead();
    if (this.#bytes > conflictLogSettings.bytesMax) {
      const target = conflictLogSettings.bytesMax / 2;
      while (this.#head < this.#end && this.#bytes > target && versions[this.#head]! <= visibleVersion) {
        // A transaction that read below this version could conflict with it: no longer checkable.
        this.#checkableFrom = Math.max(this.#checkableFrom, versions[this.#head]!);
        this.#dropHead();
      }
    }
    const operations = this.#operations;
    let keysOnly = Math.max(this.#keysOnlyEnd, this.#head);
    for (; keysOnly < this.#end && versions[keysOnly]! <= visibleVersion; keysOnly++) operations[keysOnly] = operations[keysOnly]!.map(({ key }) => ({ key }));
    this.#keysOnlyEnd = keysOnly;
    if (this.#head === this.#end) {
      // The common case with no transaction running: the log is empty; its arrays keep
      // their room (every operations slot is NO_OPERATIONS now) unless it grew large.
      assert(this.#newestWriter.size === 0 && this.#bytes === 0, 'an empty log indexes no key and counts no bytes');
      if (versions.length > REUSE_ENTRIES_MAX) {
        versions.length = 0;
        this.#operations.length = 0;
        this.#entryBytes.length = 0;
      }
      this.#head = 0;
      this.#end = 0;
      this.#indexedEnd = 0;
      this.#keysOnlyEnd = 0;
    } else if (this.#head >= COMPACT_AFTER_ENTRIES) {
      this.#versions = versions.slice(this.#head, this.#end);
      this.#operations = this.#operations.slice(this.#head, this.#end);
      this.#entryBytes = this.#entryBytes.slice(this.#head, this.#end);
      this.#end -= this.#head;
      this.#indexedEnd = Math.max(0, this.#indexedEnd - this.#head);
      this.#keysOnlyEnd = Math.max(0, this.#keysOnlyEnd - this.#head);
      this.#head = 0;
    }
  }

  /** Drops the oldest entry. */
  #dropHead(): void {
    const head = this.#head;
    // The oldest entry: no older one is indexed, so its keys whose newest writer it is leave the index.
    if (head < this.#indexedEnd) this.#unindex(head);
    // Not kept alive by the log once dropped (a long transaction keeps the head from moving).
    this.#operations[head] = NO_OPERATIONS;
    this.#bytes -= this.#entryBytes[head]!;
    this.#entryBytes[head] = 0;
    this.#head = head + 1;
  }

  /** Index of the first entry with version > `version` (binary search). */
  #firstAbove(version: number): number {
    let low = this.#head;
    const versions = this.#versions;
    let high = this.#end;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (versions[middle]! <= version) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
