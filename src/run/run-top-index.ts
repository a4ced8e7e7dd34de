/**
 * The partitioned index and filter of run format 3 (docs/FORMAT.md, "Top-level index
 * block"): the writer's PartitionBuilder, the top-level index block's encoding, and
 * its compact in-memory form TopLevelIndex (what a format-3 reader keeps resident).
 *
 * The index is split into index partitions (each an index block of about one page:
 * run-index.ts's payload, the entries of consecutive data blocks) and the filter into
 * filter partitions, one per index partition, each a bloom filter over the distinct
 * keys of that partition's data blocks. The top-level index lists, per partition in
 * file order: u16 last key length, last key bytes, u64 data offset (its first data
 * block), u32 data block count, u32 distinct key count, u64 index partition offset,
 * u32 its length, u64 its checksum, u64 filter partition offset, u32 its length,
 * u64 its checksum.
 *
 * Invariants: a key's entries never span two partitions (the writer cuts only
 * between blocks that share no key), so last keys are strictly increasing and the
 * one partition that can hold a key is the first whose last key is >= it; the
 * partitions' data spans are contiguous from offset 0 to the first index partition;
 * index partitions are contiguous and end where the top-level index starts; filter
 * partitions are contiguous from just after the top-level index to the end of the
 * logical area; block and key counts add up to the footer's.
 */
import { Buffer } from 'node:buffer';
import { CorruptionError } from '../errors.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import { u32At, writeUint64 } from '../wal/wal-format.js';
import { comparePackedKey, IndexBuilder, searchPackedKeys } from './run-index.js';
import { blockPages, hasPackedDataBlocks, RUN_BLOCK_HEADER_BYTES, RUN_INDEX_PARTITION_TARGET_BYTES, RUN_PAGE_BYTES, type RunFooter } from './run-format.js';

/** 2^32, for u64 fields read as two u32 halves. */
const TWO_TO_32 = 0x1_0000_0000;

/** Byte order of a[aStart, aEnd) against b[bStart, bEnd) (a loop: Buffer#compare's argument checks cost more on short keys in cold code). */
function compareKeyBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const length = Math.min(aEnd - aStart, bEnd - bStart);
  for (let index = 0; index < length; index++) {
    const difference = (a[aStart + index] as number) - (b[bStart + index] as number);
    if (difference !== 0) return difference;
  }
  return aEnd - aStart - (bEnd - bStart);
}

/** The u64 checksum stored as two u32 halves at `slot`. */
function checksumAt(halves: Uint32Array, slot: number): bigint {
  return (BigInt(halves[slot + 1] as number) << 32n) | BigInt(halves[slot] as number);
}

function corruptTopIndex(file: string, footer: RunFooter, reason: string): CorruptionError {
  return new CorruptionError(file, footer.indexOffset, `top-level index: ${reason}`);
}

/** Fixed bytes of a top-level entry besides the key: 2 + 8 + 4 + 4 + (8 + 4 + 8) * 2. */
export const TOP_INDEX_ENTRY_FIXED_BYTES = 2 + 8 + 4 + 4 + 2 * (8 + 4 + 8);
/** Heap cost of a TopLevelIndex beyond its typed arrays' contents (object + 6 typed arrays and buffers, as RunIndex counts them). */
export const TOP_INDEX_OVERHEAD_BYTES = 6 * 160 + 100;

/** One partition while the writer builds it. */
export interface PartitionUnderConstruction {
  index: IndexBuilder;
  lastKey: string;
  dataOffset: number;
  keyCount: number;
}

/**
 * Groups the writer's index entries into partitions. add() is called per data block
 * in file order with the block's first key and its count of keys not seen in an
 * earlier block (so per-partition key counts are exact).
 */
export class PartitionBuilder {
  readonly partitions: PartitionUnderConstruction[] = [];
  #blockCount = 0;

  get blockCount(): number {
    return this.#blockCount;
  }

  /**
   * True once the open partition has reached its target size: the writer then ends
   * its data block where the next key begins, so the next block may start a new
   * partition (a cut needs a block boundary between two keys; with many versions
   * per key such boundaries are otherwise rare and a partition grew to many pages).
   */
  get wantsKeyBoundary(): boolean {
    const current = this.partitions[this.partitions.length - 1];
    return current !== undefined && current.index.payloadBytes >= RUN_INDEX_PARTITION_TARGET_BYTES;
  }

  add(firstKey: string, lastKey: string, offset: number, lengthBytes: number, checksum: bigint, newKeyCount: number): void {
    let current = this.partitions[this.partitions.length - 1];
    const full = current !== undefined && current.index.payloadBytes + IndexBuilder.entryBytes(lastKey) > RUN_INDEX_PARTITION_TARGET_BYTES;
    // Cut only where the previous block's last key differs from this block's first: a key never spans partitions.
    if (current === undefined || (full && current.lastKey !== firstKey)) {
      current = { index: new IndexBuilder(), lastKey, dataOffset: offset, keyCount: 0 };
      this.partitions.push(current);
    }
    current.index.add(lastKey, offset, lengthBytes, checksum);
    current.lastKey = lastKey;
    current.keyCount += newKeyCount;
    this.#blockCount++;
  }
}

/** What the top-level index says of one partition (the writer fills it in). */
export interface PartitionEntry {
  lastKey: string;
  dataOffset: number;
  blockCount: number;
  keyCount: number;
  indexOffset: number;
  indexLength: number;
  indexChecksum: bigint;
  filterOffset: number;
  filterLength: number;
  filterChecksum: bigint;
}

/** Payload bytes of a top-level index over partitions with these last keys. */
export function topIndexPayloadBytes(lastKeys: readonly string[]): number {
  let total = 0;
  for (const key of lastKeys) total += TOP_INDEX_ENTRY_FIXED_BYTES + key.length;
  return total;
}

/** The top-level index block (header left for sealBlock), whole pages; and its payload length. */
export function encodeTopIndex(entries: readonly PartitionEntry[]): { block: Buffer; payloadBytes: number } {
  const payloadBytes = topIndexPayloadBytes(entries.map((entry) => entry.lastKey));
  const block = Buffer.alloc(blockPages(payloadBytes) * RUN_PAGE_BYTES);
  let position = RUN_BLOCK_HEADER_BYTES;
  for (const entry of entries) {
    assert(entry.lastKey.length > 0 && entry.lastKey.length <= KEY_BYTES_MAX, 'partition last key is an internal key');
    block.writeUInt16LE(entry.lastKey.length, position);
    position += 2;
    position += block.write(entry.lastKey, position, 'latin1');
    writeUint64(block, entry.dataOffset, position);
    block.writeUInt32LE(entry.blockCount, position + 8);
    block.writeUInt32LE(entry.keyCount, position + 12);
    writeUint64(block, entry.indexOffset, position + 16);
    block.writeUInt32LE(entry.indexLength, position + 24);
    block.writeBigUInt64LE(entry.indexChecksum, position + 28);
    writeUint64(block, entry.filterOffset, position + 36);
    block.writeUInt32LE(entry.filterLength, position + 44);
    block.writeBigUInt64LE(entry.filterChecksum, position + 48);
    position += TOP_INDEX_ENTRY_FIXED_BYTES - 2;
  }
  assert(position === RUN_BLOCK_HEADER_BYTES + payloadBytes, 'top-level index payload assembled');
  return { block, payloadBytes };
}

/** The resident part of a format-3 reader: typed arrays, no object per partition. */
export class TopLevelIndex {
  readonly #lastKeys: Buffer;
  readonly #lastKeyStarts: Uint32Array;
  /** Per partition: data offset, index offset, filter offset (3 per partition). */
  readonly #offsets: Float64Array;
  /** Per partition: index length, filter length, key count. */
  readonly #sizes: Uint32Array;
  /** firstBlocks[p]: global number of partition p's first data block; firstBlocks[count] = the run's block count. */
  readonly #firstBlocks: Uint32Array;
  /** Per partition: index checksum, filter checksum, each as its low and high u32 (made BigInt when asked: decode runs cold at reopen). */
  readonly #checksums: Uint32Array;
  /** Per partition: its last key's first four bytes, big-endian, zero padded (lastKeyPrefixes; filled by decode's key loop). */
  readonly #lastKeyPrefixes: Uint32Array;

  /** Format 4: data blocks are packed (any byte offset and length); the last partition's data may end inside the page before the index partitions. */
  readonly packedData: boolean;

  private constructor(
    lastKeys: Buffer,
    lastKeyStarts: Uint32Array,
    offsets: Float64Array,
    sizes: Uint32Array,
    firstBlocks: Uint32Array,
    checksums: Uint32Array,
    lastKeyPrefixes: Uint32Array,
    packedData: boolean,
  ) {
    this.packedData = packedData;
    this.#lastKeyPrefixes = lastKeyPrefixes;
    this.#lastKeys = lastKeys;
    this.#lastKeyStarts = lastKeyStarts;
    this.#offsets = offsets;
    this.#sizes = sizes;
    this.#firstBlocks = firstBlocks;
    this.#checksums = checksums;
  }

  /**
   * Decodes a checked top-level index payload with `count` partitions and checks it against the footer (see the invariants).
   * This runs for every run a reopened store reads, before its JIT has warmed up: the loop reads fields with byte
   * arithmetic, compares keys as bytes in place, and copies checksums and keys once each (a string, a subarray and
   * two BigInts per partition made it cost ~25 ms of CPU over 3,131 partitions in a fresh process, ~1.3 ms warm).
   * The same key loop fills the last-key prefixes (lastKeyPrefixes): a second pass over the keys, with a number
   * outside the small-integer range per byte, was another 2-10 ms of the first get after a reopen (issue 7).
   */
  static decode(file: string, footer: RunFooter, payload: Buffer, count: number): TopLevelIndex {
    const packed = hasPackedDataBlocks(footer);
    if (count === 0) throw corruptTopIndex(file, footer, 'no partitions');
    const end = payload.length;
    // A well-formed payload is count fixed parts plus the keys: the keys' bytes are known before the loop.
    // Checked before the arrays sized by `count` (the block's u32 entry count): a wrong one is refused, not allocated.
    const keyBytesExpected = end - count * TOP_INDEX_ENTRY_FIXED_BYTES;
    if (keyBytesExpected < count) throw corruptTopIndex(file, footer, 'payload length disagrees with the partition count');
    const lastKeyStarts = new Uint32Array(count + 1);
    const offsets = new Float64Array(3 * count);
    const sizes = new Uint32Array(3 * count);
    const firstBlocks = new Uint32Array(count + 1);
    const checksums = new Uint32Array(4 * count);
    const prefixes = new Uint32Array(count);
    const lastKeys = Buffer.allocUnsafe(keyBytesExpected);
    let keyBytes = 0;
    let position = 0;
    let blocks = 0;
    let keys = 0;
    let previousDataOffset = -1;
    let previousIndexEnd = -1;
    let expectedFilterOffset = footer.filterOffset;
    for (let partition = 0; partition < count; partition++) {
      if (position + TOP_INDEX_ENTRY_FIXED_BYTES > end) throw corruptTopIndex(file, footer, 'entry past the payload');
      const keyLength = (payload[position] as number) | ((payload[position + 1] as number) << 8);
      const keyStart = position + 2;
      if (keyLength === 0 || keyLength > KEY_BYTES_MAX || position + TOP_INDEX_ENTRY_FIXED_BYTES + keyLength > end || keyBytes + keyLength > keyBytesExpected) {
        throw corruptTopIndex(file, footer, 'bad key length');
      }
      if (partition > 0 && compareKeyBytes(lastKeys, lastKeyStarts[partition - 1] as number, keyBytes, payload, keyStart, keyStart + keyLength) >= 0) {
        throw corruptTopIndex(file, footer, 'last keys not strictly increasing');
      }
      // The prefix as an int32 (a Uint32Array stores it mod 2^32: the same u32), bytes past the key as 0.
      let prefix = 0;
      for (let index = 0; index < keyLength; index++) {
        const byte = payload[keyStart + index] as number;
        lastKeys[keyBytes + index] = byte;
        if (index < 4) prefix |= byte << (24 - 8 * index);
      }
      prefixes[partition] = prefix;
      lastKeyStarts[partition] = keyBytes;
      keyBytes += keyLength;
      position = keyStart + keyLength;
      const dataOffset = u32At(payload, position) + u32At(payload, position + 4) * TWO_TO_32;
      const blockCount = u32At(payload, position + 8);
      const keyCount = u32At(payload, position + 12);
      const indexOffset = u32At(payload, position + 16) + u32At(payload, position + 20) * TWO_TO_32;
      const indexLength = u32At(payload, position + 24);
      const filterOffset = u32At(payload, position + 36) + u32At(payload, position + 40) * TWO_TO_32;
      const filterLength = u32At(payload, position + 44);
      checksums[4 * partition] = u32At(payload, position + 28);
      checksums[4 * partition + 1] = u32At(payload, position + 32);
      checksums[4 * partition + 2] = u32At(payload, position + 48);
      checksums[4 * partition + 3] = u32At(payload, position + 52);
      position += TOP_INDEX_ENTRY_FIXED_BYTES - 2;
      if (blockCount === 0 || keyCount === 0) throw corruptTopIndex(file, footer, 'empty partition');
      if (partition === 0 ? dataOffset !== 0 : dataOffset <= previousDataOffset) throw corruptTopIndex(file, footer, 'data spans out of order');
      if ((!packed && dataOffset % RUN_PAGE_BYTES !== 0) || indexOffset % RUN_PAGE_BYTES !== 0 || indexLength % RUN_PAGE_BYTES !== 0 || indexLength === 0) {
        throw corruptTopIndex(file, footer, 'index partition not whole pages');
      }
      if (previousIndexEnd >= 0 && indexOffset !== previousIndexEnd) throw corruptTopIndex(file, footer, 'index partitions not contiguous');
      if (filterOffset !== expectedFilterOffset || filterLength % RUN_PAGE_BYTES !== 0 || filterLength === 0) throw corruptTopIndex(file, footer, 'filter partitions not contiguous');
      expectedFilterOffset += filterLength;
      offsets[3 * partition] = dataOffset;
      offsets[3 * partition + 1] = indexOffset;
      offsets[3 * partition + 2] = filterOffset;
      sizes[3 * partition] = indexLength;
      sizes[3 * partition + 1] = filterLength;
      sizes[3 * partition + 2] = keyCount;
      firstBlocks[partition] = blocks;
      blocks += blockCount;
      keys += keyCount;
      previousDataOffset = dataOffset;
      previousIndexEnd = indexOffset + indexLength;
    }
    if (position !== end || keyBytes !== keyBytesExpected) throw corruptTopIndex(file, footer, 'payload length disagrees with the partition count');
    const firstIndexOffset = offsets[1] as number;
    if (previousDataOffset >= firstIndexOffset) throw corruptTopIndex(file, footer, 'data spans reach the index partitions');
    if (previousIndexEnd !== footer.indexOffset) throw corruptTopIndex(file, footer, 'index partitions do not end where the top-level index starts');
    if (footer.indexOffset + footer.indexLength !== footer.filterOffset || expectedFilterOffset !== footer.filterOffset + footer.filterLength) {
      throw corruptTopIndex(file, footer, 'filter area disagrees with the footer');
    }
    if (blocks !== footer.dataBlockCount || keys !== footer.keyCount) throw corruptTopIndex(file, footer, 'block or key counts disagree with the footer');
    if (lastKeys.toString('latin1', lastKeyStarts[count - 1] as number, keyBytes) !== footer.largestKey) {
      throw corruptTopIndex(file, footer, 'last partition does not end with the largest key');
    }
    lastKeyStarts[count] = keyBytes;
    firstBlocks[count] = blocks;
    return new TopLevelIndex(lastKeys, lastKeyStarts, offsets, sizes, firstBlocks, checksums, prefixes, packed);
  }

  get count(): number {
    return this.#lastKeyStarts.length - 1;
  }

  /** Bytes held (typed array contents plus their fixed overhead). */
  get memoryBytes(): number {
    return (
      TOP_INDEX_OVERHEAD_BYTES +
      this.#lastKeys.length +
      this.#lastKeyStarts.byteLength +
      this.#offsets.byteLength +
      this.#sizes.byteLength +
      this.#firstBlocks.byteLength +
      this.#checksums.byteLength
    );
  }

  dataOffset(partition: number): number {
    return this.#offsets[3 * partition] as number;
  }
  /** Where partition `partition`'s data blocks end: the next partition's data, or the first index partition. */
  dataEnd(partition: number): number {
    return partition + 1 < this.count ? this.dataOffset(partition + 1) : (this.#offsets[1] as number);
  }
  indexOffset(partition: number): number {
    return this.#offsets[3 * partition + 1] as number;
  }
  indexLength(partition: number): number {
    return this.#sizes[3 * partition] as number;
  }
  indexChecksum(partition: number): bigint {
    return checksumAt(this.#checksums, 4 * partition);
  }
  filterOffset(partition: number): number {
    return this.#offsets[3 * partition + 2] as number;
  }
  filterLength(partition: number): number {
    return this.#sizes[3 * partition + 1] as number;
  }
  filterChecksum(partition: number): bigint {
    return checksumAt(this.#checksums, 4 * partition + 2);
  }
  keyCount(partition: number): number {
    return this.#sizes[3 * partition + 2] as number;
  }
  /** Global number of the partition's first data block. */
  firstBlock(partition: number): number {
    return this.#firstBlocks[partition] as number;
  }
  blockCount(partition: number): number {
    return (this.#firstBlocks[partition + 1] as number) - (this.#firstBlocks[partition] as number);
  }

  /** The partition holding global data block `block`. */
  partitionOfBlock(block: number): number {
    assert(block >= 0 && block < (this.#firstBlocks[this.count] as number), 'data block inside the run');
    let low = 0;
    let high = this.count - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if ((this.#firstBlocks[middle] as number) <= block) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Partition `partition`'s last key as a string. */
  lastKey(partition: number): string {
    return this.#lastKeys.toString('latin1', this.#lastKeyStarts[partition] as number, this.#lastKeyStarts[partition + 1] as number);
  }

  /**
   * Every partition's last key's first four bytes as a big-endian u32, missing bytes as 0
   * (run-partitions.ts's keyPrefix of lastKey(p)), filled by decode's key loop: the
   * reader's prefix table, shared, not to be changed. Counted by the reader per
   * partition (RUN_READER_BYTES_PER_PARTITION), not in memoryBytes.
   */
  lastKeyPrefixes(): Uint32Array {
    return this.#lastKeyPrefixes;
  }

  compareLastKey(key: string, partition: number): number {
    return comparePackedKey(key, this.#lastKeys, this.#lastKeyStarts, partition);
  }

  /** First partition whose last key is >= `key` (count if none): the only one that can hold `key`. */
  firstPartitionAtOrAfter(key: string): number {
    return searchPackedKeys(key, this.#lastKeys, this.#lastKeyStarts, this.count, false);
  }

  /** First partition whose last key is > `key` (count if none). */
  firstPartitionAfter(key: string): number {
    return searchPackedKeys(key, this.#lastKeys, this.#lastKeyStarts, this.count, true);
  }
}
