/**
 * A read view: the sources one reader reads, captured when it starts (the active
 * memtable, the sealed memtables, the live runs), newest first.
 *
 * A view never changes after capture: a memtable retired after its run was
 * installed, or a run replaced later, stays readable through every view that holds
 * it (the view keeps the object alive), so a scan, snapshot or transaction reads
 * one consistent set of sources however long it runs. Only the active memtable
 * keeps changing under a view, and only above the versions the reader reads.
 *
 * Every run a view captures is acquired (RunHandle#acquire) when the view is made
 * and released when the view is garbage-collected: a compaction closes a replaced
 * run's reader only once no view can read it any more.
 *
 * A memtable a view holds stays in memory after its flush: a long-lived reader
 * holds its view (hold/unhold), and the memtables of a held view stay counted in
 * the store's memory (memtable-holds.ts) until the last holder lets go.
 *
 * Point reads take the synchronous path when the active memtable answers (the
 * common hot read); they touch runs only when memory does not hold the answer,
 * and skip a run whose filter rules the key out.
 */
import type { MemoryIndex } from '../memory/memory-index.js';
import { markCapturedByReader } from '../memory/slab-reuse.js';
import type { VersionSlot } from '../memory/version-chain.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import type { ReadSample, StorageMetrics } from '../metrics/recorders.js';
import type { KeyProbe } from '../run/bloom-filter.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { isCutShort, NO_RUN_ENTRIES } from '../run/run-point-read.js';
import { assert } from '../util/assert.js';
import { type CachedPoint, type PointCache, pointEntries } from './point-cache.js';
import type { RunHandle } from './run-set.js';
import { isNotRetainedMarker, type ResolvedVersion, resolveHistory, resolveSlot, type SourceHistory, transientSlotOfEntry } from './resolve.js';
import type { RetentionFloor } from '../compaction/retention-floor.js';
import type { MemtableHolds } from './memtable-holds.js';

/** Releases a collected view's runs (the held value is the runs array, not the view). */
const viewRuns = new FinalizationRegistry<readonly RunHandle[]>((runs) => {
  for (const run of runs) run.release();
});

export interface ReadRequest {
  version: number;
  referenceVersion: number;
  /** The oldest version another reader has pinned (Infinity when none); see resolve.ts. */
  pinFloor: number;
}

export class ReadView {
  /** Memtables newest first: the active one, then sealed ones. */
  readonly memtables: readonly MemoryIndex[];
  /** Runs newest first. */
  readonly runs: readonly RunHandle[];
  readonly maxVersionsPerKey: number;
  /** The run set the runs came from (its identity keys the point cache). */
  readonly #runSetIdentity: readonly unknown[];
  readonly #pointCache: PointCache;
  readonly #metrics: StorageMetrics;
  /** The store-wide retention floor (src/compaction/retention-floor.ts), read at each resolve. */
  readonly #retentionFloor: RetentionFloor | undefined;
  /** The store's count of memtables held past their flush (memtable-holds.ts), and this view's holders. */
  readonly #holds: MemtableHolds | undefined;
  #holders = 0;
  /** MemtableHolds' marks (HeldView): listed there, and holding a retired memtable. */
  listed = false;
  listIndex = -1;
  retaining = false;

  /** The retention floor now (0: none): history stops at the entry visible at it. */
  get retentionFloor(): number {
    return this.#retentionFloor?.version ?? 0;
  }

  /** A read as of `version` below the retention floor: its refusal, once the floor is durable (RetentionFloor#refusal; resolves if the floor went back); else undefined. */
  floorRefusal(version: number): Promise<void> | undefined {
    return this.#retentionFloor?.refusal(version);
  }

  constructor(
    memtables: readonly MemoryIndex[],
    runs: readonly RunHandle[],
    maxVersionsPerKey: number,
    runSetIdentity: readonly unknown[],
    pointCache: PointCache,
    metrics: StorageMetrics,
    retentionFloor?: RetentionFloor,
    holds?: MemtableHolds,
  ) {
    this.#retentionFloor = retentionFloor;
    this.#holds = holds;
    this.memtables = memtables;
    // Their values are never reused while this view may read them (memory/slab-reuse.ts).
    markCapturedByReader(memtables);
    this.runs = runs;
    this.maxVersionsPerKey = maxVersionsPerKey;
    this.#runSetIdentity = runSetIdentity;
    this.#pointCache = pointCache;
    this.#metrics = metrics;
    if (runs.length > 0) {
      for (const run of runs) run.acquire();
      viewRuns.register(this, runs);
    }
  }

  /**
   * A long-lived reader (snapshot, scan, transaction, a watch feed's catch-up) reads
   * through this view until unhold(): its memtables count as retained once flushed
   * (memtable-holds.ts). Each hold() is matched by exactly one unhold() (the reader's
   * pin and unpin).
   */
  hold(): void {
    this.#holders++;
    if (!this.listed) this.#holds?.list(this);
  }

  unhold(): void {
    assert(this.#holders > 0, 'a read view is let go only once per hold');
    if (--this.#holders !== 0) return;
    // Let go: out of the holds' list now (a retaining view at the recount), so nothing keeps the view alive.
    if (this.retaining) this.#holds?.viewLetGo();
    else this.#holds?.unlist(this);
  }

  /** True while a long-lived reader holds this view (MemtableHolds' HeldView). */
  get held(): boolean {
    return this.#holders > 0;
  }

  /**
   * The slot of `key` as of `request.version`, or undefined when absent. Answers
   * synchronously when memory decides (returns the slot itself), else a promise.
   */
  slotAsOf(key: string, request: ReadRequest): VersionSlot | undefined | Promise<VersionSlot | undefined> {
    const sample = this.#metrics.sampleRead();
    if (sample === undefined) return this.#slotAsOf(key, request, undefined);
    const found = this.#slotAsOf(key, request, sample);
    if (!(found instanceof Promise)) {
      this.#metrics.recordRead(sample);
      return found;
    }
    return this.#recordWhenRead(found, sample);
  }

  /** Records a timed read once its answer arrives (a method, not a closure over slotAsOf's locals: see RunReader#partitionOnceFilterRead). */
  async #recordWhenRead(pending: Promise<VersionSlot | undefined>, sample: ReadSample): Promise<VersionSlot | undefined> {
    const slot = await pending;
    this.#metrics.recordRead(sample);
    return slot;
  }

  /** slotAsOf; a timed read's `sample` learns the deepest source the read reached. */
  #slotAsOf(key: string, request: ReadRequest, sample: ReadSample | undefined): VersionSlot | undefined | Promise<VersionSlot | undefined> {
    // The shared empty list until a memtable holds the key: a get answered by the runs or the point cache makes no array for it.
    let histories: readonly SourceHistory[] = NO_HISTORIES;
    for (const memtable of this.memtables) {
      const chain = memtable.chain(key);
      if (chain === undefined) continue;
      // The hot path: the newest source's newest entry is what the reader sees (nothing
      // newer counts against retention), so it is the answer.
      const newest = chain.newestVersion;
      if (histories.length === 0 && newest <= request.version && newest <= request.referenceVersion) return chain.newest;
      histories = withHistory(histories, { chain });
      if (this.#decidedBy(histories, request)) return this.#resolve(histories, request);
    }
    if (this.runs.length === 0) return this.#resolve(histories, request);
    const cached = this.#pointCache.get(key, this.#runSetIdentity);
    if (cached !== undefined) {
      // An incomplete point answers only what its newest entry decides; any other read
      // reads every run and caches the key's whole history in its place.
      if (!cached.complete && !newestAnswers(cached, histories, request)) return this.#slotFromRuns(key, histories, request, sample, true);
      if (sample !== undefined) sample.source = 'point_cache';
      return this.#fromPoint(key, cached, histories, request);
    }
    return this.#slotFromRuns(key, histories, request, sample, false);
  }

  /** The answer from a cached point: the newest entry itself when it decides, else resolved from its entries (REQUIRES: complete, or newestAnswers). */
  #fromPoint(key: string, point: CachedPoint, histories: readonly SourceHistory[], request: ReadRequest): VersionSlot | undefined {
    if (point.newestVersion === undefined) return this.#resolve(histories, request);
    if (newestAnswers(point, histories, request)) return point.newest;
    return this.#resolve(withHistory(histories, { entries: pointEntries(key, point) }), request);
  }

  /**
   * True when the histories gathered so far decide the answer: an entry at or
   * below the read version exists among them (older sources cannot change it).
   * With bounded retention the count of newer entries matters too, but it only
   * grows with older sources... which lie below the found entry, so it is final.
   */
  #decidedBy(histories: readonly SourceHistory[], request: ReadRequest): boolean {
    const last = histories.at(-1);
    if (last === undefined || !('chain' in last)) return false;
    const chain = last.chain;
    if (chain.trimmedBelow !== 0 && request.version >= chain.firstVersion) return true;
    for (let index = chain.length - 1; index >= 0; index--) {
      const version = chain.versionAt(index);
      if (version <= request.version && version <= request.referenceVersion) return true;
    }
    return false;
  }

  #resolve(histories: readonly SourceHistory[], request: ReadRequest): VersionSlot | undefined {
    // No source holds the key (a get of an absent key that the runs ruled out): absent, as resolveSlot would say, without its request object.
    if (histories.length === 0) return undefined;
    const { version, referenceVersion, pinFloor } = request;
    return resolveSlot(histories, { version, referenceVersion, pinFloor, maxVersionsPerKey: this.maxVersionsPerKey });
  }

  /**
   * Reads the key's entries from the runs (newest first) and resolves. The read stops
   * at the first run holding an entry at or below the read version (older runs hold
   * only older versions, which cannot change the answer; see #decidedBy), so a uniform
   * read of a key in an old run of a store with many runs does not probe the runs
   * below it. When the point cache will keep the entries (PointCache#admitsMiss: a
   * key's second miss) they are cached, as an incomplete point when the read stopped
   * before the last run (its newest entry answers the plain gets that follow; an
   * admitted miss used to read every run, so a key read twice in an old run of the
   * 10M store paid the runs below it too). `wholeHistory`: a cached incomplete point
   * could not answer, so every run is read and the key's complete point replaces it.
   * Synchronous while every run answers synchronously (its filter rules the key out,
   * its blocks are cached, or read with FileHandle.readSync and checked): no promise
   * and no microtask per run; from the first
   * run that must read the file on, the rest continues asynchronously.
   */
  #slotFromRuns(key: string, histories: readonly SourceHistory[], request: ReadRequest, sample: ReadSample | undefined, wholeHistory: boolean): VersionSlot | undefined | Promise<VersionSlot | undefined> {
    // The entries read so far, newest first: the first run holding the key hands over its
    // own answer (made for this read), copied only when a second run adds entries.
    let all: readonly RunEntry[] = NO_RUN_ENTRIES;
    let allOwned = false;
    if (sample !== undefined) sample.source = 'block_cache';
    const caching = wholeHistory || this.#pointCache.admitsMiss(key, this.#runSetIdentity);
    const runs = this.runs;
    let complete = true;
    // Every run's filter uses the same hash of the same key bytes: hashed once here.
    const probe = (runs[0] as RunHandle).probeOf(key);
    // A run's entries below the first that decides are not read (isCutShort), unless the whole history is;
    // nor its blocks above the read version when they cannot change the answer (seekVersionOf).
    const until = untilVersionOf(request, false);
    const seek = seekVersionOf(request.version, this.maxVersionsPerKey);
    let whole = wholeHistory;
    for (let index = 0; index < runs.length; index++) {
      // versionsOf answers synchronously unless a block (or the reader) must come from the file.
      const found = (runs[index] as RunHandle).versionsOf(key, probe, whole ? -1 : until, 1, seek);
      if (found instanceof Promise) return this.#slotFromRunsAfter(key, histories, request, sample, all.slice(), index, found, probe, caching, wholeHistory, whole, complete);
      if (found.length > 0) {
        if (all.length === 0) {
          all = found;
        } else {
          if (!allOwned) all = all.slice();
          allOwned = true;
          // An index loop, not for-of (an iterator per run).
          for (let position = 0; position < found.length; position++) (all as RunEntry[]).push(found[position] as RunEntry);
        }
      }
      // A seek left blocks out: not the whole history, so the read stops where it decides.
      if (isCutShort(found)) complete = whole = false;
      if (!whole && decides(found, request)) {
        if (index < runs.length - 1) complete = false;
        break;
      }
    }
    // A read that could not cache the whole history keeps the incomplete point it found (the same newest entry).
    if (!caching || (wholeHistory && !complete)) return this.#fromEntries(all, histories, request);
    const point = this.#pointCache.set(key, this.#runSetIdentity, all, true, complete);
    return complete ? this.#fromPoint(key, point, histories, request) : this.#fromEntries(all, histories, request);
  }

  /** The answer from entries read from the runs (newest first) without caching them: as #fromPoint would give from the same entries. */
  #fromEntries(all: readonly RunEntry[], histories: readonly SourceHistory[], request: ReadRequest): VersionSlot | undefined {
    const first = all[0];
    if (first === undefined) return this.#resolve(histories, request);
    // A marker as the newest entry goes to resolveSlot (VersionNotRetainedError), as #fromPoint's undefined `newest` does.
    if (histories.length === 0 && first.version <= request.version && first.version <= request.referenceVersion && !isNotRetainedMarker(first.value)) {
      // The read's own answer, not cached: no copy of a byte value before readStored copies it (resolve.ts).
      return transientSlotOfEntry(first);
    }
    return this.#resolve(withHistory(histories, { entries: all }), request);
  }

  /** The rest of #slotFromRuns from run `index` on, whose answer `pending` is on its way from the file. */
  async #slotFromRunsAfter(
    key: string,
    histories: readonly SourceHistory[],
    request: ReadRequest,
    sample: ReadSample | undefined,
    all: RunEntry[],
    index: number,
    pending: Promise<readonly RunEntry[]>,
    probe: KeyProbe,
    caching: boolean,
    wholeHistory: boolean,
    whole: boolean,
    complete: boolean,
  ): Promise<VersionSlot | undefined> {
    if (sample !== undefined) sample.source = 'disk';
    const first = await pending;
    for (const entry of first) all.push(entry);
    // The index of the run that decided the read (the last run when none did).
    let decidedAt = index;
    if (isCutShort(first)) complete = whole = false;
    if (whole || !decides(first, request)) {
      const until = untilVersionOf(request, false);
      const seek = seekVersionOf(request.version, this.maxVersionsPerKey);
      for (decidedAt = index + 1; decidedAt < this.runs.length; decidedAt++) {
        const entries = await (this.runs[decidedAt] as RunHandle).versionsOf(key, probe, whole ? -1 : until, 1, seek);
        for (const entry of entries) all.push(entry);
        if (isCutShort(entries)) complete = whole = false;
        if (!whole && decides(entries, request)) break;
      }
    }
    if (decidedAt < this.runs.length - 1) complete = false;
    if (!caching || (wholeHistory && !complete)) return this.#fromEntries(all, histories, request);
    const point = this.#pointCache.set(key, this.#runSetIdentity, all, true, complete);
    return complete ? this.#fromPoint(key, point, histories, request) : this.#fromEntries(all, histories, request);
  }

  /** The key's retained versions at or below `upToVersion`, newest first. */
  async history(key: string, upToVersion: number, referenceVersion: number, pinFloor: number, limit: number): Promise<ResolvedVersion[]> {
    const histories: SourceHistory[] = [];
    for (const memtable of this.memtables) {
      const chain = memtable.chain(key);
      if (chain !== undefined) histories.push({ chain });
    }
    // resolveHistory lists or stops at every entry at or below both versions: once the
    // runs gave `limit` of them, nothing older is read (a run's older blocks neither).
    // No seek past the entries above them: a retention marker among those ends the list.
    const until = Number.isFinite(limit) ? Math.min(upToVersion, referenceVersion) : -1;
    let listable = 0;
    for (const run of this.runs) {
      if (until >= 0 && listable >= limit) break;
      const entries = await run.versionsOf(key, undefined, until, limit - listable);
      if (entries.length > 0) histories.push({ entries });
      for (let index = 0; index < entries.length; index++) if ((entries[index] as RunEntry).version <= until) listable++;
    }
    return resolveHistory(histories, upToVersion, referenceVersion, pinFloor, this.maxVersionsPerKey, limit, this.retentionFloor);
  }
}

/** The histories of a read before any source held its key (frozen: withHistory never appends to it). */
const NO_HISTORIES: readonly SourceHistory[] = Object.freeze([]);

/** `histories` with `history` appended: a new array for the shared empty one, else the same array. */
function withHistory(histories: readonly SourceHistory[], history: SourceHistory): readonly SourceHistory[] {
  if (histories === NO_HISTORIES) return [history];
  (histories as SourceHistory[]).push(history);
  return histories;
}

/**
 * True when a cached point's newest entry is the read's answer by itself: no memtable
 * holds the key, and the newest entry (not a retention marker) is at or below the read
 * and reference versions (the newest entry is always retained).
 */
function newestAnswers(point: CachedPoint, histories: readonly SourceHistory[], request: ReadRequest): boolean {
  const newestVersion = point.newestVersion;
  return histories.length === 0 && point.newest !== undefined && newestVersion !== undefined && newestVersion <= request.version && newestVersion <= request.referenceVersion;
}

/** The version below which a point read needs no run entry once it has one at or below it (-1: it needs every entry). */
function untilVersionOf(request: ReadRequest, wholeHistory: boolean): number {
  return wholeHistory ? -1 : Math.min(request.version, request.referenceVersion);
}

/**
 * The version a run's point read may seek to, skipping its blocks above (-1: none,
 * RunPointLookup.pointVersions): with maxVersionsPerKey unbounded every entry is
 * retained, so entries above the read version change no answer (resolve.ts) but the one
 * just above the answer (the retention floor's and a marker's), which the seek keeps.
 */
function seekVersionOf(version: number, maxVersionsPerKey: number): number {
  return maxVersionsPerKey === Infinity ? version : -1;
}

/**
 * True when one run's entries of a key (newest first) hold one at or below the read
 * version: runs are newest first and do not overlap in versions, so the runs below
 * hold only older versions, which cannot change the answer (as #decidedBy argues for
 * memtables, retention counts included).
 */
function decides(entries: readonly RunEntry[], request: ReadRequest): boolean {
  for (let index = 0; index < entries.length; index++) {
    const version = (entries[index] as RunEntry).version;
    if (version <= request.version && version <= request.referenceVersion) return true;
  }
  return false;
}

/** The caller-facing meaning of a slot: undefined for absent or deleted. */
export function isLive(slot: VersionSlot | undefined): slot is Exclude<VersionSlot, typeof TOMBSTONE> {
  return slot !== undefined && slot !== TOMBSTONE;
}
