/**
 * A scan over one read view: memtables and runs merged in key order (or reverse),
 * each key resolved as of one version with the retention rule of resolve.ts.
 *
 * Memtables are read in synchronous chunks after the last key consumed (the active
 * one keeps taking commits, all above the scan's version); each run is read
 * through one cursor that stays open for the whole scan (runs never change), and
 * awaited only when it must read a block: a chunk of cached blocks is one synchronous
 * step. Histories are handed to the resolver newest source first; a run entry's value
 * stays a view of its block until the chunk's reader decodes it (readOnceSlotOfEntry),
 * so the chunk's slots are for one read each, never kept.
 *
 * A run is opened only if it may hold a key of the range (runMayHoldRange): its key
 * span (in the manifest) meets the range, and, for a range inside the reserved prefix
 * "\u0000ladybug/", its descriptor does not say it holds no reserved entry. Skipping
 * a run that holds no key of the range changes no answer: it has no history to give.
 */
import { EncodedValue } from '../codec/value-slabs.js';
import type { KeyRange, MemoryIndex } from '../memory/memory-index.js';
import type { VersionChain, VersionSlot } from '../memory/version-chain.js';
import type { RunDescriptor, RunEntry } from '../run/run-descriptor.js';
import { isReservedKey, rangeInsideReservedPrefix } from '../lease/reserved-prefix.js';
import type { RunCursor } from '../run/run-cursor.js';
import { assert } from '../util/assert.js';
import type { ReadView } from './read-view.js';
import { isLive } from './read-view.js';
import { readOnceSlotOfEntry, resolveSlot, type SourceHistory } from './resolve.js';

/** Most keys fetched from a memtable per synchronous step. */
const MEMTABLE_CHUNK_KEYS = 256;
/**
 * Fewest keys fetched from a memtable per step. A step asks for what the chunk still
 * lacks, at most MEMTABLE_CHUNK_KEYS: a 100-entry scan took 256 chains from the tree
 * and used 100. The floor bounds the steps over a range of deleted or not yet
 * visible keys (each step is one descent of the tree).
 */
const MEMTABLE_CHUNK_KEYS_MIN = 32;

/** touchChains reads one byte per cache line of a value's first this many bytes (and its last byte). */
const TOUCHED_VALUE_BYTES_MAX = 256;
const CACHE_LINE_BYTES = 64;

export type LiveSlot = Exclude<VersionSlot, symbol>;

interface MemtableSource {
  memtable: MemoryIndex;
  buffer: Array<[string, VersionChain]>;
  position: number;
  after: string | undefined;
  exhausted: boolean;
}

export interface MergedScanPlan {
  view: ReadView;
  range: KeyRange;
  reverse: boolean;
  version: number;
  referenceVersion: number;
  /** The oldest version other readers had pinned when the scan began (see resolve.ts). */
  pinFloor: number;
}

export class MergedScan {
  readonly #plan: MergedScanPlan;
  readonly #memtables: MemtableSource[];
  #runCursors: RunCursor[] | undefined;
  #done = false;
  /** Set by close(): a step in flight stops at its next await (nobody takes its answer). */
  #closed = false;
  /** The key (internal form) whose resolution failed, for the reader to name in its error. */
  failedKey: string | undefined;
  /** Thrown by the next nextChunk(): a key this chunk reached failed after live entries before it. */
  #failure: unknown;
  /** What touchChains read: kept so that its loads have a use. */
  #touched = 0;

  constructor(plan: MergedScanPlan) {
    this.#plan = plan;
    this.#memtables = plan.view.memtables.map((memtable) => ({ memtable, buffer: [], position: 0, after: undefined, exhausted: false }));
  }

  /** True when the last chunk was cut short by a key that failed: the next nextChunk() throws it. */
  get failurePending(): boolean {
    return this.#failure !== undefined;
  }

  /** Up to `maxCount` live entries after the previous chunk; fewer only at the end, or before a failed key (failurePending). */
  async nextChunk(maxCount: number): Promise<Array<[string, LiveSlot]>> {
    const result: Array<[string, LiveSlot]> = [];
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#done) return result;
    if (this.#runCursors === undefined) {
      const cursors = await this.#openRunCursors();
      // Closed while they opened: not kept (assigned, they read the whole chunk after close()).
      if (this.#closed) {
        for (const cursor of cursors) cursor.close();
        return result;
      }
      this.#runCursors = cursors;
    }
    const { reverse, version, referenceVersion, pinFloor, view } = this.#plan;
    const request = { version, referenceVersion, pinFloor, maxVersionsPerKey: view.maxVersionsPerKey };
    // A run cursor skips a key's blocks above the read version (RunCursor.seekVersion) only where a get does (read-view.ts).
    const seeks = view.maxVersionsPerKey === Infinity;
    while (result.length < maxCount) {
      const key = this.#nextKey(maxCount - result.length);
      if (key === undefined) {
        this.#done = true;
        this.close();
        break;
      }
      // The key's chain while a memtable's is its one source (the common case), else its
      // histories, newest source first (made only then: a record and an array per key cost
      // a scan of one memtable as much as resolving it).
      let only: VersionChain | undefined;
      let histories: SourceHistory[] | undefined;
      // True once a source holds what resolveSlot stops at (see takeKey): older entries are skipped.
      let decided = false;
      for (const source of this.#memtables) {
        const head = source.buffer[source.position];
        if (head === undefined || head[0] !== key) continue;
        if (only === undefined && histories === undefined) only = head[1];
        else {
          histories ??= [{ chain: only! }];
          only = undefined;
          histories.push({ chain: head[1] });
        }
        decided ||= chainDecides(head[1], version);
        source.position++;
        source.after = key;
      }
      for (const cursor of this.#runCursors) {
        // A run whose cursor is not at the key holds none of its entries (the cursor is at the key or past it).
        if (cursor.current?.key !== key) continue;
        if (decided) {
          // Older than the answer: moved past unread (a key's many versions cost a block or two, not every block).
          const skipped = passKey(cursor, key);
          if (skipped !== undefined) await skipped;
          if (this.#closed) return result;
          continue;
        }
        if (seeks && (cursor.current as RunEntry).version > version) {
          // Retention unbounded: of the entries above the read version only the one just above the answer counts (resolve.ts).
          const sought = cursor.seekVersion(version);
          if (sought !== undefined) await sought;
          if (this.#closed) return result;
        }
        const entries: RunEntry[] = [];
        // Awaited only when the cursor must read a block: an await per key and run was the largest cost of a scan of cached runs.
        const pending = takeKey(cursor, key, entries, version);
        if (pending !== undefined) await pending;
        if (this.#closed) return result;
        if (entries.length === 0) continue;
        histories ??= only === undefined ? [] : [{ chain: only }];
        only = undefined;
        histories.push({ entries });
        decided = (entries.at(-1) as RunEntry).version <= version;
      }
      // A run entry's value is wrapped as it lies in its block: the chunk's reader decodes it once (readOnceSlotOfEntry).
      let slot: ReturnType<typeof resolveSlot>;
      try {
        // A chain of one version at or below the read version answers as resolveSlot would
        // (nothing newer counts against retention, and maxVersionsPerKey is at least 1).
        if (only !== undefined && only.length === 1 && only.newestVersion <= version && request.maxVersionsPerKey >= 1) slot = only.newest;
        else slot = resolveSlot(only !== undefined ? [{ chain: only }] : (histories ?? []), request, readOnceSlotOfEntry);
      } catch (error) {
        // A key that cannot be answered (VersionNotRetainedError) fails the scan at its place:
        // the entries before it in this chunk are delivered first, the next chunk throws.
        this.failedKey = key;
        if (result.length === 0) throw error;
        this.#failure = error;
        break;
      }
      if (isLive(slot)) result.push([key, slot]);
      assert(reverse || result.length < 2 || result.at(-2)![0] < key, 'scan keys ascend');
    }
    return result;
  }

  /**
   * The next key in scan order over every source, refilling memtable buffers as needed
   * (with at least `wanted` keys, within the step bounds). No closure per call: this
   * runs once per key.
   */
  #nextKey(wanted: number): string | undefined {
    const { reverse } = this.#plan;
    let best: string | undefined;
    for (const source of this.#memtables) {
      if (source.position >= source.buffer.length && !source.exhausted) this.#refill(source, wanted);
      const head = source.buffer[source.position];
      if (head !== undefined && (best === undefined || (reverse ? head[0] > best : head[0] < best))) best = head[0];
    }
    for (const cursor of this.#runCursors!) {
      const current = cursor.current;
      if (current !== undefined && (best === undefined || (reverse ? current.key > best : current.key < best))) best = current.key;
    }
    return best;
  }

  #refill(source: MemtableSource, wanted: number): void {
    const { range, reverse } = this.#plan;
    const count = Math.min(MEMTABLE_CHUNK_KEYS, Math.max(MEMTABLE_CHUNK_KEYS_MIN, wanted));
    source.buffer = source.memtable.chainsChunk(range, source.after, reverse, count);
    source.position = 0;
    this.#touched += touchChains(source.buffer);
    if (source.buffer.length < count) source.exhausted = true;
  }

  async #openRunCursors(): Promise<RunCursor[]> {
    const cursors: RunCursor[] = [];
    try {
      for (const run of this.#plan.view.runs) {
        if (this.#closed) break;
        if (run.descriptor.minVersion > this.#plan.referenceVersion) continue;
        // The manifest holds each run's key span and reserved entry count: a run that
        // cannot hold a key of the range is not opened (no footer, index or filter read),
        // so the lease restart scan at open costs nothing per run without lease records.
        if (!runMayHoldRange(this.#plan.range, run.descriptor)) continue;
        cursors.push(await run.cursor(this.#plan.range, this.#plan.reverse));
      }
    } catch (error) {
      for (const cursor of cursors) cursor.close();
      throw error;
    }
    return cursors;
  }

  /** Releases the run cursors; idempotent. */
  close(): void {
    this.#done = true;
    this.#closed = true;
    for (const cursor of this.#runCursors ?? []) cursor.close();
    this.#runCursors = [];
  }
}

/**
 * Reads each key, chain, value record and a byte of each cache line of its newest value
 * (up to TOUCHED_VALUE_BYTES_MAX, and its last byte), before the step is resolved. A
 * memtable's keys, chains and value bytes lie in write order, so a scan in key order
 * of randomly written keys finds each in a cache line of its own: every entry missed
 * the cache several times, one miss at a time, between the promise steps of next(). In tight passes the loads do not depend on each other and
 * the processor overlaps them; what they brought in is still cached when the step is
 * resolved and read (a 100-entry step touches about 25 KiB). One pass per level of the
 * chain -> EncodedValue -> bytes path, not one pass following it per entry: each load of
 * one pass waited for the one before it, so the processor overlapped few entries
 * (range-scan bench: 75 -> 60 us per 100-entry scan, docs/PERFORMANCE.md 2026-12-04).
 * Returns a sum of what it read, for the caller to keep, so the loads have a use.
 */
function touchChains(buffer: ReadonlyArray<[string, VersionChain]>): number {
  const count = buffer.length;
  let sum = 0;
  // Three passes, each of loads that do not depend on each other: the chains (and the
  // keys' characters), then the values' records, then their bytes.
  const newest: VersionSlot[] = new Array<VersionSlot>(count);
  for (let index = 0; index < count; index++) {
    const entry = buffer[index] as [string, VersionChain];
    sum += entry[0].charCodeAt(0);
    newest[index] = entry[1].newest;
  }
  for (let index = 0; index < count; index++) {
    const slot = newest[index];
    if (slot instanceof EncodedValue) sum += slot.start + slot.length;
  }
  for (let index = 0; index < count; index++) {
    const slot = newest[index];
    if (!(slot instanceof EncodedValue)) continue;
    const source = slot.source;
    const end = slot.start + slot.length;
    // Every cache line of a value up to TOUCHED_VALUE_BYTES_MAX (a 100 B value spans two or three).
    for (let at = slot.start, stop = Math.min(end, slot.start + TOUCHED_VALUE_BYTES_MAX); at < stop; at += CACHE_LINE_BYTES) sum += source[at] as number;
    sum += source[end - 1] as number;
  }
  return sum;
}

/**
 * Appends the entries of `key` at the cursor's position to `entries` (a key's entries
 * are adjacent, newest first) down to the first at or below `version`, and moves the
 * cursor past the rest of the key without reading them (RunCursor.skipKey): resolveSlot
 * answers from that entry (or throws at it) and never looks at an older one, in this
 * source or an older one. Undefined when done synchronously (the blocks were held or
 * cached), else a promise that settles when done.
 */
function takeKey(cursor: RunCursor, key: string, entries: RunEntry[], version: number): Promise<void> | undefined {
  while (cursor.current !== undefined && cursor.current.key === key) {
    const entry = cursor.current;
    entries.push(entry);
    if (entry.version <= version) return passKey(cursor, key);
    const pending = cursor.advance();
    if (pending !== undefined) return pending.then(() => takeKey(cursor, key, entries, version));
  }
  return undefined;
}

/**
 * Moves `cursor` past the rest of `key`: one advance() first, and RunCursor.skipKey only
 * when the key goes on (older versions left). A key with one version in the run, the
 * usual case, then costs a step, not skipKey's look at the index and search in the
 * block (a forward scan of 200,000 such keys took 10-15% more CPU through skipKey alone).
 */
function passKey(cursor: RunCursor, key: string): Promise<void> | undefined {
  const pending = cursor.advance();
  if (pending !== undefined) return pending.then(() => (cursor.current?.key === key ? cursor.skipKey() : undefined));
  return cursor.current?.key === key ? cursor.skipKey() : undefined;
}

/**
 * True when resolveSlot stops in `chain` as of `version` (older sources unread): it holds
 * a version at or below it (its oldest is), or it was trimmed and `version` is at or
 * above its first version (VersionNotRetainedError).
 */
function chainDecides(chain: VersionChain, version: number): boolean {
  return chain.versionAt(0) <= version || (chain.trimmedBelow !== 0 && version >= chain.firstVersion);
}

/**
 * False when the run described cannot hold a key of `range`: its key span misses the
 * range, or the range lies inside the reserved prefix and the run counted 0 entries
 * there (a descriptor without the count, from before manifest format 3, may hold some;
 * a run set built not trusting the counts drops them: RunSetConfig.trustReservedEntryCounts).
 */
export function runMayHoldRange(range: KeyRange, descriptor: RunDescriptor): boolean {
  if (!spanOverlaps(range, descriptor.smallestKey, descriptor.largestKey)) return false;
  return descriptor.reservedEntryCount !== 0 || !rangeInsideReservedPrefix(range);
}

/**
 * False when the run described cannot hold `key`: outside its key span, or a reserved
 * key ("\u0000ladybug/...", a lease record read by acquire or a fence) in a run that
 * counted 0 reserved entries. A point read does not open such a run.
 */
export function runMayHoldKey(key: string, descriptor: RunDescriptor): boolean {
  if (key < descriptor.smallestKey || key > descriptor.largestKey) return false;
  return descriptor.reservedEntryCount !== 0 || !isReservedKey(key);
}

/** True when some key in [smallestKey, largestKey] lies inside `range`. */
export function spanOverlaps(range: KeyRange, smallestKey: string, largestKey: string): boolean {
  if (range.gte !== undefined && largestKey < range.gte) return false;
  if (range.gt !== undefined && largestKey <= range.gt) return false;
  if (range.lte !== undefined && smallestKey > range.lte) return false;
  if (range.lt !== undefined && smallestKey >= range.lt) return false;
  return true;
}
