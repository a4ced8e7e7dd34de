/**
 * Cache prepopulation of a flush (RocksDB's prepopulate_block_cache = kFlushOnly; see
 * flusher.ts): the blocks a flush seals are offered here as they are written, and
 * once the run is installed they go into the block cache, partitions first, never
 * evicting anything.
 *
 * Invariants: blocks are inserted only for a run still live at that moment (checked
 * in the same synchronous step as the insertions); data blocks only while the cache
 * is below FLUSH_PREPOPULATE_CACHE_SHARE of its bound; memory held is at most the
 * room given plus the run's partitions, for the length of one flush.
 */
import { Buffer } from 'node:buffer';
import { BLOCK_CACHE_BYTES_PER_ENTRY, type BlockCache } from '../run/block-cache.js';
import { decodeDataBlock, type DecodedBlock } from '../run/data-block.js';
import type { CheckedBlock } from '../run/run-file.js';
import { decodeFilter, decodeIndexPartition, FILTER_PARTITION_OVERHEAD_BYTES } from '../run/run-metadata.js';
import type { RunPartition } from '../run/run-partitions.js';
import type { RunReader } from '../run/run-reader.js';
import type { SealedBlock } from '../run/run-writer.js';
import { assert } from '../util/assert.js';
import type { RunHandle, RunSet } from './run-set.js';

/**
 * A flush prepopulates the block cache only while the cache is below this share of
 * its bound: flushed blocks are a guess at what will be read, blocks that reads
 * brought in are known to be; the rest of the room stays for them. (Filling the
 * whole cache during a 1M-key load at a 64 MiB budget raised peak RSS by ~45 MiB,
 * test/memory-budget.test.ts, and half of it still ~12 MiB there; a quarter left that
 * test's peak at 212-225 MiB against its 224 MiB bound and failed CI once. An eighth
 * still keeps the flush of the hot-get bench, ~13 MB at the 256 MiB default, cached.)
 */
export const FLUSH_PREPOPULATE_CACHE_SHARE = 0.125;

/**
 * What one flush offers the block cache: copies of the sealed data blocks, decoded
 * as a read decodes them, while their decoded sizes fit `roomBytes` (the cache's free
 * room when the flush started), and the index and filter partitions (the run's
 * metadata, a few percent of it), decoded once the reader is open. Memory: at most
 * `roomBytes` of data blocks plus the run's partitions, for the length of a flush.
 */
export class CachePrepopulation {
  readonly #path: string;
  readonly #roomBytes: number;
  #dataBytes = 0;
  #dataFull = false;
  readonly #dataBlocks: Array<{ offset: number; block: DecodedBlock }> = [];
  readonly #indexPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];
  readonly #filterPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];

  constructor(path: string, roomBytes: number) {
    assert(roomBytes > 0, 'prepopulation has room');
    this.#path = path;
    this.#roomBytes = roomBytes;
  }

  /**
   * The writer's onBlockSealed: `sealed.bytes` are reused after this returns, so they
   * are copied, unless `owned` (blocks sent back by the flush thread are this flush's own).
   */
  readonly offer = (sealed: SealedBlock, owned = false): void => {
    const checked: CheckedBlock = { bytes: owned ? sealed.bytes : Buffer.from(sealed.bytes), payloadBytes: sealed.payloadBytes, entryCount: sealed.entryCount };
    if (sealed.kind === 'index') return void this.#indexPartitions.push({ offset: sealed.offset, checked });
    if (sealed.kind === 'filter') return void this.#filterPartitions.push({ offset: sealed.offset, checked });
    if (this.#dataFull) return;
    const block = decodeDataBlock(this.#path, sealed.offset, checked.bytes, checked.payloadBytes, checked.entryCount);
    this.#dataBytes += block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    if (this.#dataBytes > this.#roomBytes) {
      this.#dataFull = true;
      return;
    }
    this.#dataBlocks.push({ offset: sealed.offset, block });
  };

  /**
   * Opens the installed run's reader and, if the run is still live, inserts the
   * partitions and then the data blocks while each fits the cache's free room (never
   * evicting). Returns how many were inserted; 0 if the reader could not be opened.
   */
  async insert(handle: RunHandle, runSet: RunSet, cache: BlockCache): Promise<number> {
    let reader: RunReader;
    try {
      reader = await handle.reader();
    } catch {
      return 0; // best effort: the first read opens the run again and reports what failed
    }
    // One synchronous step from here: the run cannot be replaced (and its blocks dropped) in between.
    if (!runSet.runs.includes(handle)) return 0;
    const top = reader.topLevelIndex;
    assert(top !== undefined && top.count === this.#indexPartitions.length && top.count === this.#filterPartitions.length, 'a flushed run is format 3 with every partition offered');
    const runId = handle.descriptor.runId;
    let inserted = 0;
    for (let number = 0; number < top.count; number++) {
      const { offset: filterOffset, checked: filterChecked } = this.#filterPartitions[number]!;
      assert(top.filterOffset(number) === filterOffset, 'filter partitions offered in file order');
      const filter = decodeFilter(reader.path, filterOffset, filterChecked, top.keyCount(number));
      if (cache.insertPartitionIfRoom(runId, filterOffset, filter, FILTER_PARTITION_OVERHEAD_BYTES + filter.bits.byteLength)) inserted++;
      const { offset: indexOffset, checked: indexChecked } = this.#indexPartitions[number]!;
      assert(top.indexOffset(number) === indexOffset, 'index partitions offered in file order');
      const partition: RunPartition = { index: decodeIndexPartition(reader.path, top, number, indexChecked), number, firstBlock: top.firstBlock(number) };
      if (cache.insertPartitionIfRoom(runId, indexOffset, partition, partition.index.memoryBytes)) inserted++;
    }
    const limitBytes = Math.floor(cache.maxBytes * FLUSH_PREPOPULATE_CACHE_SHARE);
    for (const { offset, block } of this.#dataBlocks) {
      if (cache.bytes >= limitBytes || !cache.insertIfRoom(runId, offset, block)) break;
      inserted++;
    }
    return inserted;
  }
}
