/**
 * The write buffer: the active memtable that takes new commits, and the queue of
 * immutable memtables waiting to be flushed to runs (the design card's "write
 * buffer", seed race 4).
 *
 * The commit pipeline applies every acknowledged commit here, in version order,
 * through `apply` (the same call it made on the memory index). When the active
 * memtable passes its share of the memory budget it is sealed: it gets the next
 * sequence number and joins the flush queue, and a fresh memtable takes the next
 * commit, all in one synchronous step, so no flusher can see a sealed memtable
 * without its number or a number without its memtable.
 *
 * Invariants:
 * - `immutables` is in sequence (and version) order, oldest first; versions of the
 *   active memtable are above every immutable one's.
 * - A sealed memtable never changes again (its chains are only read).
 * - `walStartSegment` of a sealed memtable: every record with a higher version lies
 *   in that segment or later. It is the segment that held its last record, or, when
 *   the commit path cut the log at the seal, the next one (no later record goes into
 *   the cut-off segment), so the flush deletes every segment of the memtable.
 * - Only the oldest immutable memtable is ever removed (runs are installed in
 *   memtable order: seed race 6), by `retireOldest`, in the same synchronous step
 *   in which its run becomes visible to readers.
 *
 * Synchronous only: nothing here awaits.
 */
import { MemoryIndex, type IndexOperation } from '../memory/memory-index.js';
import { type DroppedMemtableRelease, startMemtableRelease } from '../memory/slab-reuse.js';
import { assert } from '../util/assert.js';

export interface SealedMemtable {
  readonly sequence: number;
  readonly index: MemoryIndex;
  /** Lowest and highest version applied to it (0 when empty). */
  readonly firstVersion: number;
  readonly lastVersion: number;
  /** WAL segment holding its last record (see the module header). */
  readonly walStartSegment: number;
  readonly memoryBytes: number;
}

export interface MemtablesConfig {
  maxVersionsPerKey: number;
  /** The active memtable is sealed once its estimated size passes this. */
  memtableBytesMax: number;
  /** The WAL segment the writer is appending to right now. */
  currentWalSegment: () => number;
  /** Called (synchronously) after a memtable joined the flush queue. */
  onSealed: () => void;
}

export class Memtables {
  readonly #config: MemtablesConfig;
  #active: MemoryIndex;
  #activeFirstVersion = 0;
  #immutables: SealedMemtable[] = [];
  #nextSequence = 1;
  #sealedCount = 0;
  #reclaimedInRetired = 0;

  constructor(config: MemtablesConfig) {
    this.#config = config;
    this.#active = new MemoryIndex(config.maxVersionsPerKey);
  }

  get active(): MemoryIndex {
    return this.#active;
  }

  /** Sealed memtables waiting for their runs, oldest first (a fresh array). */
  get immutables(): readonly SealedMemtable[] {
    return this.#immutables.slice();
  }

  get immutableCount(): number {
    return this.#immutables.length;
  }

  /** Versions reclaimed by retention in memtables that were flushed and retired. */
  get reclaimedInRetired(): number {
    return this.#reclaimedInRetired;
  }

  get sealedCount(): number {
    return this.#sealedCount;
  }

  /** Estimated bytes of the active and every immutable memtable. */
  get memoryBytes(): number {
    let total = this.#active.memoryBytes;
    for (const sealed of this.#immutables) total += sealed.memoryBytes;
    return total;
  }

  get immutableBytes(): number {
    let total = 0;
    for (const sealed of this.#immutables) total += sealed.memoryBytes;
    return total;
  }

  /** The newest version applied to any memtable (0 when none). */
  get appliedVersion(): number {
    return this.#active.appliedVersion || (this.#immutables.at(-1)?.lastVersion ?? 0);
  }

  /** Applies one acknowledged commit (the commit pipeline's call), then seals when full (if `maySeal`). */
  apply(version: number, operations: readonly IndexOperation[], pinnedVersion: number, maySeal: boolean): void {
    if (this.#activeFirstVersion === 0) this.#activeFirstVersion = version;
    this.#active.apply(version, operations, pinnedVersion);
    if (maySeal && this.full) this.seal();
  }

  /** True once the active memtable passed its share of the budget. */
  get full(): boolean {
    return this.#active.memoryBytes >= this.#config.memtableBytesMax;
  }

  /**
   * Seals the active memtable (if it holds anything) into the flush queue and starts
   * a fresh one. Numbering and queueing are one synchronous step (seed race 4).
   * Returns the sealed memtable, or undefined when the active one was empty.
   * `walStart` gives the sealed memtable's `walStartSegment`: by default the writer's
   * current segment; the commit path passes a cut of the log (WalWriter#cutAtNextRecord),
   * called only when something is sealed. `onSealed` tells the flusher (by default the
   * config's; open's seal of the replayed memtable starts its flush a turn later).
   */
  seal(walStart: () => number = this.#config.currentWalSegment, onSealed: () => void = this.#config.onSealed): SealedMemtable | undefined {
    const index = this.#active;
    if (index.appliedVersion === 0) return undefined;
    const sealed: SealedMemtable = {
      sequence: this.#nextSequence++,
      index,
      firstVersion: this.#activeFirstVersion,
      lastVersion: index.appliedVersion,
      walStartSegment: walStart(),
      memoryBytes: index.memoryBytes,
    };
    const previous = this.#immutables.at(-1);
    assert(previous === undefined || previous.lastVersion < sealed.firstVersion, 'sealed memtables ascend in version');
    this.#immutables.push(sealed);
    this.#active = new MemoryIndex(this.#config.maxVersionsPerKey);
    this.#activeFirstVersion = 0;
    this.#sealedCount++;
    // The end of the synchronous section (seed race 4): numbered, queued, replaced.
    assert(this.#immutables.at(-1) === sealed && this.#active !== index, 'a sealed memtable is queued before the flusher hears of it');
    assert(previous === undefined || previous.sequence + 1 === sealed.sequence, 'queued memtables are numbered consecutively');
    onSealed();
    return sealed;
  }

  /** The memtable the flusher must write next (the oldest sealed one). */
  oldest(): SealedMemtable | undefined {
    return this.#immutables[0];
  }

  /**
   * Removes the oldest sealed memtable once its run is installed and starts the
   * release of its values (memory/slab-reuse.ts); answers the rest of that release when
   * its first slice did not end it, for the caller to finish. REQUIRES: `sealed` is the
   * oldest (re-checked here, at the moment of dropping: seed race 8).
   */
  retireOldest(sealed: SealedMemtable): DroppedMemtableRelease | undefined {
    assert(this.#immutables[0] === sealed, `memtable ${sealed.sequence} retired out of order`);
    this.#immutables.shift();
    this.#reclaimedInRetired += sealed.index.stats().reclaimedVersions;
    // Dropped: its value slabs may be reused once nothing else holds them (memory/slab-reuse.ts),
    // up to a memtable's share, strongly only what the active memtable's share has room for.
    // The first slice of the release here; the caller finishes it across event-loop turns.
    const shareBytes = this.#config.memtableBytesMax;
    const release = startMemtableRelease(sealed.index, shareBytes, Math.max(0, shareBytes - this.#active.memoryBytes), undefined, this);
    return release === undefined || release.slice() ? undefined : release;
  }
}
