/**
 * Encoded values in memory: EncodedValue, a range of a byte array holding one
 * value's msgpack encoding, and ValueSlabs, the shared arrays that byte values
 * written by a commit or kept at WAL replay are carved from (one small object per
 * value, no typed array or ArrayBuffer of its own).
 *
 * Invariants:
 * - An EncodedValue's range start..start+length lies inside its source and holds
 *   exactly one encoding; nobody writes into it once it is handed out (its slab
 *   range is reserved for it alone, 8-byte aligned).
 * - A slab lives as long as any value in it: values carved together (a commit's, a
 *   replay's) live in one memtable and leave it together. A commit slab is reused
 *   (slab-pool.ts) only once every value carved from it was released by the drop of a
 *   memtable no reader could reach (memory/slab-reuse.ts).
 */
import { Buffer } from 'node:buffer';
import { MEMORY_BYTES_HEAP_ALIGNMENT, REPLAY_VALUE_SLAB_BYTES } from '../limits.js';
import { assert } from '../util/assert.js';
import { type PooledSlab, SlabPool } from './slab-pool.js';

/**
 * Encoded bytes of a mutable value (object, array, Uint8Array, Date, ...): the range
 * start..start+length of `source`, which is either the encoding's own array (a
 * msgpackr encoding, a value read from a run) or, for a byte value written by a
 * commit or kept at replay, a slab shared with other values (ValueSlabs). A slab
 * value is one object of three fields (48 B) where a view of its own and this object
 * took 120 B: it lives in a memtable until the flush, so V8's scavenger copied those
 * bytes twice per put (issue 12).
 */
export class EncodedValue {
  readonly source: Uint8Array;
  readonly start: number;
  readonly length: number;
  constructor(source: Uint8Array, start = 0, length = source.length) {
    this.source = source;
    this.start = start;
    this.length = length;
  }

  /**
   * The encoding: `source` itself when it is exactly that, else a view of it made per
   * call (a slab is a plain Uint8Array: the constructor, not subarray, whose species
   * lookup took 2-6 times as long per view, measured; the WAL and a flush take one per value).
   */
  get bytes(): Uint8Array {
    const source = this.source;
    const start = this.start;
    const length = this.length;
    return start === 0 && length === source.length ? source : new Uint8Array(source.buffer, source.byteOffset + start, length);
  }

  /** True when the encoding lies in an array shared with other values (a slab). */
  get inSlab(): boolean {
    return this.length !== this.source.length;
  }
}

/**
 * The commit path's slabs (values.ts storedBytesValue): 64 KiB, and values up to an
 * eighth of that carved from them. At the replay size (8 KiB, over half a slab in an
 * array of its own) every 4 KiB put made an ArrayBuffer of its own, zeroed, then
 * tracked and swept by V8 one by one (issue 12: preparing a 4 KiB put took 1.9-3.0 us
 * of CPU, 1.3-2.0 us with these slabs, measured in a loop keeping 8,192 values). An eighth bounds the tail a slab leaves unused to 1/8 of it (6% for 4 KiB
 * values: 15 of them fill 61,560 B; the memory estimate charges each its share of the slab,
 * tail included, value-memory-size.ts). A slab lives as long as any value carved from it:
 * one memtable's values leave together, so at most one slab per seal spans two.
 */
export const COMMIT_VALUE_SLAB_BYTES = 64 * 1024;
export const COMMIT_VALUE_SLAB_VALUE_BYTES_MAX = COMMIT_VALUE_SLAB_BYTES / 8;

/**
 * The commit path's slabs, counted for reuse (slab-pool.ts): one pool for the process,
 * as the commit path's ValueSlabs is one (values.ts), shared by every open store.
 */
export const commitSlabPool = new SlabPool(COMMIT_VALUE_SLAB_BYTES);

/**
 * Copies of value bytes kept at WAL replay, carved from shared slabs of
 * REPLAY_VALUE_SLAB_BYTES (8-byte aligned; a value over half a slab gets its own
 * array), as the commit path's byte values are from slabs of COMMIT_VALUE_SLAB_BYTES:
 * one typed array per value and no ArrayBuffer of its own (Uint8Array#slice made one
 * per value, issue 7). A slab lives as long as any value in it: values replayed
 * together live in one memtable and leave it together.
 */
export class ValueSlabs {
  readonly #slabBytes: number;
  /** Values longer than this get an array of their own. */
  readonly #valueBytesMax: number;
  /** Where slabs come from and go back to once released (undefined: new arrays, left to V8). */
  readonly #pool: SlabPool | undefined;
  #slab = new Uint8Array(0);
  /** The current slab as the pool took it (undefined without a pool, or before the first). */
  #pooled: PooledSlab | undefined;
  #usedBytes = 0;

  constructor(slabBytes = REPLAY_VALUE_SLAB_BYTES, valueBytesMax = slabBytes / 2, pool?: SlabPool) {
    assert(Number.isSafeInteger(slabBytes) && slabBytes % MEMORY_BYTES_HEAP_ALIGNMENT === 0, 'a slab is a whole number of heap words');
    assert(valueBytesMax > 0 && valueBytesMax <= slabBytes, 'a carved value fits one slab');
    assert(pool === undefined || (pool.slabBytes === slabBytes && valueBytesMax < slabBytes), 'a pooled slab carves values shorter than itself');
    this.#slabBytes = slabBytes;
    this.#valueBytesMax = valueBytesMax;
    this.#pool = pool;
  }

  /**
   * A copy of bytes start..end of `source`, as a plain Uint8Array: for a byte value,
   * which reads decode through decodeBytes into a fresh array of the right type.
   */
  copy(source: Uint8Array, start: number, end: number): Uint8Array {
    return this.copyValue(source, start, end).bytes;
  }

  /** The same copy as an EncodedValue over the slab (no view of its own). */
  copyValue(source: Uint8Array, start: number, end: number): EncodedValue {
    const lengthBytes = end - start;
    assert(start >= 0 && lengthBytes >= 0 && end <= source.length, 'a value range lies inside its bytes');
    const stored = this.reserve(lengthBytes);
    stored.source.set(new Uint8Array(source.buffer, source.byteOffset + start, lengthBytes), stored.start);
    return stored;
  }

  /**
   * `lengthBytes` of a slab for the caller to fill, as the EncodedValue over them: in
   * the current slab (a new one when it has too little left), or in an array of its
   * own when longer than the constructor's `valueBytesMax` (half a slab by default).
   */
  reserve(lengthBytes: number): EncodedValue {
    if (lengthBytes > this.#valueBytesMax) return new EncodedValue(new Uint8Array(lengthBytes));
    if (this.#usedBytes + lengthBytes > this.#slab.length) this.#nextSlab();
    if (this.#pooled !== undefined) this.#pooled.record.carved++;
    const offset = this.#usedBytes;
    this.#usedBytes = Math.ceil((offset + lengthBytes) / MEMORY_BYTES_HEAP_ALIGNMENT) * MEMORY_BYTES_HEAP_ALIGNMENT;
    return new EncodedValue(this.#slab, offset, lengthBytes);
  }

  #nextSlab(): void {
    const pool = this.#pool;
    this.#usedBytes = 0;
    if (pool === undefined) {
      this.#slab = new Uint8Array(this.#slabBytes);
      return;
    }
    if (this.#pooled !== undefined) pool.retire(this.#pooled);
    this.#pooled = pool.take();
    this.#slab = this.#pooled.slab;
  }

  /**
   * The same copy as a Buffer, for an encoding msgpackr decodes: it returns a nested
   * bin as a slice of its source, so the source must be a Buffer (as the commit path's
   * encodings are) for a nested Buffer to read back as a Buffer.
   */
  copyAsBuffer(source: Uint8Array, start: number, end: number): Buffer {
    const copied = this.copy(source, start, end);
    return Buffer.from(copied.buffer, copied.byteOffset, copied.length);
  }
}
