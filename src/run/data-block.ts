/**
 * Data blocks of a run file (docs/FORMAT.md, "Data block"): the entry encoding, the
 * builder the writer packs entries into, and the decoded form the reader caches.
 *
 * Entry: u16 key length (0 = the same key as the previous entry of this block; never
 * 0 for a block's first entry), key bytes, u8 kind (1 put, 2 delete), u64 version,
 * then for a put u32 value length and the value bytes.
 *
 * Invariants: entries in a block are ordered by key ascending, then version
 * descending; a decoded block holds offsets into its bytes, never copies of values,
 * so decoding a block costs one pass over the entry headers (values are skipped by
 * length) and a lookup is a binary search over the decoded keys.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { readUint64, writeUint64 } from '../wal/wal-format.js';
import {
  blockPages,
  RUN_BLOCK_HEADER_BYTES,
  RUN_ENTRY_DELETE,
  RUN_ENTRY_FIXED_BYTES,
  RUN_ENTRY_PUT,
  RUN_ENTRY_VALUE_LENGTH_BYTES,
  RUN_PAGE_BYTES,
} from './run-format.js';
import type { RunEntry } from './run-descriptor.js';

/**
 * Estimated heap bytes a decoded block costs beyond its block bytes and per-entry
 * arrays (the object, four typed arrays and their ArrayBuffers, the keys array),
 * measured with test/run-memory.test.ts.
 */
export const DECODED_BLOCK_OVERHEAD_BYTES = 800;
/** Per entry: versions f64 + value offset i32 + value length u32 + a keys slot. */
export const DECODED_BLOCK_BYTES_PER_ENTRY = 8 + 4 + 4 + 8;
/** Per distinct key string in a block: V8's string header (latin1 strings store one byte per char). */
export const DECODED_BLOCK_BYTES_PER_KEY = 24;

/** Bytes `entry` takes in a block. */
export function encodedEntryBytes(entry: RunEntry, sameKeyAsPrevious: boolean): number {
  const keyBytes = sameKeyAsPrevious ? 0 : entry.key.length;
  const valueBytes = entry.value === undefined ? 0 : RUN_ENTRY_VALUE_LENGTH_BYTES + entry.value.length;
  return RUN_ENTRY_FIXED_BYTES + keyBytes + valueBytes;
}

/** Packs entries into one block of whole pages; the writer seals and ships it, then calls reset(). */
export class DataBlockBuilder {
  /** Usual block size (whole pages): one page for plain runs, more for compressed ones. */
  readonly #targetBytes: number;
  #buffer: Buffer;
  #capacityBytes: number;
  #position = RUN_BLOCK_HEADER_BYTES;
  #entryCount = 0;
  #lastKey: string | undefined;

  constructor(targetBytes = RUN_PAGE_BYTES) {
    assert(targetBytes >= RUN_PAGE_BYTES && targetBytes % RUN_PAGE_BYTES === 0, 'block target is whole pages');
    this.#targetBytes = targetBytes;
    this.#buffer = Buffer.alloc(targetBytes);
    this.#capacityBytes = targetBytes;
  }

  get entryCount(): number {
    return this.#entryCount;
  }
  get payloadBytes(): number {
    return this.#position - RUN_BLOCK_HEADER_BYTES;
  }
  get lastKey(): string | undefined {
    return this.#lastKey;
  }

  /** Adds the entry if it fits (an empty block grows to as many pages as the entry needs); false if the block is full. */
  tryAdd(entry: RunEntry): boolean {
    const sameKey = entry.key === this.#lastKey;
    const sizeBytes = encodedEntryBytes(entry, sameKey);
    if (this.#position + sizeBytes > this.#capacityBytes) {
      if (this.#entryCount > 0) return false;
      this.#capacityBytes = blockPages(sizeBytes) * RUN_PAGE_BYTES;
      if (this.#buffer.length < this.#capacityBytes) this.#buffer = Buffer.alloc(this.#capacityBytes);
    }
    this.#writeEntry(entry, sameKey);
    return true;
  }

  #writeEntry(entry: RunEntry, sameKey: boolean): void {
    const buffer = this.#buffer;
    let position = this.#position;
    buffer.writeUInt16LE(sameKey ? 0 : entry.key.length, position);
    position += 2;
    if (!sameKey) position += buffer.write(entry.key, position, 'latin1');
    buffer[position++] = entry.value === undefined ? RUN_ENTRY_DELETE : RUN_ENTRY_PUT;
    writeUint64(buffer, entry.version, position);
    position += 8;
    if (entry.value !== undefined) {
      buffer.writeUInt32LE(entry.value.length, position);
      position += RUN_ENTRY_VALUE_LENGTH_BYTES;
      buffer.set(entry.value, position);
      position += entry.value.length;
    }
    assert(position <= this.#capacityBytes, 'entry stays inside its block');
    this.#position = position;
    this.#entryCount++;
    this.#lastKey = entry.key;
  }

  /** The block (whole pages, padding zeroed) for the writer to seal; valid until reset(). */
  block(): Buffer {
    assert(this.#entryCount > 0, 'a data block holds at least one entry');
    const block = this.#buffer.subarray(0, this.#capacityBytes);
    block.fill(0, this.#position);
    return block;
  }

  reset(): void {
    if (this.#buffer.length > this.#targetBytes) this.#buffer = Buffer.alloc(this.#targetBytes);
    this.#capacityBytes = this.#targetBytes;
    this.#position = RUN_BLOCK_HEADER_BYTES;
    this.#entryCount = 0;
    this.#lastKey = undefined;
  }
}

/** A checked, decoded data block: what the block cache holds. */
export class DecodedBlock {
  readonly keys: string[];
  readonly versions: Float64Array;
  /** Offset of each value in `bytes`, or -1 for a tombstone. */
  readonly valueOffsets: Int32Array;
  readonly valueLengths: Uint32Array;
  readonly bytes: Buffer;
  /** What this block costs in memory, as the cache counts it. */
  readonly sizeBytes: number;

  constructor(keys: string[], versions: Float64Array, valueOffsets: Int32Array, valueLengths: Uint32Array, bytes: Buffer, distinctKeyBytes: number) {
    this.keys = keys;
    this.versions = versions;
    this.valueOffsets = valueOffsets;
    this.valueLengths = valueLengths;
    this.bytes = bytes;
    this.sizeBytes = DECODED_BLOCK_OVERHEAD_BYTES + bytes.length + keys.length * DECODED_BLOCK_BYTES_PER_ENTRY + distinctKeyBytes;
  }

  get count(): number {
    return this.keys.length;
  }

  /** The entry at `index`; its value is a view into this block's bytes. */
  entry(index: number): RunEntry {
    const key = this.keys[index];
    const version = this.versions[index];
    const valueOffset = this.valueOffsets[index];
    assert(key !== undefined && version !== undefined && valueOffset !== undefined, 'entry index inside the block');
    const value = valueOffset < 0 ? undefined : this.bytes.subarray(valueOffset, valueOffset + (this.valueLengths[index] ?? 0));
    return { key, version, value };
  }

  /** First index whose key is >= `key` (count if none). */
  lowerBound(key: string): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.keys[middle] as string) < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** First index whose key is > `key` (count if none). */
  upperBound(key: string): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.keys[middle] as string) <= key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/**
 * Decodes a block whose checksum has been checked. The structure is still checked
 * (a writer bug must not become wrong data): CorruptionError naming file and offset.
 */
export function decodeDataBlock(file: string, offset: number, bytes: Buffer, payloadBytes: number, entryCount: number): DecodedBlock {
  const corrupt = (reason: string) => new CorruptionError(file, offset, `data block: ${reason}`);
  if (entryCount === 0) throw corrupt('no entries');
  const keys = new Array<string>(entryCount);
  const versions = new Float64Array(entryCount);
  const valueOffsets = new Int32Array(entryCount);
  const valueLengths = new Uint32Array(entryCount);
  const end = RUN_BLOCK_HEADER_BYTES + payloadBytes;
  let position = RUN_BLOCK_HEADER_BYTES;
  let previousKey: string | undefined;
  let previousVersion = 0;
  let distinctKeyBytes = 0;
  for (let index = 0; index < entryCount; index++) {
    if (position + RUN_ENTRY_FIXED_BYTES > end) throw corrupt('entry header past the payload');
    const keyLength = bytes.readUInt16LE(position);
    position += 2;
    let key: string;
    if (keyLength === 0) {
      if (previousKey === undefined) throw corrupt('first entry repeats a previous key');
      key = previousKey;
    } else {
      if (keyLength > KEY_BYTES_MAX || position + keyLength + RUN_ENTRY_FIXED_BYTES - 2 > end) throw corrupt('bad key length');
      key = bytes.toString('latin1', position, position + keyLength);
      position += keyLength;
      distinctKeyBytes += DECODED_BLOCK_BYTES_PER_KEY + keyLength;
    }
    const kind = bytes[position++];
    const version = readUint64(bytes, position);
    position += 8;
    if (previousKey !== undefined && (key < previousKey || (key === previousKey && version >= previousVersion))) {
      throw corrupt('entries out of order');
    }
    if (keyLength !== 0 && key === previousKey) throw corrupt('a repeated key is not marked as repeated');
    keys[index] = key;
    versions[index] = version;
    if (kind === RUN_ENTRY_PUT) {
      if (position + RUN_ENTRY_VALUE_LENGTH_BYTES > end) throw corrupt('value length past the payload');
      const valueLength = bytes.readUInt32LE(position);
      position += RUN_ENTRY_VALUE_LENGTH_BYTES;
      if (position + valueLength > end) throw corrupt('value past the payload');
      valueOffsets[index] = position;
      valueLengths[index] = valueLength;
      position += valueLength;
    } else if (kind === RUN_ENTRY_DELETE) {
      valueOffsets[index] = -1;
    } else {
      throw corrupt(`unknown entry kind ${kind}`);
    }
    previousKey = key;
    previousVersion = version;
  }
  if (position !== end) throw corrupt('payload length disagrees with the entries');
  return new DecodedBlock(keys, versions, valueOffsets, valueLengths, bytes, distinctKeyBytes);
}
