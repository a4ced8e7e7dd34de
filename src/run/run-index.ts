/**
 * The index block of a format-2 run file and the index partitions of a format-3 one
 * (docs/FORMAT.md, "Index block and index partition payload"; the same payload), and
 * their compact in-memory form.
 *
 * Payload: per data block, in file order: u16 last key length, last key bytes,
 * u64 block offset, u32 block length in bytes, u64 block checksum.
 *
 * In memory a RunIndex is five typed arrays (no object per block): the last keys
 * concatenated in one buffer, their start offsets followed by the prefix table (one
 * array), and the offsets, lengths and checksums.
 *
 * The prefix table: a point read searches the index partition of every run that may
 * hold its key (issue 7: the search was ~6% of a uniform get's CPU on a 1M-key store,
 * a string-to-bytes comparison at each step). The last keys' shared prefix (what the
 * first and last have in common, so every one) is compared once; then each step
 * compares u32s: the next four bytes of each last key after the shared prefix,
 * big-endian, zero padded (order-preserving, as run-partitions.ts's top-level prefix
 * table), reading a last key's bytes only on a tie. Invariants: last keys are non-decreasing (a key's versions may span
 * blocks, so two blocks can share a last key); blocks are contiguous over the span
 * decode() is given (format 2: from offset 0 to the index block; a partition: its
 * top-level entry's data span).
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { readUint64, writeUint64 } from '../wal/wal-format.js';
import { RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES } from './run-format.js';

const INDEX_ENTRY_FIXED_BYTES = 2 + 8 + 4 + 8;
/** Heap cost of a RunIndex beyond its typed arrays' contents (object + 5 typed arrays and buffers: the prefix table shares the start offsets' array). */
export const RUN_INDEX_OVERHEAD_BYTES = 5 * 160 + 100;

/**
 * Bytes of each buffer an IndexBuilder fills: one page, what an index partition's
 * payload targets (RUN_INDEX_PARTITION_TARGET_BYTES), so a partition usually needs one.
 * A writer holds every partition's builder until the run's end: at 64 KiB each, a
 * merge of 3-4M keys (~1,000 partitions) held ~64 MiB for ~4 MiB of entries (issue 7).
 */
export const INDEX_BUILDER_CHUNK_BYTES = RUN_PAGE_BYTES;

/** Accumulates index entries while the writer ships data blocks. */
export class IndexBuilder {
  #chunks: Buffer[] = [];
  #current = Buffer.alloc(INDEX_BUILDER_CHUNK_BYTES);
  /** A DataView of #current, for the checksum (Buffer#writeBigUInt64LE splits it with BigInt & and >>: heap BigInts per block). */
  #currentView = new DataView(this.#current.buffer, this.#current.byteOffset, this.#current.length);
  #position = 0;
  #payloadBytes = 0;
  #blockCount = 0;

  get blockCount(): number {
    return this.#blockCount;
  }

  /** Payload bytes of the entries added so far. */
  get payloadBytes(): number {
    return this.#payloadBytes;
  }

  /** Payload bytes an entry with `lastKey` adds. */
  static entryBytes(lastKey: string): number {
    return INDEX_ENTRY_FIXED_BYTES + lastKey.length;
  }

  add(lastKey: string, offset: number, lengthBytes: number, checksum: bigint): void {
    const needed = INDEX_ENTRY_FIXED_BYTES + lastKey.length;
    assert(needed <= INDEX_BUILDER_CHUNK_BYTES, 'an index entry fits a chunk');
    if (this.#position + needed > this.#current.length) {
      this.#chunks.push(this.#current.subarray(0, this.#position));
      this.#current = Buffer.alloc(INDEX_BUILDER_CHUNK_BYTES);
      this.#currentView = new DataView(this.#current.buffer, this.#current.byteOffset, this.#current.length);
      this.#position = 0;
    }
    const buffer = this.#current;
    let position = this.#position;
    buffer.writeUInt16LE(lastKey.length, position);
    position += 2;
    position += buffer.write(lastKey, position, 'latin1');
    writeUint64(buffer, offset, position);
    buffer.writeUInt32LE(lengthBytes, position + 8);
    this.#currentView.setBigUint64(position + 12, checksum, true);
    position += 20;
    this.#payloadBytes += position - this.#position;
    this.#position = position;
    this.#blockCount++;
  }

  /** The whole index block (header left for sealBlock), whole pages; and its payload length. */
  block(): { block: Buffer; payloadBytes: number } {
    const pages = Math.max(1, Math.ceil((RUN_BLOCK_HEADER_BYTES + this.#payloadBytes) / RUN_PAGE_BYTES));
    const block = Buffer.alloc(pages * RUN_PAGE_BYTES);
    let position = RUN_BLOCK_HEADER_BYTES;
    for (const chunk of [...this.#chunks, this.#current.subarray(0, this.#position)]) {
      chunk.copy(block, position);
      position += chunk.length;
    }
    assert(position === RUN_BLOCK_HEADER_BYTES + this.#payloadBytes, 'index payload assembled');
    return { block, payloadBytes: this.#payloadBytes };
  }
}

/** Compares an internal key with `length` bytes of `bytes` from `start`, as byte strings. */
function compareKeyToBytes(key: string, bytes: Uint8Array, start: number, length: number): number {
  const common = Math.min(key.length, length);
  for (let index = 0; index < common; index++) {
    const difference = key.charCodeAt(index) - (bytes[start + index] as number);
    if (difference !== 0) return difference;
  }
  return key.length - length;
}

/**
 * Keys packed back to back in `keys`, key i at [starts[i], starts[i + 1]): the last
 * keys of a RunIndex's blocks and of a TopLevelIndex's partitions.
 */
export function comparePackedKey(key: string, keys: Uint8Array, starts: Uint32Array, position: number): number {
  const start = starts[position] as number;
  return compareKeyToBytes(key, keys, start, (starts[position + 1] as number) - start);
}

/**
 * First position whose packed key is >= `key` (> `key` when `strictlyAfter`), among
 * `count` non-decreasing keys; `count` if none.
 */
export function searchPackedKeys(key: string, keys: Uint8Array, starts: Uint32Array, count: number, strictlyAfter: boolean): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const comparison = comparePackedKey(key, keys, starts, middle);
    if (comparison > 0 || (strictlyAfter && comparison === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Chars `from` to `from + 3` of `key` as a big-endian u32, missing chars as 0:
 * order-preserving among keys that share their first `from` chars (a padding 0 sorts
 * like the end of a shorter key). REQUIRES: internal keys (chars below 256).
 */
export function keyPrefixAt(key: string, from: number): number {
  const length = key.length;
  const first = from < length ? key.charCodeAt(from) : 0;
  const second = from + 1 < length ? key.charCodeAt(from + 1) : 0;
  const third = from + 2 < length ? key.charCodeAt(from + 2) : 0;
  const fourth = from + 3 < length ? key.charCodeAt(from + 3) : 0;
  return ((first << 24) | (second << 16) | (third << 8) | fourth) >>> 0;
}

/** Bytes `from` to `from + 3` of `bytes[start, end)` as keyPrefixAt takes them from a key. */
function bytesPrefixAt(bytes: Uint8Array, start: number, end: number, from: number): number {
  let prefix = 0;
  for (let index = start + from; index < start + from + 4; index++) prefix = prefix * 256 + (index < end ? (bytes[index] as number) : 0);
  return prefix;
}

export class RunIndex {
  readonly #lastKeys: Buffer;
  readonly #lastKeyStarts: Uint32Array;
  readonly #offsets: Float64Array;
  readonly #lengths: Uint32Array;
  readonly #checksums: BigUint64Array;
  /** Bytes every last key starts with (the prefix table's; see the module header). */
  readonly #sharedBytes: number;

  /**
   * `lastKeyStarts`: blockCount + 1 start offsets, then room for the prefix table (per
   * block, its last key's four bytes after the shared ones: keyPrefixAt), filled here.
   */
  private constructor(lastKeys: Buffer, lastKeyStarts: Uint32Array, offsets: Float64Array, lengths: Uint32Array, checksums: BigUint64Array) {
    this.#lastKeys = lastKeys;
    this.#lastKeyStarts = lastKeyStarts;
    this.#offsets = offsets;
    this.#lengths = lengths;
    this.#checksums = checksums;
    // Last keys are sorted: what the first and the last share, every one shares.
    const blockCount = offsets.length;
    const lastStart = lastKeyStarts[blockCount - 1] as number;
    const common = Math.min(lastKeyStarts[1] as number, (lastKeyStarts[blockCount] as number) - lastStart);
    let shared = 0;
    while (shared < common && lastKeys[shared] === lastKeys[lastStart + shared]) shared++;
    this.#sharedBytes = shared;
    assert(lastKeyStarts.length === 2 * blockCount + 1, 'the start offsets leave room for the prefix table');
    for (let block = 0; block < blockCount; block++) {
      lastKeyStarts[blockCount + 1 + block] = bytesPrefixAt(lastKeys, lastKeyStarts[block] as number, lastKeyStarts[block + 1] as number, shared);
    }
  }

  /**
   * Decodes a checked index block payload (a format-2 index block or a format-3 index
   * partition). Its data blocks must be contiguous from `dataStart` to `dataEnd` (format 2:
   * 0 to the index block's offset; a partition: the span its top-level entry gives).
   */
  /**
   * With `packed` (format 4) block lengths are any byte count and the last block may
   * end up to a page before `dataEnd` (the zero padding before the index partitions).
   */
  static decode(file: string, blockOffset: number, payload: Buffer, blockCount: number, dataStart: number, dataEnd: number, packed = false): RunIndex {
    const corrupt = (reason: string) => new CorruptionError(file, blockOffset, `index block: ${reason}`);
    if (blockCount === 0) throw corrupt('no data blocks');
    // The start offsets, then the prefix table the constructor fills.
    const lastKeyStarts = new Uint32Array(2 * blockCount + 1);
    const offsets = new Float64Array(blockCount);
    const lengths = new Uint32Array(blockCount);
    const checksums = new BigUint64Array(blockCount);
    const keyParts: Buffer[] = [];
    let keyBytes = 0;
    let position = 0;
    let expectedOffset = dataStart;
    let previousKey = '';
    for (let block = 0; block < blockCount; block++) {
      if (position + INDEX_ENTRY_FIXED_BYTES > payload.length) throw corrupt('entry past the payload');
      const keyLength = payload.readUInt16LE(position);
      if (keyLength === 0 || keyLength > KEY_BYTES_MAX || position + INDEX_ENTRY_FIXED_BYTES + keyLength > payload.length) throw corrupt('bad key length');
      const key = payload.toString('latin1', position + 2, position + 2 + keyLength);
      if (key < previousKey) throw corrupt('last keys out of order');
      keyParts.push(payload.subarray(position + 2, position + 2 + keyLength));
      lastKeyStarts[block] = keyBytes;
      keyBytes += keyLength;
      position += 2 + keyLength;
      offsets[block] = readUint64(payload, position);
      lengths[block] = payload.readUInt32LE(position + 8);
      checksums[block] = payload.readBigUInt64LE(position + 12);
      position += 20;
      const wholeBlock = packed ? lengths[block]! > RUN_BLOCK_HEADER_BYTES : lengths[block]! > 0 && lengths[block]! % RUN_PAGE_BYTES === 0;
      if (offsets[block] !== expectedOffset || !wholeBlock) throw corrupt('data blocks not contiguous');
      expectedOffset += lengths[block]!;
      previousKey = key;
    }
    if (position !== payload.length) throw corrupt('payload length disagrees with the block count');
    const endsAtDataEnd = packed ? expectedOffset <= dataEnd && dataEnd - expectedOffset < RUN_PAGE_BYTES : expectedOffset === dataEnd;
    if (!endsAtDataEnd) throw corrupt('data blocks do not end where the index (or the next partition) starts');
    lastKeyStarts[blockCount] = keyBytes;
    return new RunIndex(Buffer.concat(keyParts, keyBytes), lastKeyStarts, offsets, lengths, checksums);
  }

  get blockCount(): number {
    return this.#offsets.length;
  }

  /** Bytes held (typed array contents plus their fixed overhead). */
  get memoryBytes(): number {
    return (
      RUN_INDEX_OVERHEAD_BYTES +
      this.#lastKeys.length +
      this.#lastKeyStarts.byteLength +
      this.#offsets.byteLength +
      this.#lengths.byteLength +
      this.#checksums.byteLength
    );
  }

  offset(block: number): number {
    return this.#offsets[block] as number;
  }
  lengthBytes(block: number): number {
    return this.#lengths[block] as number;
  }
  checksum(block: number): bigint {
    return this.#checksums[block] as bigint;
  }

  /** Block `block`'s last key, as an internal byte string (scrub names a damaged block's keys with it). */
  lastKey(block: number): string {
    return this.#lastKeys.toString('latin1', this.#lastKeyStarts[block] as number, this.#lastKeyStarts[block + 1] as number);
  }

  /** Compares `key` with block `block`'s last key. */
  compareLastKey(key: string, block: number): number {
    return comparePackedKey(key, this.#lastKeys, this.#lastKeyStarts, block);
  }

  /** Compares the `length` key bytes of `bytes` at `start` with block `block`'s last key (no key string made). */
  compareLastKeyBytes(bytes: Uint8Array, start: number, length: number, block: number): number {
    const keys = this.#lastKeys;
    const keyStart = this.#lastKeyStarts[block] as number;
    const keyLength = (this.#lastKeyStarts[block + 1] as number) - keyStart;
    const common = Math.min(length, keyLength);
    for (let index = 0; index < common; index++) {
      const difference = (bytes[start + index] as number) - (keys[keyStart + index] as number);
      if (difference !== 0) return difference;
    }
    return length - keyLength;
  }

  /** First block whose last key is >= `key` (blockCount if none): the first block that can hold `key`. */
  firstBlockAtOrAfter(key: string): number {
    return this.#search(key, false);
  }

  /** First block whose last key is > `key` (blockCount if none). */
  firstBlockAfter(key: string): number {
    return this.#search(key, true);
  }

  /** searchPackedKeys over the last keys, through the prefix table (see the module header). */
  #search(key: string, strictlyAfter: boolean): number {
    const keys = this.#lastKeys;
    const shared = this.#sharedBytes;
    const starts = this.#lastKeyStarts;
    const count = this.#offsets.length;
    // A key that leaves the shared prefix is below or above every last key.
    for (let index = 0; index < shared; index++) {
      if (index >= key.length) return 0;
      const difference = key.charCodeAt(index) - (keys[index] as number);
      if (difference !== 0) return difference < 0 ? 0 : count;
    }
    // The prefix table follows the count + 1 start offsets.
    const base = count + 1;
    const wanted = keyPrefixAt(key, shared);
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const prefix = starts[base + middle] as number;
      let below = prefix < wanted;
      if (prefix === wanted) {
        const comparison = comparePackedKey(key, keys, starts, middle);
        below = comparison > 0 || (strictlyAfter && comparison === 0);
      }
      if (below) low = middle + 1;
      else high = middle;
    }
    if (debugEnabled()) assert(low === searchPackedKeys(key, keys, starts, count, strictlyAfter), 'the prefix search finds the block the key search finds');
    return low;
  }
}
