/**
 * Flush chunks: a sealed memtable's run entries packed into ArrayBuffers on the main
 * thread (FlushChunkPacker) and unpacked in the flush thread (unpackFlushChunk), so
 * the entries cross the message port by transfer, not by structured cloning, and a
 * large memtable crosses as a stream of chunks of about FLUSH_CHUNK_BYTES (in key
 * order never one copy of all of it; a memtable sent in arrival order may be, up to
 * FLUSH_ARRIVAL_ORDER_BYTES_MAX: flush-key-order.ts). Used by flush-thread.ts and
 * flush-worker.ts.
 *
 * Entry layout, back to back, no padding (little endian):
 *
 *   u8  flags        bit 0: tombstone (no value follows); bit 1: same key as the
 *                    previous entry of the chunk (no key follows); bit 2: a chunk's
 *                    first entry, same key as the previous chunk's last (its key
 *                    follows all the same; flush-key-order.ts reads it)
 *   f64 version      a safe integer (VERSION_MAX fits a double exactly)
 *   u16 keyLength    unless same key; then keyLength bytes, one per key char
 *                    (an internal key's chars are all below 256: src/codec/keys.ts)
 *   u32 valueLength  unless tombstone; then the value's encoded bytes
 *
 * Invariants: a chunk holds whole entries, at least one; unpacking a chunk gives
 * exactly the (key, version, value) sequence packed into it (test/flush-thread.test.ts
 * compares the run files byte for byte); a chunk's first entry always carries its key
 * (chunks are unpacked independently). A chunk is FLUSH_CHUNK_BYTES unless one entry
 * needs more (a value near RUN_BLOCK_BYTES_MAX): then it is that entry's size.
 *
 * Chunk buffers are recycled (issue 7): the packer takes each FLUSH_CHUNK_BYTES buffer
 * from its `newBuffer` source, and the flush thread hands a consumed chunk's buffer back
 * (flush-worker.ts, transferred with 'consumed') for the main side to pack again
 * (flush-thread.ts). A chunk's bytes past its byteLength are never read, so a reused
 * buffer needs no clearing. Without it every chunk was a fresh 256 KiB ArrayBuffer whose
 * memory the thread freed only at its next garbage collection: 19-24 MiB of the flush
 * thread's ArrayBuffers at a 200k-key load's peak (bench/large/memory-breakdown.ts).
 */
import { Buffer } from 'node:buffer';
import { KEY_BYTES_MAX } from '../limits.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';

/** Bytes of one chunk: ~2,000 entries of a 100-byte value, a few ms of the thread's writing. */
export const FLUSH_CHUNK_BYTES = 256 * 1024;

/**
 * Chunks sent to the thread and not yet consumed by its writer (a key-order flush): bounds
 * the memory in transit; also the most chunk buffers kept for reuse (flush-thread.ts).
 */
export const FLUSH_CHUNKS_IN_FLIGHT = 8;

/** Entry flags (the layout above; flush-key-order.ts reads entries too). */
export const FLAG_TOMBSTONE = 1;
export const FLAG_SAME_KEY = 2;
export const FLAG_KEY_CONTINUED = 4;
/** flags + version + key length + value length. */
const ENTRY_HEADER_BYTES_MAX = 1 + 8 + 2 + 4;

assert(KEY_BYTES_MAX <= 0xffff, 'a key length fits the u16 of a flush chunk entry');

/** One packed chunk, ready to be transferred. */
export interface FlushChunk {
  buffer: ArrayBuffer;
  byteLength: number;
  entryCount: number;
}

/** The packer's bytes between chunks: no room, so the next add takes a buffer. */
const NO_CHUNK = new Uint8Array(0);
const NO_CHUNK_VIEW = new DataView(NO_CHUNK.buffer);

/** A fresh chunk buffer (FlushChunkPacker's default source). */
export const newFlushChunkBuffer = (): ArrayBuffer => new ArrayBuffer(FLUSH_CHUNK_BYTES);

/**
 * Packs entries into chunks; `add` copies the key chars and value bytes at once (the
 * entry may be reused). Each chunk of FLUSH_CHUNK_BYTES is packed into a buffer from
 * `newBuffer` (a fresh one, or one handed back by the flush thread: its old bytes may
 * still be there).
 */
export class FlushChunkPacker {
  readonly #newBuffer: () => ArrayBuffer;
  #bytes: Uint8Array;
  #view: DataView;
  #position = 0;
  #entryCount = 0;
  #previousKey = '';
  /** The last key of the chunk taken last ('' before the first). */
  #previousChunkKey = '';

  constructor(newBuffer: () => ArrayBuffer = newFlushChunkBuffer) {
    this.#newBuffer = newBuffer;
    this.#bytes = NO_CHUNK;
    this.#view = NO_CHUNK_VIEW;
  }

  #chunkBytes(): Uint8Array {
    const buffer = this.#newBuffer();
    assert(buffer.byteLength === FLUSH_CHUNK_BYTES, 'a chunk buffer is FLUSH_CHUNK_BYTES (a detached one is 0)');
    return new Uint8Array(buffer);
  }

  get entryCount(): number {
    return this.#entryCount;
  }

  /** Adds `entry` if it fits the chunk; false when it does not (take() the chunk, then add it again). */
  add(entry: RunEntry): boolean {
    const key = entry.key;
    const value = entry.value;
    const sameKey = this.#entryCount > 0 && key === this.#previousKey;
    const needBytes = ENTRY_HEADER_BYTES_MAX + (sameKey ? 0 : key.length) + (value === undefined ? 0 : value.length);
    if (this.#position + needBytes > this.#bytes.length) {
      if (this.#entryCount > 0) return false;
      // A chunk's first entry: its buffer now (a chunk taken last leaves none to drop), of
      // the entry's own size when one entry is larger than a chunk.
      this.#bytes = needBytes > FLUSH_CHUNK_BYTES ? new Uint8Array(needBytes) : this.#chunkBytes();
      this.#view = new DataView(this.#bytes.buffer);
    }
    const bytes = this.#bytes;
    let position = this.#position;
    const continued = this.#entryCount === 0 && key === this.#previousChunkKey;
    bytes[position++] = (value === undefined ? FLAG_TOMBSTONE : 0) | (sameKey ? FLAG_SAME_KEY : 0) | (continued ? FLAG_KEY_CONTINUED : 0);
    this.#view.setFloat64(position, entry.version, true);
    position += 8;
    if (!sameKey) {
      const length = key.length;
      assert(length > 0 && length <= KEY_BYTES_MAX, 'a flushed key is an internal key');
      bytes[position++] = length & 0xff;
      bytes[position++] = length >>> 8;
      let above = 0;
      for (let index = 0; index < length; index++) {
        const char = key.charCodeAt(index);
        above |= char;
        bytes[position++] = char;
      }
      if (above > 0xff) assert(false, 'an internal key has one char per byte');
      this.#previousKey = key;
    }
    if (value !== undefined) {
      this.#view.setUint32(position, value.length, true);
      position += 4;
      bytes.set(value, position);
      position += value.length;
    }
    this.#position = position;
    this.#entryCount++;
    return true;
  }

  /** The chunk packed so far (at least one entry); the next add starts a fresh one. */
  take(): FlushChunk {
    assert(this.#entryCount > 0, 'a flush chunk holds at least one entry');
    const chunk: FlushChunk = { buffer: this.#bytes.buffer as ArrayBuffer, byteLength: this.#position, entryCount: this.#entryCount };
    this.#bytes = NO_CHUNK;
    this.#view = NO_CHUNK_VIEW;
    this.#position = 0;
    this.#entryCount = 0;
    this.#previousChunkKey = this.#previousKey;
    this.#previousKey = '';
    return chunk;
  }
}

/**
 * Buffer#latin1Slice: one char per byte into a flat one-byte string (as
 * src/codec/keys.ts makes internal keys from bytes).
 */
export const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
assert(typeof latin1Slice === 'function', 'Buffer#latin1Slice exists');

/** The entries of `chunk` in order; values are views into the chunk's buffer (not copied). */
export function unpackFlushChunk(chunk: FlushChunk): RunEntry[] {
  const bytes = new Uint8Array(chunk.buffer, 0, chunk.byteLength);
  const view = new DataView(chunk.buffer, 0, chunk.byteLength);
  const entries: RunEntry[] = new Array<RunEntry>(chunk.entryCount);
  let position = 0;
  let key = '';
  for (let number = 0; number < chunk.entryCount; number++) {
    const flags = bytes[position++]!;
    const version = view.getFloat64(position, true);
    position += 8;
    if ((flags & FLAG_SAME_KEY) === 0) {
      const length = bytes[position]! | (bytes[position + 1]! << 8);
      position += 2;
      key = latin1Slice.call(bytes, position, position + length);
      position += length;
    } else {
      assert(number > 0, "a chunk's first entry carries its key");
    }
    let value: Uint8Array | undefined;
    if ((flags & FLAG_TOMBSTONE) === 0) {
      const length = view.getUint32(position, true);
      position += 4;
      // The constructor, not subarray, whose species lookup costs more per view (codec/value-slabs.ts;
      // flush-key-order.ts unpacks a random-key memtable's values so already).
      value = new Uint8Array(chunk.buffer, position, length);
      position += length;
    }
    entries[number] = { key, version, value };
  }
  assert(position === chunk.byteLength, 'a flush chunk holds whole entries and nothing else');
  return entries;
}
