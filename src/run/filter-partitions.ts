/**
 * The filter side of a run being written (run-writer.ts): each distinct key's filter
 * hash, and one filter partition per index partition (src/run/run-top-index.ts), a
 * bloom filter over that partition's distinct keys (docs/FORMAT.md, "Filter block").
 *
 * A partition's filter is built as soon as the partition is complete (the next one
 * has started: PartitionBuilder only adds to its last partition), and its keys'
 * hashes are dropped then. The blocks are held (header left for sealBlock) until the
 * writer seals and appends them after the top-level index, which holds their
 * checksums. So the writer holds about 10 bits per key of filter blocks (whole pages)
 * and the hashes of the keys not yet in a complete partition (8 B each), not 8 B for
 * every key of the run: a 10M-key merge's thread held ~100 MiB of ArrayBuffers with
 * every hash kept to the end (issue 7, 10M load). The bytes are the same either way.
 *
 * A key's hash is computed in JavaScript on u32 halves (src/run/xxhash64-halves.ts)
 * when the store's hash is XXH64, as it is outside tests: the same bits, no BigInt per key.
 *
 * Invariants: keys are added in run order; partitions' filters are taken in order,
 * each once, with the key count the partition was built with (asserted); building
 * yields to the event loop every FILTER_BUILD_YIELD_KEYS keys.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { filterAddHalvesRange, filterBitCount, filterProbes, RUN_FILTER_KIND_WRITTEN, storeKeyHashHalves } from './bloom-filter.js';
import { blockPages, RUN_BLOCK_HEADER_BYTES, RUN_FILTER_HEADER_BYTES, RUN_PAGE_BYTES } from './run-format.js';
import { isXxHash64, xxhash64OfKey, xxhashHalves } from './xxhash64-halves.js';

/**
 * Keys added to the bloom filter between two yields to the event loop: building the
 * filter of a 100,000-key run took 75-85 ms in one piece (compaction's longest event
 * loop stall); 4096 keys is a few ms.
 */
export const FILTER_BUILD_YIELD_KEYS = 4096;

/** A filter partition's block (header left for sealBlock) and its payload length. */
export interface FilterBlock {
  block: Buffer;
  payloadBytes: number;
}

export class FilterPartitions {
  /** Hashes as two u32 halves (first, step; see storeKeyHashHalves): key `#hashedKeyBase + n` at 2n. */
  #halves = new Uint32Array(2 * 1024);
  #hashedKeyBase = 0;
  #keyCount = 0;
  /** Partition n's filter, until taken. */
  readonly #built: Array<(FilterBlock & { keyCount: number }) | undefined> = [];
  /** The first key of the first partition without a filter. */
  #keyStart = 0;
  readonly #yieldState = { keysSinceYield: 0 };

  /** Hashes the next distinct key (run order). */
  addKey(hash: Hash64, key: string): void {
    const slot = this.#keyCount - this.#hashedKeyBase;
    if (2 * slot === this.#halves.length) {
      const grown = new Uint32Array(this.#halves.length * 2);
      grown.set(this.#halves);
      this.#halves = grown;
    }
    if (isXxHash64(hash)) {
      // The same halves storeKeyHashHalves stores (first = low u32, step = high u32 | 1), without a BigInt.
      xxhash64OfKey(key);
      this.#halves[2 * slot] = xxhashHalves[0]!;
      this.#halves[2 * slot + 1] = (xxhashHalves[1]! | 1) >>> 0;
    } else {
      storeKeyHashHalves(hash, key, this.#halves, slot);
    }
    this.#keyCount++;
  }

  /** Builds the filters of the complete partitions (every one but the last) not built yet. */
  async buildComplete(partitions: ReadonlyArray<{ readonly keyCount: number }>): Promise<void> {
    while (this.#built.length < partitions.length - 1) {
      const keyCount = partitions[this.#built.length]!.keyCount;
      this.#built.push({ ...(await this.#build(keyCount)), keyCount });
    }
  }

  /** Partition `number`'s filter (built now if it was not): in order, each once. */
  async take(number: number, keyCount: number): Promise<FilterBlock> {
    if (number === this.#built.length) this.#built.push({ ...(await this.#build(keyCount)), keyCount });
    const built = this.#built[number];
    assert(built !== undefined && built.keyCount === keyCount, 'a partition\'s filter is taken once, with its key count');
    this.#built[number] = undefined;
    return built;
  }

  async #build(keyCount: number): Promise<FilterBlock> {
    assert(this.#keyStart + keyCount <= this.#keyCount, 'a partition\'s keys are hashed');
    const filter = await filterPartitionFor(this.#halves, this.#keyStart - this.#hashedKeyBase, keyCount, this.#yieldState);
    this.#keyStart += keyCount;
    // Drop the hashes of the keys below #keyStart: the rest move to the front.
    this.#halves.copyWithin(0, 2 * (this.#keyStart - this.#hashedKeyBase), 2 * (this.#keyCount - this.#hashedKeyBase));
    this.#hashedKeyBase = this.#keyStart;
    return filter;
  }
}

/** The filter partition over keys [keyStart, keyStart + keyCount) of `halves` (header left for sealBlock). */
async function filterPartitionFor(halves: Uint32Array, keyStart: number, keyCount: number, yieldState: { keysSinceYield: number }): Promise<FilterBlock> {
  const kind = RUN_FILTER_KIND_WRITTEN;
  const probes = filterProbes(kind);
  const bitCount = filterBitCount(kind, keyCount);
  const payloadBytes = RUN_FILTER_HEADER_BYTES + bitCount / 8;
  const block = Buffer.alloc(blockPages(payloadBytes) * RUN_PAGE_BYTES);
  // Payload header: u32 bit count, u16 probe count, u16 filter kind (docs/FORMAT.md, "Filter block").
  block.writeUInt32LE(bitCount, RUN_BLOCK_HEADER_BYTES);
  block.writeUInt16LE(probes, RUN_BLOCK_HEADER_BYTES + 4);
  block.writeUInt16LE(kind, RUN_BLOCK_HEADER_BYTES + 6);
  const bits = block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  // In slices up to the next yield (the same yields as a check per key), each slice one
  // call: a call, a division and a check per key were ~45 ns of a 100 B flush's ~330 per entry.
  const end = keyStart + keyCount;
  for (let key = keyStart; key < end; ) {
    const sliceEnd = Math.min(end, key + FILTER_BUILD_YIELD_KEYS - yieldState.keysSinceYield);
    filterAddHalvesRange(kind, bits, probes, halves, key, sliceEnd);
    yieldState.keysSinceYield += sliceEnd - key;
    key = sliceEnd;
    if (yieldState.keysSinceYield === FILTER_BUILD_YIELD_KEYS) {
      yieldState.keysSinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { block, payloadBytes };
}
