/**
 * The flush thread's key order for a memtable packed in arrival order (flush-thread.ts,
 * memtableEntriesInArrivalOrder): the main thread walks a random memtable's keys in the
 * order they arrived, which reads its chains and values about in the order they were
 * allocated (the key-order walk read them all over memory: the largest main-thread
 * cost of 64 random-key writers, issue 12), and packs each key's entries together,
 * newest version first (flush-chunks.ts). The keys are cut into key ranges (slices of
 * the key order, which the main side sorts as a key-order flush does), sent one range
 * after the other; a range's last chunk comes with the range's key order: each key's
 * position in it, in the order packed. This side notes where each key's entries start
 * as chunks arrive (`add`), and once a range is complete hands the writer its entries
 * in run order (`batches`): key ascending, then the packed order within a key, which is
 * version descending with the NOT_RETAINED marker last. So the run's bytes are the
 * key-order flush's (test/flush-key-order.test.ts), and the writer starts on the first
 * range while the main thread packs the next.
 *
 * A key's entries may straddle two chunks of a range (the next chunk's first entry
 * carries the key again, flagged FLAG_KEY_CONTINUED): they are one group, read on across
 * the chunk boundary; a range ends with a chunk of its own. REQUIRES: each key's
 * entries packed together, each key once, in one range; ranges in key order; the
 * order handed to `batches` a permutation of the range's keys (asserted; writeRun
 * asserts the resulting key order).
 * Memory: the chunks of the ranges not yet written (off the heap).
 */
import type { RunEntry } from '../run/run-descriptor.js';
import { sortedKeyOrder } from '../memory/key-sort.js';
import { assert } from '../util/assert.js';
import { FLAG_KEY_CONTINUED, FLAG_SAME_KEY, FLAG_TOMBSTONE, type FlushChunk, latin1Slice } from './flush-chunks.js';

/** Entries per batch handed to the writer (about one chunk's worth of 100-byte values; bounds the thread's entry objects). */
export const KEY_ORDER_BATCH_ENTRIES = 2048;

/** A growable Int32Array column. */
function grown(array: Int32Array<ArrayBuffer>, length: number): Int32Array<ArrayBuffer> {
  if (length < array.length) return array;
  const next = new Int32Array(array.length * 2);
  next.set(array);
  return next;
}

/** One key range's chunks and key groups: each group's first entry (chunk, byte position) and entry count. */
export class KeyRangeChunks {
  readonly chunks: FlushChunk[] = [];
  readonly #bytes: Uint8Array[] = [];
  readonly #views: DataView[] = [];
  #groups = 0;
  #groupChunk = new Int32Array(256);
  #groupPosition = new Int32Array(256);
  #groupEntries = new Int32Array(256);

  /** Keeps `chunk` and notes the key groups that start in it. */
  add(chunk: FlushChunk): void {
    const chunkIndex = this.#bytes.length;
    const bytes = new Uint8Array(chunk.buffer, 0, chunk.byteLength);
    const view = new DataView(chunk.buffer, 0, chunk.byteLength);
    this.chunks.push(chunk);
    this.#bytes.push(bytes);
    this.#views.push(view);
    let groups = this.#groups;
    let position = 0;
    for (let number = 0; number < chunk.entryCount; number++) {
      const start = position;
      const flags = bytes[position]!;
      position += 9;
      if ((flags & FLAG_SAME_KEY) === 0) {
        position += 2 + (bytes[position]! | (bytes[position + 1]! << 8));
        // A chunk's first entry carries its key even when it goes on with the last chunk's key.
        if ((flags & FLAG_KEY_CONTINUED) === 0) {
          this.#groupChunk = grown(this.#groupChunk, groups);
          this.#groupPosition = grown(this.#groupPosition, groups);
          this.#groupEntries = grown(this.#groupEntries, groups);
          this.#groupChunk[groups] = chunkIndex;
          this.#groupPosition[groups] = start;
          this.#groupEntries[groups] = 0;
          groups++;
        } else {
          assert(number === 0 && groups > 0, "only a chunk's first entry goes on with the last chunk's key");
        }
      } else {
        assert(number > 0, "a chunk's first entry carries its key");
      }
      this.#groupEntries[groups - 1]!++;
      if ((flags & FLAG_TOMBSTONE) === 0) position += 4 + view.getUint32(position, true);
    }
    assert(position === chunk.byteLength, 'a flush chunk holds whole entries and nothing else');
    this.#groups = groups;
  }

  /**
   * Of each key packed in the range, in the order packed, its position in the range's key
   * order: the keys (one string each, read from its group's first entry, which carries it)
   * sorted here, in the thread (memory/key-sort.ts), not by the main thread in the seal
   * (memtable-entries.ts memtableEntriesInArrivalOrder). REQUIRES: the range complete.
   */
  keyOrder(): Uint32Array {
    const groups = this.#groups;
    const keys = new Array<string>(groups);
    for (let group = 0; group < groups; group++) {
      const bytes = this.#bytes[this.#groupChunk[group]!]!;
      const start = this.#groupPosition[group]! + 9; // flags, version
      assert((bytes[start - 9]! & FLAG_SAME_KEY) === 0, "a key group's first entry carries its key");
      const length = bytes[start]! | (bytes[start + 1]! << 8);
      keys[group] = latin1Slice.call(bytes, start + 2, start + 2 + length);
    }
    const sorted = sortedKeyOrder(keys); // key position -> group
    const positions = new Uint32Array(groups);
    for (let position = 0; position < groups; position++) positions[sorted[position]!] = position;
    return positions;
  }

  /**
   * The range's entries in run order, in batches of KEY_ORDER_BATCH_ENTRIES (the last
   * one fewer); a key's entries may go on in the next batch, as a chunk boundary splits
   * them in key order: a batch of whole keys held all of a key's versions at once, and
   * the 500,000 versions of one key (a counter) exhausted the thread's heap bound
   * (test/review-flush-arrival-order.test.ts). Values are views into the chunks (kept
   * until the writer asks for the batch after the last). `keyOrder[g]`: the position of
   * the g-th key packed in the range's key order.
   */
  *batches(keyOrder: Uint32Array): Generator<RunEntry[]> {
    const groups = this.#groups;
    assert(keyOrder.length === groups, "a range's key order has one position per key packed");
    const byPosition = new Int32Array(groups).fill(-1);
    for (let group = 0; group < groups; group++) {
      const position = keyOrder[group]!;
      assert(position < groups && byPosition[position] === -1, "a range's key order is a permutation");
      byPosition[position] = group;
    }
    let batch: RunEntry[] = [];
    for (let index = 0; index < groups; index++) {
      const group = byPosition[index]!;
      let chunk = this.#groupChunk[group]!;
      let position = this.#groupPosition[group]!;
      let bytes = this.#bytes[chunk]!;
      let view = this.#views[chunk]!;
      let key: string | undefined;
      for (let count = this.#groupEntries[group]!; count > 0; count--) {
        if (position === bytes.length) {
          chunk++;
          position = 0;
          bytes = this.#bytes[chunk]!;
          view = this.#views[chunk]!;
        }
        const flags = bytes[position++]!;
        const version = view.getFloat64(position, true);
        position += 8;
        if ((flags & FLAG_SAME_KEY) === 0) {
          const length = bytes[position]! | (bytes[position + 1]! << 8);
          position += 2;
          // One string per key (a straddling key's second chunk carries the same bytes).
          if (key === undefined) key = latin1Slice.call(bytes, position, position + length);
          position += length;
        }
        let value: Uint8Array | undefined;
        if ((flags & FLAG_TOMBSTONE) === 0) {
          const length = view.getUint32(position, true);
          position += 4;
          value = new Uint8Array(bytes.buffer, position, length); // not subarray: its species lookup costs more per view
          position += length;
        }
        batch.push({ key: key!, version, value });
        if (batch.length === KEY_ORDER_BATCH_ENTRIES) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  }
}
