/**
 * The entries of a memtable's Map keys (src/memory/memory-index.ts), held in flat
 * columns beside the Map, which maps each key to its position here: the key's one
 * version and slot while it has one (a byte value carved from a slab kept as the slab
 * and its span, as the ascending tail keeps it: ascending-tail.ts), or its VersionChain
 * once one was made (its second version, a point read of it, a scan's tree, a flush
 * asking for chains).
 *
 * Why: a random key's VersionChain (48 B) and its value's EncodedValue (48 B) were two
 * of the four objects per key a load kept until the flush (the Map entry, the chain,
 * the EncodedValue, the key string), each copied twice by V8's scavenger before it was
 * promoted, then old-generation garbage after the flush (docs/PERFORMANCE.md). Here a
 * key with one version costs three array slots (version, entry, span: 24 B, in arrays
 * that grow by doubling and, once large, live outside the young generation) and no
 * object of its own.
 *
 * The Map holds a key's position until its chain is made, then the chain itself (a read
 * of a key with a chain is one lookup, as before).
 *
 * Invariants: the three columns have equal length; positions are handed out in push
 * order, which is the Map's insertion order (a key is pushed when it enters the Map,
 * and no key ever leaves either); an entry is its one version's slot (or a slab, its
 * span beside it; 0 beside any other entry) until its chain is made, then that chain,
 * the same object every time (replaced in place, the only change to a column); a
 * chain made here holds the entry's version and an equal slot, so a holder of the
 * columns (a flush) reads the same history either way.
 */
import { assert } from '../util/assert.js';
import { type AscendingTail, slabSlot, slabSpanOf, spanLength, spanStart, type TailEntry } from './ascending-tail.js';
import { VersionChain, type VersionSlot } from './version-chain.js';
import type { OrderedEntries } from './waiting-order.js';

/**
 * The entries, versions and spans of `columns` followed by those of the keys still in
 * `tail` (in its order, no chain made): new arrays, or the columns themselves when the
 * tail is empty (the caller must not change them). Index for index with the Map's keys
 * in insertion order followed by the tail's keys.
 */
export function entriesWithTail(columns: KeyEntries, tail: AscendingTail): Omit<OrderedEntries, 'keys'> {
  if (tail.length === 0) return { entries: columns.entries, versions: columns.versions, spans: columns.spans };
  const entries = columns.entries.slice();
  const versions = columns.versions.slice();
  const spans = columns.spans.slice();
  for (let at = 0; at < tail.length; at++) {
    entries.push(tail.entryAt(at));
    versions.push(tail.versionAt(at));
    spans.push(tail.spanAt(at));
  }
  return { entries, versions, spans };
}

/**
 * MemoryIndex#arrivalOrderWalk: every entry of `columns` (the Map's insertion order), then
 * those still in `tail`, with their spans, `count` more per call; true once all were visited.
 */
export function arrivalOrderWalk(columns: KeyEntries, tail: AscendingTail): (visit: (entry: TailEntry, span: number) => void, count: number) => boolean {
  let unmoved: { entries: readonly TailEntry[]; spans: readonly number[]; start: number } | undefined;
  let index = 0;
  return (visit, count) => {
    let left = count;
    if (unmoved === undefined) {
      const { entries, spans } = columns;
      const end = Math.min(entries.length, index + left);
      left -= end - index;
      for (; index < end; index++) visit(entries[index]!, spans[index]!);
      if (index < entries.length) return false;
      unmoved = tail.unmovedEntries();
      index = unmoved.start;
      if (left <= 0) return false;
    }
    const { entries, spans } = unmoved;
    const end = Math.min(entries.length, index + left);
    for (; index < end; index++) {
      const entry = entries[index]!;
      let span = spans[index];
      if (span === undefined) {
        // Only a tail with no slab entry hands out no spans (NO_SPANS): a slab entry's
        // span is always beside it (ascending-tail.ts), and the others' is not read.
        assert(!(entry instanceof Uint8Array), 'a slab entry of the tail has its span');
        span = 0;
      }
      visit(entry, span);
    }
    return index >= entries.length;
  };
}

export class KeyEntries {
  readonly #entries: TailEntry[] = [];
  readonly #versions: number[] = [];
  readonly #spans: number[] = [];

  get length(): number {
    return this.#entries.length;
  }

  /** The columns as they are (the caller must not change them; they grow at a push). */
  get entries(): readonly TailEntry[] {
    return this.#entries;
  }

  get versions(): readonly number[] {
    return this.#versions;
  }

  get spans(): readonly number[] {
    return this.#spans;
  }

  /** A key entering the Map with one version: its position (a slab value is kept as slab and span). */
  push(version: number, slot: VersionSlot): number {
    const span = slabSpanOf(slot);
    return span < 0 ? this.pushEntry(slot, version, 0) : this.pushEntry((slot as { source: Uint8Array }).source, version, span);
  }

  /** A key entering the Map with its entry as the ascending tail held it (a slot, a slab and span, or a chain). */
  pushEntry(entry: TailEntry, version: number, span: number): number {
    const position = this.#entries.length;
    this.#entries.push(entry);
    this.#versions.push(version);
    this.#spans.push(span);
    return position;
  }

  /** The entry at `position` as it is: a chain, a slot or a slab (its span at spanAt). */
  entryAt(position: number): TailEntry {
    return this.#entries[position]!;
  }

  /** The chain at `position`, made from its version and slot the first time (then kept in its place). */
  chainAt(position: number): VersionChain {
    const entry = this.#entries[position]!;
    if (entry instanceof VersionChain) return entry;
    const slot = entry instanceof Uint8Array ? slabSlot(entry, this.#spans[position]!) : entry;
    const chain = new VersionChain(this.#versions[position]!, slot);
    this.#entries[position] = chain;
    return chain;
  }

  /** Debug check: columns of equal length, a slab entry's span within its slab. */
  verify(): void {
    assert(this.#versions.length === this.#entries.length && this.#spans.length === this.#entries.length, 'three columns of equal length');
    for (let position = 0; position < this.#entries.length; position++) {
      const entry = this.#entries[position];
      if (entry instanceof VersionChain) assert(entry.firstVersion === this.#versions[position], 'a chain made here holds its version');
      if (entry instanceof Uint8Array) {
        const span = this.#spans[position]!;
        assert(spanStart(span) + spanLength(span) <= entry.length, 'a slab entry spans bytes of its slab');
      }
    }
  }
}
