/**
 * Flush chunks: a sealed memtable's run entries packed into ArrayBuffers on the main
 * thread (FlushChunkPacker) and unpacked in the flush thread (unpackFlushChunk), so
 * the entries cross the message port by transfer, not by structured cloning, and a
 * large memtable crosses as a stream of chunks of about FLUSH_CHUNK_BYTES (never one
 * copy of all of it). Used by flush-thread.ts and flush-worker.ts.
 *
 * Entry layout, back to back, no padding (little endian):
 *
 *   u8  flags        bit 0: tombstone (no value follows); bit 1: same key as the
 *                    previous entry of the chunk (no key follows)
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
 */
import { Buffer } from 'node:buffer';
import { KEY_BYTES_MAX } from '../limits.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';

/** Bytes of one chunk: ~2,000 entries of a 100-byte value, a few ms of the thread's writing. */
export const FLUSH_CHUNK_BYTES = 256 * 1024;

const FLAG_TOMBSTONE = 1;
const FLAG_SAME_KEY = 2;
/** flags + version + key length + value length. */
const ENTRY_HEADER_BYTES_MAX = 1 + 8 + 2 + 4;

assert(KEY_BYTES_MAX <= 0xffff, 'a key length fits the u16 of a flush chunk entry');

/** One packed chunk, ready to be transferred. */
export interface FlushChunk {
  buffer: ArrayBuffer;
  byteLength: number;
  entryCount: number;
}

/** Packs entries into chunks; `add` copies the key chars and value bytes at once (the entry may be reused). */
export class FlushChunkPacker {
  #bytes: Uint8Array;
  #view: DataView;
  #position = 0;
  #entryCount = 0;
  #previousKey = '';

  constructor() {
    this.#bytes = new Uint8Array(FLUSH_CHUNK_BYTES);
    this.#view = new DataView(this.#bytes.buffer);
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
      // One entry larger than a chunk: a chunk of its own size.
      this.#bytes = new Uint8Array(needBytes);
      this.#view = new DataView(this.#bytes.buffer);
    }
    const bytes = this.#bytes;
    let position = this.#position;
    bytes[position++] = (value === undefined ? FLAG_TOMBSTONE : 0) | (sameKey ? FLAG_SAME_KEY : 0);
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

  /** The chunk packed so far (at least one entry); the packer starts a fresh one. */
  take(): FlushChunk {
    assert(this.#entryCount > 0, 'a flush chunk holds at least one entry');
    const chunk: FlushChunk = { buffer: this.#bytes.buffer as ArrayBuffer, byteLength: this.#position, entryCount: this.#entryCount };
    this.#bytes = new Uint8Array(FLUSH_CHUNK_BYTES);
    this.#view = new DataView(this.#bytes.buffer);
    this.#position = 0;
    this.#entryCount = 0;
    this.#previousKey = '';
    return chunk;
  }
}

/**
 * Buffer#latin1Slice: one char per byte into a flat one-byte string (as
 * src/codec/keys.ts makes internal keys from bytes).
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
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
      value = bytes.subarray(position, position + length);
      position += length;
    }
    entries[number] = { key, version, value };
  }
  assert(position === chunk.byteLength, 'a flush chunk holds whole entries and nothing else');
  return entries;
}
