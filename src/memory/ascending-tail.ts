/**
 * The ascending tail of a memtable (src/memory/memory-index.ts): the keys that arrived
 * above every key before them and are not in its Map yet. They are the last `length`
 * keys of the index's waiting keys (`keys` below, which the index owns), ascending;
 * the tail holds, index for index, each key's version and slot, or its VersionChain once
 * one was made for it.
 *
 * No chain is made for a tail key until something needs one: a point read of it, or a
 * flush asking for chains (orderedKeysAndChains); its move into the Map takes its entry
 * as it is into the Map's columns (key-entries.ts). A write-only
 * memtable of ascending keys is flushed from the versions and slots themselves
 * (MemoryIndex#orderedEntries): a VersionChain is a 48 B object per key that V8's
 * scavenger copied twice before promoting it (issue 12: main-thread CPU and garbage
 * collection of 64 sequential-key writers).
 *
 * A point read of a key in the tail finds it by binary search, and moves up to
 * TAIL_KEYS_MOVED_PER_READ keys from the tail's front into the Map first: a memtable
 * that is read pays the Map inserts the writes skipped, in bounded steps (0.4-0.6 µs a
 * key measured alone: 1,024 keys add about half a millisecond to one read), and its
 * reads are hash lookups again once the tail is gone (a binary search of a 100,000-key tail measured
 * 14-48% more CPU per get than the Map, 3 alternated runs, busy machine).
 *
 * A byte value carved from a slab (codec/value-slabs.ts) is not kept as its EncodedValue
 * either: the entry is the slab itself and its place in the slab is a number beside it
 * (`spans`, start and length in one small integer), and the EncodedValue is made again
 * when a chain is made or a flush reads the value. The commit's EncodedValue then dies
 * young: with the key string it was most of what every scavenge copied twice (into the
 * survivor space, then the old generation) per key of a sequential write load (issue 12:
 * scavenge pauses are the 64-writer p99).
 *
 * Invariants: the tail's keys ascend strictly and lie above every key of the Map, none
 * of them in it; keys move into the Map in key order, so its insertion order stays the
 * keys' order; a key's entry is its one version and slot (a slab entry standing for the
 * slot: the bytes at its span) until its chain is made, then that chain, the same object
 * every time (the entry is replaced in place, the only change ever made to arrays
 * handed out: the chain holds that same version and an equal slot; a key moved into the
 * Map keeps its entry here as it was, and a chain made there later is the columns'); a slab entry's span
 * is in the spans handed out with it, never in the shared empty NO_SPANS (a tail handed
 * out without spans takes no slab entry until it empties: push keeps the slot).
 */
import { EncodedValue } from '../codec/value-slabs.js';
import { assert } from '../util/assert.js';
import type { KeyEntries } from './key-entries.js';
import { VersionChain, type VersionSlot } from './version-chain.js';

/** Keys a point read in the tail moves into the Map before it looks (see the module header). */
export const TAIL_KEYS_MOVED_PER_READ = 1024;

/**
 * A tail key's entry: its one slot (its version beside it), the slab its one slot's bytes
 * lie in (a Uint8Array, never a slot itself: the bytes at its span, see slabSlot), or its
 * chain once one was made.
 */
export type TailEntry = VersionChain | VersionSlot | Uint8Array;

/** Every key of a tail that nothing moved yet: entry and version index for index with the keys. */
export interface TailEntries {
  entries: readonly TailEntry[];
  /** The version of each entry that is a slot or a slab (an entry that is a chain holds its own). */
  versions: readonly number[];
  /** The span of each entry that is a slab (spanStart, spanLength); anything at the others. */
  spans: readonly number[];
}

/** A span packs a slab value's start and length in one small integer: start * SPAN_LENGTH_LIMIT + length. */
const SPAN_LENGTH_LIMIT = 1 << 14;
/** Starts below this keep a span under 2^31, a small integer (no heap number, no double array). */
const SPAN_START_LIMIT = 1 << 17;

export function spanStart(span: number): number {
  return Math.floor(span / SPAN_LENGTH_LIMIT);
}

export function spanLength(span: number): number {
  return span % SPAN_LENGTH_LIMIT;
}

/** The slot a slab entry stands for: a new EncodedValue equal to the one applied (same slab, start, length). */
export function slabSlot(slab: Uint8Array, span: number): EncodedValue {
  return new EncodedValue(slab, spanStart(span), spanLength(span));
}

/**
 * The span a slab value is kept at instead of its EncodedValue (its slab the entry), or
 * -1 when it is kept as its slot (not in a slab, or too far or too long for a span).
 */
export function slabSpanOf(slot: VersionSlot): number {
  return slot instanceof EncodedValue && slot.inSlab && slot.start < SPAN_START_LIMIT && slot.length < SPAN_LENGTH_LIMIT ? slot.start * SPAN_LENGTH_LIMIT + slot.length : -1;
}

/** The spans of a tail with no slab entry. */
const NO_SPANS: readonly number[] = Object.freeze([]);

export class AscendingTail {
  /** The entries, [moved, length) still in the tail; [0, moved) already in the Map. */
  #entries: TailEntry[] = [];
  /**
   * The version of each entry that is still a slot, index for index with #entries; undefined
   * while the versions are #firstVersion + index (one key per commit, the common case of
   * concurrent sequential writers): no array grown by a push then.
   */
  #versions: number[] | undefined;
  /** The version of #entries[0] while #versions is undefined. */
  #firstVersion = 0;
  /** The span of each entry that is a slab, index for index with #entries (0 at the others); undefined until the first. */
  #spans: number[] | undefined;
  /**
   * True once entriesInOrder handed out the entries with NO_SPANS (no slab entry then):
   * a slab entry pushed after that would have its span in a new #spans the holder never
   * sees, so push keeps such a value as its slot (until the tail empties), as it keeps
   * the versions array handed out.
   */
  #handedOutWithoutSpans = false;
  #moved = 0;

  /** Keys in the tail. */
  get length(): number {
    return this.#entries.length - this.#moved;
  }

  /** A key above every key held joined `keys`, written at `version` with `slot`: it joins the tail, with no chain. */
  push(version: number, slot: VersionSlot): void {
    const count = this.#entries.length;
    const span = this.#handedOutWithoutSpans ? -1 : slabSpanOf(slot);
    if (span >= 0) {
      // Kept as its slab and span: the EncodedValue is left to die young (see the module header).
      this.#entries.push((slot as EncodedValue).source);
      (this.#spans ?? this.#spansArray(count)).push(span);
    } else {
      this.#entries.push(slot);
      this.#spans?.push(0);
    }
    if (this.#versions !== undefined) this.#versions.push(version);
    else if (count === 0) this.#firstVersion = version;
    else if (version !== this.#firstVersion + count) {
      // Not one key per version any more (a batch, a gap): from here each version is kept.
      const versions = this.#versionsArray(count);
      versions.push(version);
      this.#versions = versions;
    }
  }

  /** #spans, made at the first slab entry with a 0 for each of the `count` entries before it. */
  #spansArray(count: number): number[] {
    assert(!this.#handedOutWithoutSpans, 'no slab entry joins a tail whose entries were handed out without spans');
    const spans = new Array<number>(count).fill(0);
    this.#spans = spans;
    return spans;
  }

  /** The versions of the first `count` entries as an array (the one kept, or made from #firstVersion). */
  #versionsArray(count: number): number[] {
    if (this.#versions !== undefined) return this.#versions;
    const versions = new Array<number>(count);
    for (let index = 0; index < count; index++) versions[index] = this.#firstVersion + index;
    return versions;
  }

  /** The index of the tail's first key among `keys` (the waiting keys). */
  start(keys: readonly string[]): number {
    const start = keys.length - this.length;
    assert(start >= 0, 'the tail is the last of the waiting keys');
    return start;
  }

  /** The chain of `key` in the tail (made now if it had none), by binary search, or undefined. REQUIRES: `key` is not below the tail's first key. */
  find(keys: readonly string[], key: string): VersionChain | undefined {
    const position = this.#position(keys, key);
    return position < 0 ? undefined : this.#chainAt(position);
  }

  /** Whether `key` is in the tail, making no chain. REQUIRES: as find. */
  has(keys: readonly string[], key: string): boolean {
    return this.#position(keys, key) >= 0;
  }

  /** The index in #entries of `key`, by binary search, or -1. */
  #position(keys: readonly string[], key: string): number {
    const start = keys.length - this.length;
    let low = start;
    let high = keys.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = keys[middle]!;
      if (found < key) low = middle + 1;
      else if (found > key) high = middle - 1;
      else return this.#moved + middle - start;
    }
    return -1;
  }

  /** The chain of the entry at `position`, made from its version and slot the first time (then kept in its place). */
  #chainAt(position: number): VersionChain {
    const entry = this.#entries[position];
    if (entry instanceof VersionChain) return entry;
    const slot = entry instanceof Uint8Array ? slabSlot(entry, this.#spans![position]!) : entry!;
    const chain = new VersionChain(this.#versions === undefined ? this.#firstVersion + position : this.#versions[position]!, slot);
    this.#entries[position] = chain;
    return chain;
  }

  /**
   * Moves up to `count` keys from the tail's front into `map`, in key order (all of them
   * by default), each with its entry as it is (no chain made) pushed to `entries`, the
   * Map's columns (key-entries.ts), whose position the Map then holds (or the chain, when
   * one was made here).
   */
  moveInto(map: Map<string, number | VersionChain>, entries: KeyEntries, keys: readonly string[], count = Infinity): void {
    const start = this.start(keys);
    const moving = Math.min(count, this.length);
    const moved = this.#moved;
    const versions = this.#versions;
    const spans = this.#spans;
    for (let index = 0; index < moving; index++) {
      const position = moved + index;
      const entry = this.#entries[position]!;
      const version = entry instanceof VersionChain ? entry.firstVersion : versions === undefined ? this.#firstVersion + position : versions[position]!;
      const span = entry instanceof Uint8Array ? spans![position]! : 0;
      const pushed = entries.pushEntry(entry, version, span);
      map.set(keys[start + index]!, entry instanceof VersionChain ? entry : pushed);
    }
    this.#moved = moved + moving;
    if (this.#moved === this.#entries.length) {
      // Replaced, not emptied in place: a flush may hold the arrays (chainsInOrder, entriesInOrder).
      this.#entries = [];
      this.#versions = undefined;
      this.#spans = undefined;
      this.#handedOutWithoutSpans = false;
      this.#moved = 0;
    }
  }

  /** The entry, version and span of the unmoved key `index` (0: the tail's first key): as they are, no chain made. */
  entryAt(index: number): TailEntry {
    return this.#entries[this.#moved + index]!;
  }

  versionAt(index: number): number {
    const position = this.#moved + index;
    const entry = this.#entries[position];
    if (entry instanceof VersionChain) return entry.firstVersion;
    return this.#versions === undefined ? this.#firstVersion + position : this.#versions[position]!;
  }

  spanAt(index: number): number {
    const position = this.#moved + index;
    return this.#entries[position] instanceof Uint8Array ? this.#spans![position]! : 0;
  }

  /** The tail's chains in key order (each made now if it had none), in a new array. */
  chainsInOrder(): VersionChain[] {
    const chains = new Array<VersionChain>(this.length);
    for (let index = 0; index < chains.length; index++) chains[index] = this.#chainAt(this.#moved + index);
    return chains;
  }

  /**
   * The entries still in the tail, [start, entries.length) of `entries`, with their spans
   * (a slab entry's, at the same index), as they are; the caller must not change the arrays.
   */
  unmovedEntries(): { entries: readonly TailEntry[]; spans: readonly number[]; start: number } {
    return { entries: this.#entries, spans: this.#spans ?? NO_SPANS, start: this.#moved };
  }

  /**
   * The tail's entries and versions as they are, when nothing of it moved (else
   * undefined); the caller must not change the arrays.
   */
  entriesInOrder(): TailEntries | undefined {
    if (this.#moved !== 0) return undefined;
    // Kept from here on: a later push appends to it (a flush reads a sealed memtable, never pushed to).
    this.#versions = this.#versionsArray(this.#entries.length);
    // NO_SPANS only while no entry is a slab (#spans is made at the first): none read from it.
    if (this.#spans === undefined) this.#handedOutWithoutSpans = true;
    return { entries: this.#entries, versions: this.#versions, spans: this.#spans ?? NO_SPANS };
  }

  /** Debug check: the tail ascends above `mapGreatest` (the Map's greatest key, '' if empty), outside the Map. */
  verify(map: ReadonlyMap<string, number | VersionChain>, keys: readonly string[], mapGreatest: string): void {
    assert(this.#versions === undefined || this.#versions.length === this.#entries.length, 'a version beside every entry');
    assert(this.#spans === undefined || this.#spans.length === this.#entries.length, 'a span beside every entry');
    let previous = mapGreatest;
    for (let index = this.start(keys); index < keys.length; index++) {
      const key = keys[index]!;
      assert(key > previous && !map.has(key), 'the tail ascends above every key of the Map, outside it');
      previous = key;
    }
    for (let index = this.#moved; index < this.#entries.length; index++) {
      const entry = this.#entries[index];
      const version = this.#versions === undefined ? this.#firstVersion + index : this.#versions[index];
      if (entry instanceof VersionChain) assert(entry.newestVersion === version, 'a chain made for a tail key holds its version');
      if (entry instanceof Uint8Array) {
        const span = this.#spans?.[index];
        assert(span !== undefined, 'a slab entry has its span (never the shared empty NO_SPANS)');
        assert(spanStart(span) + spanLength(span) <= entry.length, 'a slab entry spans bytes of its slab');
      }
    }
  }
}
