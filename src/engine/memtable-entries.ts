/**
 * A sealed memtable's entries in run order, as a flush feeds them to the run writer
 * (in process) or packs them for the flush thread (flush-chunks.ts): key ascending,
 * version descending, a NOT_RETAINED marker where retention trimmed a chain.
 *
 * Invariants: the memtable is not applied to while its entries are read (asserted at
 * each key); one entry object is reused for every entry (see memtableEntries).
 */
import { encodeStored } from '../codec/values.js';
import type { MemoryIndex } from '../memory/memory-index.js';
import { spanLength, spanStart, type TailEntry } from '../memory/ascending-tail.js';
import { TOMBSTONE, VersionChain } from '../memory/version-chain.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { NOT_RETAINED_BYTE } from './resolve.js';

const NOT_RETAINED_VALUE = Uint8Array.of(NOT_RETAINED_BYTE);

/**
 * A sealed memtable's entries in run order: key ascending, version descending; a
 * chain trimmed by retention ends with a NOT_RETAINED marker at its first version
 * (see resolve.ts), so the run still knows older versions existed.
 *
 * One entry object and one iterator result are reused for every entry (a fresh
 * object per version, a tuple per key and a generator's results were a flush's
 * garbage): each `next()` overwrites what the previous one returned. The run
 * writer copies what it keeps (the key string, the encoded bytes) before asking for
 * the next entry. REQUIRES of a consumer: nothing of an entry but its key string
 * and value bytes is kept past the next `next()`.
 */
export function memtableEntries(index: MemoryIndex): IterableIterator<RunEntry> {
  return new MemtableEntries(index);
}

class MemtableEntries implements IterableIterator<RunEntry> {
  readonly #index: MemoryIndex;
  readonly #appliedVersion: number;
  readonly #keys: readonly string[];
  /** Each key's chain, or (a key of the ascending tail with none made) its one slot, written at #versions[i]. */
  readonly #entries: readonly TailEntry[];
  readonly #versions: readonly number[];
  /** Where an entry is a slab, its value's span (ascending-tail.ts slabSlot). */
  readonly #spans: readonly number[];
  /** Index of the key being read (-1 before the first). */
  #keyIndex = -1;
  /** The chain being read, undefined between keys. */
  #chain: VersionChain | undefined;
  /** Next chain position to yield, newest first; -1: the NOT_RETAINED marker is next, if any. */
  #position = -1;
  readonly #entry: RunEntry = { key: '', version: 0, value: undefined };
  readonly #result: IteratorYieldResult<RunEntry> = { done: false, value: this.#entry };

  constructor(index: MemoryIndex) {
    this.#index = index;
    this.#appliedVersion = index.appliedVersion;
    const { keys, entries, versions, spans } = index.orderedEntries();
    assert(keys.length === entries.length, 'one entry per key');
    this.#keys = keys;
    this.#entries = entries;
    this.#versions = versions;
    this.#spans = spans;
  }

  [Symbol.iterator](): IterableIterator<RunEntry> {
    return this;
  }

  next(): IteratorResult<RunEntry> {
    const entry = this.#entry;
    for (;;) {
      const chain = this.#chain;
      if (chain !== undefined) {
        const position = this.#position--;
        if (position >= 0) {
          const slot = chain.slotAt(position);
          entry.version = chain.versionAt(position);
          entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
          return this.#result;
        }
        this.#chain = undefined;
        if (chain.trimmedBelow !== 0 && chain.firstVersion < chain.versionAt(0)) {
          entry.version = chain.firstVersion;
          entry.value = NOT_RETAINED_VALUE;
          return this.#result;
        }
      }
      const keyIndex = ++this.#keyIndex;
      if (keyIndex >= this.#keys.length) return { done: true, value: undefined };
      assert(this.#index.appliedVersion === this.#appliedVersion, 'no apply while a flush reads the memtable');
      const next = this.#entries[keyIndex]!;
      entry.key = this.#keys[keyIndex]!;
      if (!(next instanceof VersionChain)) {
        // A key of a write-only ascending memtable: one version, no chain made (memory/ascending-tail.ts),
        // its value a slot or the bytes at its span of a slab (a view, as encodeStored gives).
        entry.version = this.#versions[keyIndex]!;
        if (next instanceof Uint8Array) {
          const span = this.#spans[keyIndex]!;
          entry.value = new Uint8Array(next.buffer, next.byteOffset + spanStart(span), spanLength(span));
        } else entry.value = next === TOMBSTONE ? undefined : encodeStored(next);
        return this.#result;
      }
      const length = next.length;
      if (length === 1 && next.trimmedBelow === 0) {
        // Most keys of a load: one version, nothing trimmed (read from the chain's own fields).
        const slot = next.newest;
        entry.version = next.newestVersion;
        entry.value = slot === TOMBSTONE ? undefined : encodeStored(slot);
        return this.#result;
      }
      this.#chain = next;
      this.#position = length - 1;
    }
  }
}
