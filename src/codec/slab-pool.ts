/**
 * Reuse of the commit path's value slabs (value-slabs.ts) once nothing can read them
 * (issue 12): a slab whose every carved value was released goes to a bounded free
 * list that the next slab taken comes from, instead of becoming garbage while a new
 * ArrayBuffer is allocated. V8 counts every new ArrayBuffer's bytes as external
 * memory allocated since the last mark-compact, and at 4 KiB puts the memtable's
 * fresh slabs alone started most full collections (bench/put-cpu.ts).
 *
 * A value is released only by the drop of a memtable that holds it and that no
 * reader could reach (memory/slab-reuse.ts). Anything else that may keep a value
 * marks its slab `escaped` (never reused; V8 collects it as before). Every way the
 * counting can miss a value errs the same way: a value carved and never released (a
 * refused commit, an abandoned transaction, a version trimmed off its chain, a
 * memtable a reader captured) keeps its slab off the free list for good.
 *
 * Invariants:
 * - A slab is on the free list only if it is not the slab being carved, no value of
 *   it escaped, and every value carved from it since it was taken was released
 *   (released === carved, each released value counted once: a bit per 8-byte unit).
 * - The free list holds at most the bounds the last drop gave (`bound`): the memtable
 *   share of the budget in all, counted in whole slabs, of which at most the share less
 *   the active memtable's estimate referenced strongly (#free).
 * - One pool serves every store open in the process. A store's close (`forget`) takes
 *   back only its own bounds: the free list keeps to the last bounds an open store's
 *   drop gave (its slabs stay for that store to reuse), and is left to V8 once no store
 *   that dropped a memtable is open.
 */
import { MEMORY_BYTES_HEAP_ALIGNMENT } from '../limits.js';
import { assert } from '../util/assert.js';

/** One tracked slab's counts (kept with the slab from one reuse to the next). */
export class SlabRecord {
  /** Values carved since the slab was last taken. */
  carved = 0;
  /** Distinct values of those released (bits set in `releasedUnits`). */
  released = 0;
  /** True while an allocator carves from the slab. */
  current = true;
  /** True once a value of it may be kept past its memtable's drop. */
  escaped = false;
  /** True while the slab waits on the free list. */
  free = false;
  /**
   * One bit per heap word: the value starting there was released. Made at the slab's
   * first release (SlabPool#release), kept across reuses: a slab whose values stay in a
   * live memtable costs no bitmap (1 KiB a 64 KiB slab, memory no estimate counts: the
   * 4 KiB shape of test/memory-budget.test.ts measured it).
   */
  releasedUnits: Uint32Array | undefined;

  reset(): void {
    this.carved = 0;
    this.released = 0;
    this.current = true;
    this.escaped = false;
    this.free = false;
    this.releasedUnits?.fill(0);
  }
}

export interface PooledSlab {
  readonly slab: Uint8Array<ArrayBuffer>;
  readonly record: SlabRecord;
}

interface FreeSlab {
  readonly reference: WeakRef<Uint8Array<ArrayBuffer>>;
  /** The slab itself while it is held (see SlabPool#free). */
  held: Uint8Array<ArrayBuffer> | undefined;
}

export class SlabPool {
  readonly slabBytes: number;
  /** The record of every slab this pool made (weak: a slab never released is collected as before). */
  readonly #records = new WeakMap<Uint8Array, SlabRecord>();
  /**
   * Released slabs, newest last. Each is referenced weakly, and the newest up to
   * `#heldBytesMax` strongly as well: a weak one was garbage to V8 before reuse and
   * still is (a mark-compact may collect it, and the memory figures need not count
   * it); a held one is memory the memtable share of the budget already reserves (the
   * bound is the share less the active memtable's estimate at the last drop).
   */
  readonly #free: FreeSlab[] = [];
  /**
   * The bounds each owner (an open store's memtables) gave at its last drop, the newest
   * last: a close re-bounds to the newest left (forget). Weak: an abandoned store's entry
   * does not keep its memtables alive.
   */
  readonly #owners: Array<{ owner: WeakRef<object>; freeBytesMax: number; heldBytesMax: number }> = [];
  /** Bounds, as the last `bound` gave them (0 until then: no slab is kept). */
  #freeBytesMax = 0;
  #heldBytesMax = 0;
  #heldCount = 0;
  #reused = 0;
  #allocated = 0;
  #dropped = 0;

  constructor(slabBytes: number) {
    assert(Number.isSafeInteger(slabBytes) && slabBytes > 0 && slabBytes % MEMORY_BYTES_HEAP_ALIGNMENT === 0, 'a pooled slab is a whole number of heap words');
    this.slabBytes = slabBytes;
  }

  /** Bytes of the slabs waiting on the free list (held by no value; weak ones may be collected already). */
  get freeBytes(): number {
    return this.#free.length * this.slabBytes;
  }

  /** Bytes of the free list's slabs referenced strongly (live until taken). */
  get heldBytes(): number {
    return this.#heldCount * this.slabBytes;
  }

  /** Slabs taken from the free list, made new, and released but not kept (free list full), since the process started. */
  get counts(): { reused: number; allocated: number; dropped: number } {
    return { reused: this.#reused, allocated: this.#allocated, dropped: this.#dropped };
  }

  /** The next slab to carve: a released one when the free list has one, else a new one. */
  take(): PooledSlab {
    for (let free = this.#free.pop(); free !== undefined; free = this.#free.pop()) {
      const slab = free.held ?? free.reference.deref();
      if (free.held !== undefined) this.#heldCount--;
      if (slab === undefined) continue; // collected
      const record = this.#records.get(slab)!;
      assert(record.free && !record.current && !record.escaped && record.carved === record.released, 'a free slab holds no value');
      record.reset();
      this.#reused++;
      return { slab, record };
    }
    const slab = new Uint8Array(this.slabBytes);
    const record = new SlabRecord();
    this.#records.set(slab, record);
    this.#allocated++;
    return { slab, record };
  }

  /** The allocator moved on from `pooled`: it is free once its values are all released. */
  retire(pooled: PooledSlab): void {
    pooled.record.current = false;
    this.#freeIfUnheld(pooled);
  }

  /** True when `source` is a slab of this pool (its values are counted). */
  tracks(source: Uint8Array): boolean {
    return this.#records.has(source);
  }

  /**
   * Sets the free list's bounds: at most `freeBytesMax` of slabs on it, of which at
   * most `heldBytesMax` (the newest) referenced strongly; past them, slabs are left to
   * V8 (dropped, or only weakly referenced). `owner` (a store's drop) is remembered
   * with its bounds until forget(owner).
   */
  bound(freeBytesMax: number, heldBytesMax: number, owner?: object): void {
    assert(freeBytesMax >= 0 && heldBytesMax >= 0, 'a free list bound is a byte count');
    if (owner !== undefined) {
      this.#removeOwner(owner);
      this.#owners.push({ owner: new WeakRef(owner), freeBytesMax, heldBytesMax });
    }
    this.#freeBytesMax = freeBytesMax;
    this.#heldBytesMax = Math.min(heldBytesMax, freeBytesMax);
    while (this.#free.length > 0 && this.#free.length * this.slabBytes > freeBytesMax) {
      const free = this.#free.shift()!;
      if (free.held !== undefined) this.#heldCount--;
      const slab = free.held ?? free.reference.deref();
      if (slab !== undefined) this.#records.get(slab)!.free = false;
      this.#dropped++;
    }
    for (let index = 0; index < this.#free.length && this.#heldCount * this.slabBytes > this.#heldBytesMax; index++) {
      if (this.#free[index]!.held === undefined) continue;
      this.#free[index]!.held = undefined;
      this.#heldCount--;
    }
  }

  /**
   * `owner` closed: the free list keeps to the bounds the newest drop of another open
   * owner gave (its slabs stay for it to reuse); with none left it is emptied (left to V8).
   */
  forget(owner: object): void {
    this.#removeOwner(owner);
    const newest = this.#owners.at(-1);
    if (newest === undefined) this.bound(0, 0);
    else this.bound(newest.freeBytesMax, newest.heldBytesMax);
  }

  /** Removes `owner`'s entry from #owners, and those of owners collected. */
  #removeOwner(owner: object): void {
    for (let index = this.#owners.length - 1; index >= 0; index--) {
      const found = this.#owners[index]!.owner.deref();
      if (found === undefined || found === owner) this.#owners.splice(index, 1);
    }
  }

  /**
   * One value of a dropped memtable that nothing can read any more: the value at
   * `start` of `source`. Values of slabs this pool did not make are ignored; a value
   * released twice counts once.
   */
  release(source: Uint8Array, start: number): void {
    const record = this.#records.get(source);
    if (record !== undefined) this.#releaseIn(source, record, start);
  }

  /**
   * A release function for one drop's walk (memory/slab-reuse.ts): as `release`, but it
   * remembers the last slab's record, so a run of values from one slab (a drop meets
   * them in arrival order, hundreds a slab) costs one WeakMap lookup, not one or two
   * each. Answers whether this pool tracks `source`. Holds the last slab only while the
   * walk keeps the function.
   */
  releaser(): (source: Uint8Array, start: number) => boolean {
    let lastSource: Uint8Array | undefined;
    let lastRecord: SlabRecord | undefined;
    return (source, start) => {
      if (source !== lastSource) {
        lastSource = source;
        lastRecord = this.#records.get(source);
      }
      if (lastRecord === undefined) return false;
      this.#releaseIn(source, lastRecord, start);
      return true;
    };
  }

  #releaseIn(source: Uint8Array, record: SlabRecord, start: number): void {
    const unit = start / MEMORY_BYTES_HEAP_ALIGNMENT;
    // Not counted (held for good) unless it is a carved value's start: counting errs toward keeping.
    if (!Number.isInteger(unit) || start < 0 || start >= source.length) return;
    const word = unit >>> 5;
    const bit = 1 << (unit & 31);
    const units = (record.releasedUnits ??= new Uint32Array(Math.ceil(this.slabBytes / MEMORY_BYTES_HEAP_ALIGNMENT / 32)));
    const bits = units[word]!;
    if ((bits & bit) !== 0) return;
    units[word] = bits | bit;
    record.released++;
    assert(record.released <= record.carved, 'no more values released than carved');
    if (record.released === record.carved) this.#freeIfUnheld({ slab: source as Uint8Array<ArrayBuffer>, record });
  }

  /** A value of `source` may be kept past its memtable (a watcher's buffer): the slab is never reused. */
  escape(source: Uint8Array): void {
    const record = this.#records.get(source);
    if (record !== undefined) record.escaped = true;
  }

  #freeIfUnheld(pooled: PooledSlab): void {
    const record = pooled.record;
    if (record.current || record.escaped || record.released !== record.carved) return;
    if ((this.#free.length + 1) * this.slabBytes > this.#freeBytesMax) {
      this.#dropped++;
      return;
    }
    assert(!record.free, 'a slab is on the free list once');
    record.free = true;
    const held = (this.#heldCount + 1) * this.slabBytes <= this.#heldBytesMax;
    if (held) this.#heldCount++;
    this.#free.push({ reference: new WeakRef(pooled.slab), held: held ? pooled.slab : undefined });
  }
}
