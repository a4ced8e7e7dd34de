/**
 * Memtables that long-lived readers keep after their flush (retained memtables).
 *
 * A read view holds its memtables for as long as a reader holds the view
 * (read-view.ts): a snapshot, a scan, a transaction or a watch feed's catch-up that
 * began before a memtable was flushed still reads it after its run is installed
 * and it left the flush queue (Memtables#retireOldest). Its memory stays live, so it
 * is counted here until the last such reader lets go: `retainedBytes` is in
 * stats().storage.retainedMemtableBytes, in memoryBytes, in the memtables' charge
 * against the caches and in what the write stall weighs (storage-engine.ts,
 * write-stall.ts). Before, a retired memtable left every count at once, and a store
 * with readers left open under-reported its memory by a memtable per reader.
 *
 * A reader holds its view (ReadView#hold) where it pins its version and lets go
 * where it unpins (release, end, expiry, or the collector of a dropped reader), so a
 * count ends when the pin does. A view counts once however many readers hold it. A
 * get holds no view: its read is over within the call or its disk reads.
 *
 * The hold itself is a counter on the view (a transaction or a scan per call must not
 * pay a hash table's work: a Map of held memtables cost 100-300 ns per hold and
 * release): a view's first hold lists it here (`list`), once. At each install
 * (`retireMissing`, from StorageEngine's flush progress, in the synchronous step of
 * Memtables#retireOldest) the listed views no longer held are dropped from the list,
 * and a held view's memtables that are neither the active one nor queued any more are
 * marked retired and the view retaining; the retained bytes are counted again then,
 * and when a retaining view's last holder lets go (`viewLetGo`). A view is first held
 * in the step it is taken from StorageEngine#view (whose cached view is dropped at each
 * install), or while a reader already holds it, so its memtables are live then: none
 * is held for the first time after its retirement.
 *
 * Invariants:
 * - `#views` holds each listed view once, at its `listIndex`; a view not held any more
 *   leaves it when its last holder lets go (unlist; a retaining one at that count), so
 *   the list keeps no view alive past its readers: no retired memtable, and no run a
 *   compaction replaced (until 2026-12-03 a view let go stayed listed until the next
 *   flush's install, and the replaced runs it had captured stayed open until then).
 * - `#retained` is exactly the retired memtables of the held views, each with its
 *   estimate (MemoryIndex#memoryBytes: it no longer changes), `retainedBytes` their sum
 *   (as of the last count: an install or a retaining view let go).
 * - `#releasing` holds the retired memtables whose flush is still ending (`releasing`),
 *   each until it settles; `inMemoryBytes` adds those no reader retains to the retained
 *   ones for stats() (2026-12-04: between the release's slices memoryBytes missed them;
 *   and until the flush ended, during its cache prepopulation and WAL removal).
 * - Synchronous only (but the end of a release); `onReleased` is called after the retained bytes fell.
 */
import type { MemoryIndex } from '../memory/memory-index.js';

/** What MemtableHolds needs of a read view (read-view.ts). */
export interface HeldView {
  readonly memtables: readonly MemoryIndex[];
  /** True while a reader holds the view. */
  readonly held: boolean;
  /** True once one of its memtables retired while it was held (then its last let-go recounts). */
  retaining: boolean;
  /** True while listed here. */
  listed: boolean;
  /** Its place in the list while listed (-1 when not): a view let go leaves it at once (unlist). */
  listIndex: number;
}

export class MemtableHolds {
  readonly #views: HeldView[] = [];
  readonly #retired = new WeakSet<MemoryIndex>();
  readonly #retained = new Map<MemoryIndex, number>();
  #retainedBytes = 0;
  /** Retired memtables whose values are being released in slices, with their estimates. */
  readonly #releasing = new Map<MemoryIndex, number>();
  /** Told (synchronously) when retained bytes were let go: the caches and the write stall may take them back. */
  onReleased: () => void = () => undefined;

  /** Bytes of the retired memtables a held view still includes. */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  get retainedCount(): number {
    return this.#retained.size;
  }

  /**
   * The retained memtables and those whose flush is still ending (stats().storage
   * retainedMemtables / retainedMemtableBytes, so memoryBytes): still in memory. A
   * memtable a reader retains counts once, as retained, also while its flush ends.
   * O(memtables whose flush is ending): none or one.
   */
  get inMemoryCount(): number {
    let count = this.#retained.size;
    for (const memtable of this.#releasing.keys()) if (!this.#retained.has(memtable)) count++;
    return count;
  }

  get inMemoryBytes(): number {
    let bytes = this.#retainedBytes;
    for (const [memtable, estimate] of this.#releasing) if (!this.#retained.has(memtable)) bytes += estimate;
    return bytes;
  }

  /**
   * Runs `finish`, the rest of retired `memtable`'s flush after its install (Flusher: the
   * release of its values in slices, slab-reuse.ts, whose first step is synchronous; cache
   * prepopulation; WAL removal): its keys, chains and unreleased slabs stay live until it
   * settles, so it counts in the stats till then
   * (not in the memtables' charge or the write stall: a few ms, and resizing the caches
   * for them would evict and refill blocks).
   */
  async releasing<T>(memtable: MemoryIndex, finish: () => Promise<T>): Promise<T> {
    const estimate = memtable.memoryBytes;
    this.#releasing.set(memtable, estimate);
    try {
      return await finish();
    } finally {
      this.#releasing.delete(memtable);
    }
  }

  /** `view` got its first holder and is not listed yet. */
  list(view: HeldView): void {
    view.listed = true;
    view.listIndex = this.#views.length;
    this.#views.push(view);
  }

  /**
   * `view` (listed, not retaining) lost its last holder: it leaves the list now, not at the
   * next count, so the list keeps no view alive past its readers (a view's runs are released,
   * and a compaction's replaced runs closed, only once it is collected: read-view.ts).
   * O(1): the last listed view takes its place.
   */
  unlist(view: HeldView): void {
    const index = view.listIndex;
    if (!view.listed || index < 0 || this.#views[index] !== view) return;
    const last = this.#views.pop()!;
    if (last !== view) {
      this.#views[index] = last;
      last.listIndex = index;
    }
    view.listed = false;
    view.listIndex = -1;
  }

  /** A retaining view lost its last holder: its retired memtables are counted no more unless another held view has them. */
  viewLetGo(): void {
    const before = this.#retainedBytes;
    this.#count();
    if (this.#retainedBytes < before) this.onReleased();
  }

  /** A flush was installed: every memtable of a held view that `isLive` no longer names was retired. */
  retireMissing(isLive: (memtable: MemoryIndex) => boolean): void {
    this.#prune();
    for (const view of this.#views) {
      for (const memtable of view.memtables) {
        if (isLive(memtable)) continue;
        this.#retired.add(memtable);
        view.retaining = true;
      }
    }
    this.#count();
  }

  /** Drops the views no longer held from the list. */
  #prune(): void {
    let kept = 0;
    for (const view of this.#views) {
      if (view.held) {
        view.listIndex = kept;
        this.#views[kept++] = view;
      } else {
        view.listed = false;
        view.listIndex = -1;
        view.retaining = false;
      }
    }
    this.#views.length = kept;
  }

  #count(): void {
    this.#prune();
    this.#retained.clear();
    let bytes = 0;
    for (const view of this.#views) {
      if (!view.retaining) continue;
      for (const memtable of view.memtables) {
        if (!this.#retired.has(memtable) || this.#retained.has(memtable)) continue;
        const estimate = memtable.memoryBytes;
        this.#retained.set(memtable, estimate);
        bytes += estimate;
      }
    }
    this.#retainedBytes = bytes;
  }
}
