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
 * length) and a lookup is a binary search comparing the key with the key bytes in
 * place (key strings are made only for cursors, see DecodedBlock.keys).
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
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
 * Estimated heap bytes a decoded block costs beyond its block bytes, per-entry
 * arrays and key strings (the object, one ArrayBuffer with five views). Measured
 * with test/run-memory.test.ts (32 entries of 10-byte keys per block): a block read
 * by point lookups only (no key strings made) grew the heap 5,900 B with the cache
 * slot. Key strings are counted up front (DECODED_BLOCK_BYTES_PER_KEY, since a
 * cursor may make them while the block is cached), so this constant is set below
 * the measured fixed cost: the estimate is ~9% above the heap for point-read blocks
 * and, by arithmetic (not measured), ~11% below it once a cursor made the strings.
 */
export const DECODED_BLOCK_OVERHEAD_BYTES = 400;
/** Per entry: version f64 + value offset i32 + value length u32 + key start i32 + key length u16, in one shared buffer. */
export const DECODED_BLOCK_BYTES_PER_ENTRY = 8 + 4 + 4 + 4 + 2;
/** Bytes per entry of the decoded arrays' shared buffer (the same layout as DECODED_BLOCK_BYTES_PER_ENTRY). */
const DECODED_BLOCK_ARRAY_BYTES_PER_ENTRY = DECODED_BLOCK_BYTES_PER_ENTRY;
/**
 * Per distinct key string in a block: V8's string header (latin1 strings store one
 * byte per char). Counted whether or not the strings were made (see above).
 */
export const DECODED_BLOCK_BYTES_PER_KEY = 24;

/** Bytes `entry` takes in a block. */
export function encodedEntryBytes(entry: RunEntry, sameKeyAsPrevious: boolean): number {
  const keyBytes = sameKeyAsPrevious ? 0 : entry.key.length;
  const valueBytes = entry.value === undefined ? 0 : RUN_ENTRY_VALUE_LENGTH_BYTES + entry.value.length;
  return RUN_ENTRY_FIXED_BYTES + keyBytes + valueBytes;
}

/**
 * Keys up to this many chars are copied into a block char by char (a native latin1
 * write per key costs more than the loop for short keys); longer ones by Buffer#write.
 * Both write the same bytes: internal keys hold chars below 256.
 */
const SHORT_KEY_CHARS = 64;

/** Little-endian u32 `value` at `position`. REQUIRES: 0 <= value < 2^32, position + 4 <= bytes.length. */
function writeUint32At(bytes: Uint8Array, position: number, value: number): void {
  bytes[position] = value & 0xff;
  bytes[position + 1] = (value >>> 8) & 0xff;
  bytes[position + 2] = (value >>> 16) & 0xff;
  bytes[position + 3] = value >>> 24;
}

/**
 * The largest block buffer a DataBlockBuilder keeps across reset() once an entry
 * grew it past the target: a 4 KiB value needs a two-page block, and allocating (and
 * zeroing) that buffer and then the one-page one again for every such entry was a
 * tenth of the flush thread's CPU for 4 KiB puts (issue 12). Larger ones go back to
 * the target size, so a rare huge value does not stay in memory.
 */
export const DATA_BLOCK_KEPT_BYTES_MAX = 64 * 1024;

/** Packs entries into one block of whole pages; the writer seals and ships it, then calls reset(). */
export class DataBlockBuilder {
  /** Usual block size (whole pages): one page for plain runs, more for compressed ones. */
  readonly #targetBytes: number;
  #buffer: Buffer;
  /** The view block() answered last (its bytes are rewritten for each block: callers copy what they keep). */
  #blockView: Buffer | undefined;
  #capacityBytes: number;
  #position = RUN_BLOCK_HEADER_BYTES;
  #entryCount = 0;
  #lastKey: string | undefined;

  /** The largest grown buffer reset() keeps (DATA_BLOCK_KEPT_BYTES_MAX unless the owner says). */
  readonly #keptBytesMax: number;

  /**
   * `keptBytesMax`: the run writer keeps any grown buffer for its run (a run of large
   * values then allocates one buffer, not one per value: each was garbage until the
   * thread's next collection, tens of MiB of RSS in a merge of 1-16 MiB values).
   */
  constructor(targetBytes = RUN_PAGE_BYTES, keptBytesMax = DATA_BLOCK_KEPT_BYTES_MAX) {
    assert(targetBytes >= RUN_PAGE_BYTES && targetBytes % RUN_PAGE_BYTES === 0, 'block target is whole pages');
    this.#targetBytes = targetBytes;
    this.#keptBytesMax = keptBytesMax;
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

  /**
   * Writes the entry's bytes with plain byte stores (no Buffer method call per field:
   * those were most of this function's cost in a flush), a short key char by char.
   * REQUIRES: the entry fits (tryAdd checked); its version is a safe integer >= 0.
   */
  #writeEntry(entry: RunEntry, sameKey: boolean): void {
    const buffer = this.#buffer;
    const key = entry.key;
    const version = entry.version;
    const versionValid = Number.isSafeInteger(version) && version >= 0;
    if (!versionValid) assert(versionValid, `run entry version is a safe integer: ${version}`);
    let position = this.#position;
    const keyLength = sameKey ? 0 : key.length;
    buffer[position] = keyLength & 0xff;
    buffer[position + 1] = keyLength >>> 8;
    position += 2;
    if (keyLength > SHORT_KEY_CHARS) {
      position += buffer.write(key, position, 'latin1');
    } else {
      for (let index = 0; index < keyLength; index++) buffer[position + index] = key.charCodeAt(index);
      position += keyLength;
    }
    const value = entry.value;
    buffer[position++] = value === undefined ? RUN_ENTRY_DELETE : RUN_ENTRY_PUT;
    // The low word by `>>> 0` (ToUint32 is the value mod 2^32, exact below 2^53), not `%`: 2^32 is
    // no small integer, so `%` was a floating-point modulo per entry; the high word divides exactly.
    const low = version >>> 0;
    writeUint32At(buffer, position, low);
    writeUint32At(buffer, position + 4, (version - low) / TWO_TO_32);
    position += 8;
    if (value !== undefined) {
      writeUint32At(buffer, position, value.length);
      position += RUN_ENTRY_VALUE_LENGTH_BYTES;
      buffer.set(value, position);
      position += value.length;
    }
    assert(position <= this.#capacityBytes, 'entry stays inside its block');
    this.#position = position;
    this.#entryCount++;
    this.#lastKey = key;
  }

  /** The block (whole pages, padding zeroed) for the writer to seal; valid until reset(). */
  block(): Buffer {
    assert(this.#entryCount > 0, 'a data block holds at least one entry');
    // The last view is answered again while it covers the same bytes: a flush of 4 KiB
    // values ships a two-page block per entry, and a Buffer view per block was garbage each.
    let block = this.#blockView;
    if (block === undefined || block.buffer !== this.#buffer.buffer || block.byteOffset !== this.#buffer.byteOffset || block.length !== this.#capacityBytes) {
      block = this.#buffer.subarray(0, this.#capacityBytes);
      this.#blockView = block;
    }
    block.fill(0, this.#position);
    return block;
  }

  reset(): void {
    // A grown buffer stays (block() zeroes what an entry did not write); a huge one goes.
    if (this.#buffer.length > Math.max(this.#targetBytes, this.#keptBytesMax)) this.#buffer = Buffer.alloc(this.#targetBytes);
    this.#capacityBytes = this.#targetBytes;
    this.#position = RUN_BLOCK_HEADER_BYTES;
    this.#entryCount = 0;
    this.#lastKey = undefined;
  }
}

/** Compares internal key `key` with `length` bytes of `bytes` from `start`, as byte strings (latin1: byte order is string order). */
export function compareKeyToBytes(key: string, bytes: Uint8Array, start: number, length: number): number {
  const common = Math.min(key.length, length);
  for (let index = 0; index < common; index++) {
    const difference = key.charCodeAt(index) - (bytes[start + index] as number);
    if (difference !== 0) return difference;
  }
  return key.length - length;
}

/** Compares two byte ranges of `bytes` (the order of the keys they hold). */
export function compareByteRanges(bytes: Uint8Array, leftStart: number, leftLength: number, rightStart: number, rightLength: number): number {
  const common = Math.min(leftLength, rightLength);
  for (let index = 0; index < common; index++) {
    const difference = (bytes[leftStart + index] as number) - (bytes[rightStart + index] as number);
    if (difference !== 0) return difference;
  }
  return leftLength - rightLength;
}

/**
 * A checked, decoded data block: what the block cache holds. Keys stay bytes in
 * `bytes` (start and length per entry; a repeated key points at its first copy):
 * lookups compare the searched key with those bytes, so a point read makes no key
 * string; `keys` makes the strings on first use (cursors) and keeps them.
 */
export class DecodedBlock {
  readonly versions: Float64Array;
  /** Offset of each value in `bytes`, or -1 for a tombstone. */
  readonly valueOffsets: Int32Array;
  readonly valueLengths: Uint32Array;
  /** Offset of each entry's key bytes in `bytes`, and their length. */
  readonly #keyStarts: Int32Array;
  readonly #keyLengths: Uint16Array;
  #keys: string[] | undefined;
  readonly bytes: Buffer;
  /** What this block costs in memory, as the cache counts it. */
  readonly sizeBytes: number;

  constructor(keyStarts: Int32Array, keyLengths: Uint16Array, versions: Float64Array, valueOffsets: Int32Array, valueLengths: Uint32Array, bytes: Buffer, distinctKeyBytes: number) {
    assert(keyStarts.length === versions.length && keyLengths.length === versions.length, 'one key per entry');
    this.#keyStarts = keyStarts;
    this.#keyLengths = keyLengths;
    this.versions = versions;
    this.valueOffsets = valueOffsets;
    this.valueLengths = valueLengths;
    this.bytes = bytes;
    this.sizeBytes = DECODED_BLOCK_OVERHEAD_BYTES + bytes.length + versions.length * DECODED_BLOCK_BYTES_PER_ENTRY + distinctKeyBytes;
  }

  get count(): number {
    return this.versions.length;
  }

  /** Every entry's key as a string, made on first use (a repeated key shares its string). */
  get keys(): string[] {
    if (this.#keys !== undefined) return this.#keys;
    const keys = new Array<string>(this.count);
    for (let index = 0; index < this.count; index++) {
      const start = this.#keyStarts[index] as number;
      keys[index] = index > 0 && start === this.#keyStarts[index - 1] ? (keys[index - 1] as string) : this.bytes.toString('latin1', start, start + (this.#keyLengths[index] as number));
    }
    this.#keys = keys;
    return keys;
  }

  /** Entry `index`'s key as a string (one string, not the whole `keys` array). */
  keyAt(index: number): string {
    assert(index >= 0 && index < this.count, 'entry index inside the block');
    const cached = this.#keys?.[index];
    if (cached !== undefined) return cached;
    const start = this.#keyStarts[index] as number;
    return this.bytes.toString('latin1', start, start + (this.#keyLengths[index] as number));
  }

  /** Compares `key` with entry `index`'s key. */
  compareKey(key: string, index: number): number {
    return compareKeyToBytes(key, this.bytes, this.#keyStarts[index] as number, this.#keyLengths[index] as number);
  }

  /** The entry at `index`; its value is a view into this block's bytes. */
  entry(index: number): RunEntry {
    return this.entryWithKey(index, this.keyAt(index));
  }

  /** The entry at `index`, whose key the caller has checked equals `key` (no key string made). */
  entryWithKey(index: number, key: string): RunEntry {
    const version = this.versions[index];
    const valueOffset = this.valueOffsets[index];
    assert(version !== undefined && valueOffset !== undefined, 'entry index inside the block');
    const value = valueOffset < 0 ? undefined : this.bytes.subarray(valueOffset, valueOffset + (this.valueLengths[index] ?? 0));
    return { key, version, value };
  }

  /** First index whose key is >= `key` (count if none). */
  lowerBound(key: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareKey(key, middle) > 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** First index whose key is > `key` (count if none). */
  upperBound(key: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareKey(key, middle) >= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/**
 * Decodes a block whose checksum has been checked. The structure is still checked
 * (a writer bug must not become wrong data): CorruptionError naming file and offset.
 * The payload lies at `payloadStart` of `bytes` (after the block header in a block as
 * read; 0 in a decompressed payload, decoded in place without copying it behind a
 * header). One pass over the entry headers, reading bytes directly (no bounds-checked
 * Buffer reads: every position is checked against the payload end first).
 */
export function decodeDataBlock(
  file: string,
  offset: number,
  bytes: Buffer,
  payloadBytes: number,
  entryCount: number,
  payloadStart: number = RUN_BLOCK_HEADER_BYTES,
  scratchArrays?: ArrayBuffer,
): DecodedBlock {
  const corrupt = (reason: string) => new CorruptionError(file, offset, `data block: ${reason}`);
  if (entryCount === 0) throw corrupt('no entries');
  const end = payloadStart + payloadBytes;
  assert(payloadStart >= 0 && end <= bytes.length, 'the payload lies inside the block bytes');
  // One backing buffer for the five per-entry arrays (one allocation, not five): f64 first, then the 4-byte arrays, then u16.
  // A block decoded only for the moment (never cached) may use the caller's reused `scratchArrays` if large enough.
  const arrayBytes = entryCount * DECODED_BLOCK_ARRAY_BYTES_PER_ENTRY;
  const arrays = scratchArrays !== undefined && scratchArrays.byteLength >= arrayBytes ? scratchArrays : new ArrayBuffer(arrayBytes);
  const versions = new Float64Array(arrays, 0, entryCount);
  const valueOffsets = new Int32Array(arrays, 8 * entryCount, entryCount);
  const valueLengths = new Uint32Array(arrays, 12 * entryCount, entryCount);
  const keyStarts = new Int32Array(arrays, 16 * entryCount, entryCount);
  const keyLengths = new Uint16Array(arrays, 20 * entryCount, entryCount);
  let position = payloadStart;
  let previousKeyStart = -1;
  let previousKeyLength = 0;
  let previousVersion = 0;
  let distinctKeyBytes = 0;
  for (let index = 0; index < entryCount; index++) {
    if (position + RUN_ENTRY_FIXED_BYTES > end) throw corrupt('entry header past the payload');
    const keyLength = (bytes[position] as number) | ((bytes[position + 1] as number) << 8);
    position += 2;
    let keyStart: number;
    let order: number;
    if (keyLength === 0) {
      if (previousKeyStart < 0) throw corrupt('first entry repeats a previous key');
      keyStart = previousKeyStart;
      order = 0;
    } else {
      if (keyLength > KEY_BYTES_MAX || position + keyLength + RUN_ENTRY_FIXED_BYTES - 2 > end) throw corrupt('bad key length');
      keyStart = position;
      position += keyLength;
      distinctKeyBytes += DECODED_BLOCK_BYTES_PER_KEY + keyLength;
      order = previousKeyStart < 0 ? 1 : compareByteRanges(bytes, keyStart, keyLength, previousKeyStart, previousKeyLength);
      if (order === 0) throw corrupt('a repeated key is not marked as repeated');
    }
    const kind = bytes[position++];
    const version = readUint32At(bytes, position) + readUint32At(bytes, position + 4) * TWO_TO_32;
    position += 8;
    if (order < 0 || (order === 0 && version >= previousVersion)) throw corrupt('entries out of order');
    keyStarts[index] = keyStart;
    keyLengths[index] = keyLength === 0 ? previousKeyLength : keyLength;
    versions[index] = version;
    if (kind === RUN_ENTRY_PUT) {
      if (position + RUN_ENTRY_VALUE_LENGTH_BYTES > end) throw corrupt('value length past the payload');
      const valueLength = readUint32At(bytes, position);
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
    previousKeyStart = keyStart;
    previousKeyLength = keyLength === 0 ? previousKeyLength : keyLength;
    previousVersion = version;
  }
  if (position !== end) throw corrupt('payload length disagrees with the entries');
  return new DecodedBlock(keyStarts, keyLengths, versions, valueOffsets, valueLengths, bytes, distinctKeyBytes);
}

const TWO_TO_32 = 2 ** 32;

/** Little-endian u32 at `position`. REQUIRES: position + 4 <= bytes.length (checked by the caller). */
function readUint32At(bytes: Uint8Array, position: number): number {
  return ((bytes[position] as number) | ((bytes[position + 1] as number) << 8) | ((bytes[position + 2] as number) << 16) | ((bytes[position + 3] as number) << 24)) >>> 0;
}
