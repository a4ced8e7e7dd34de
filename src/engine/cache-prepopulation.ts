/**
 * Cache prepopulation of a flush (RocksDB's prepopulate_block_cache = kFlushOnly; see
 * flusher.ts): the blocks a flush seals are offered here as they are written (kept as
 * bytes, not decoded), and once the run is installed they are decoded and go into the
 * block cache, partitions first, never evicting anything, in slices of at most
 * PREPOPULATE_BLOCKS_PER_SLICE blocks and PREPOPULATE_SLICE_MS with an event-loop turn
 * (setImmediate) between slices. Done in one synchronous step, the decode of a flush's
 * offer and its inserts each held the main thread 14-21 ms at the 256 MiB default and
 * a reported 119-195 ms on a busier machine: every commit in flight and the embedding
 * application waited for them at each flush.
 *
 * Invariants:
 * - Blocks are inserted only for a run still live at that moment and while the
 *   flusher does not ask to stop (the store closing or abandoned, a newer memtable
 *   waiting): both re-checked at the start of every slice, in the same synchronous step
 *   as that slice's inserts. The cache keys blocks by (run id, offset) and run ids are
 *   never reused, so a block inserted after its run was replaced would be wrong
 *   nowhere but would undo BlockCache#retireRun's demotion, or outlive dropRun and hold
 *   room for a file that is gone.
 * - Data blocks only while the cache is below FLUSH_PREPOPULATE_CACHE_SHARE of its
 *   bound; the bytes kept are at most the room given (undecoded) plus the run's
 *   partitions, for the length of one flush, and released as they are inserted.
 * - One synchronous step inserts at most PREPOPULATE_BLOCKS_PER_SLICE blocks and
 *   partitions (test/prepopulation-slices.test.ts).
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { BlockCache } from '../run/block-cache.js';
import { decodeDataBlock, type DecodedBlock } from '../run/data-block.js';
import type { CheckedBlock } from '../run/run-file.js';
import { decodeFilter, decodeIndexPartition, FILTER_PARTITION_OVERHEAD_BYTES } from '../run/run-metadata.js';
import type { RunPartition } from '../run/run-partitions.js';
import type { RunReader } from '../run/run-reader.js';
import type { TopLevelIndex } from '../run/run-top-index.js';
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
 * Most blocks (data blocks, index and filter partitions) decoded and inserted in one
 * synchronous step: about 7-15 us each measured (busy machine), so a slice takes well
 * under a millisecond to a few on a loaded one.
 */
export const PREPOPULATE_BLOCKS_PER_SLICE = 64;
/** A slice also ends once it ran this long (a slow machine's slices stay short). */
export const PREPOPULATE_SLICE_MS = 2;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * What one flush offers the block cache: copies of the sealed data blocks' bytes while
 * they sum to at most `roomBytes` (the cache's free room below its share when the flush
 * started; a block decodes to more than its bytes, so this keeps a superset of what
 * fits), and the index and filter partitions (the run's metadata, a few percent of
 * it). Decoded as a read decodes them only when inserted (insert). Memory: at most
 * `roomBytes` of data block bytes plus the run's partitions, for the length of a flush.
 */
export class CachePrepopulation {
  readonly #roomBytes: number;
  #dataBytes = 0;
  #dataFull = false;
  readonly #dataBlocks: Array<{ offset: number; checked: CheckedBlock }> = [];
  readonly #indexPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];
  readonly #filterPartitions: Array<{ offset: number; checked: CheckedBlock }> = [];
  #inserting = false;

  constructor(roomBytes: number) {
    assert(roomBytes > 0, 'prepopulation has room');
    this.#roomBytes = roomBytes;
  }

  /**
   * The writer's onBlockSealed: `sealed.bytes` are reused after this returns, so they
   * are copied, unless `owned` (blocks sent back by the flush thread are this flush's own).
   * Decodes nothing (a flush thread's whole offer arrives in one loop).
   */
  readonly offer = (sealed: SealedBlock, owned = false): void => {
    assert(!this.#inserting, 'blocks are offered before the insert begins');
    if (sealed.kind === 'data') {
      if (this.#dataFull) return;
      this.#dataBytes += sealed.bytes.length;
      if (this.#dataBytes > this.#roomBytes) {
        this.#dataFull = true;
        return;
      }
    }
    const checked: CheckedBlock = { bytes: owned ? sealed.bytes : Buffer.from(sealed.bytes), payloadBytes: sealed.payloadBytes, entryCount: sealed.entryCount };
    if (sealed.kind === 'index') this.#indexPartitions.push({ offset: sealed.offset, checked });
    else if (sealed.kind === 'filter') this.#filterPartitions.push({ offset: sealed.offset, checked });
    else this.#dataBlocks.push({ offset: sealed.offset, checked });
  };

  /**
   * Opens the installed run's reader and inserts the partitions and then the data
   * blocks while each fits the cache's free room (never evicting), slice by slice
   * (module header), stopping for good at the first slice that finds the run no longer
   * live or `stop()` true. Returns how many were inserted; 0 if the reader could not
   * be opened. Called once.
   */
  async insert(handle: RunHandle, runSet: RunSet, cache: BlockCache, stop: () => boolean): Promise<number> {
    assert(!this.#inserting, 'a prepopulation is inserted once');
    this.#inserting = true;
    let reader: RunReader;
    try {
      reader = await handle.reader();
    } catch {
      this.#release();
      return 0; // best effort: the first read opens the run again and reports what failed
    }
    const top = reader.topLevelIndex;
    assert(top !== undefined && top.count === this.#indexPartitions.length && top.count === this.#filterPartitions.length, 'a flushed run is format 3 with every partition offered');
    const runId = handle.descriptor.runId;
    assert(reader.descriptor.runId === runId, 'the reader is the installed run\'s');
    const limitBytes = Math.floor(cache.maxBytes * FLUSH_PREPOPULATE_CACHE_SHARE);
    // Work items in order: partition `number` is item 2*number (filter) and 2*number+1 (index), then the data blocks.
    const partitionItems = 2 * top.count;
    const itemCount = partitionItems + this.#dataBlocks.length;
    let inserted = 0;
    let next = 0;
    while (next < itemCount) {
      // Re-checked in the same synchronous step as this slice's inserts (module header).
      if (stop() || !runSet.runs.includes(handle)) break;
      const sliceStartedMs = performance.now();
      let sliceItems = 0;
      let full = false;
      while (next < itemCount && sliceItems < PREPOPULATE_BLOCKS_PER_SLICE && (sliceItems === 0 || performance.now() - sliceStartedMs < PREPOPULATE_SLICE_MS)) {
        const item = next++;
        sliceItems++;
        if (item < partitionItems) {
          if (this.#insertPartition(reader, top, item, cache)) inserted++;
        } else if (cache.bytes < limitBytes && this.#insertDataBlock(reader.path, item - partitionItems, cache, runId)) {
          inserted++;
        } else {
          full = true;
          break;
        }
      }
      if (full) break;
      if (next < itemCount) await yieldToEventLoop();
    }
    this.#release();
    return inserted;
  }

  /** Item `item` of the partitions (filter of partition item/2 when even, its index when odd); true when held. */
  #insertPartition(reader: RunReader, top: TopLevelIndex, item: number, cache: BlockCache): boolean {
    const number = item >> 1;
    const runId = reader.descriptor.runId;
    if ((item & 1) === 0) {
      const { offset, checked } = this.#filterPartitions[number]!;
      assert(top.filterOffset(number) === offset, 'filter partitions offered in file order');
      const filter = decodeFilter(reader.path, offset, checked, top.keyCount(number), reader.footer.formatVersion);
      return cache.insertPartitionIfRoom(runId, offset, filter, FILTER_PARTITION_OVERHEAD_BYTES + filter.bits.byteLength);
    }
    const { offset, checked } = this.#indexPartitions[number]!;
    assert(top.indexOffset(number) === offset, 'index partitions offered in file order');
    const partition: RunPartition = { index: decodeIndexPartition(reader.path, top, number, checked), number, firstBlock: top.firstBlock(number) };
    return cache.insertPartitionIfRoom(runId, offset, partition, partition.index.memoryBytes);
  }

  /** Decodes data block `position` of the offer and holds it if it fits the free room; true when held. */
  #insertDataBlock(path: string, position: number, cache: BlockCache, runId: number): boolean {
    const { offset, checked } = this.#dataBlocks[position]!;
    const block: DecodedBlock = decodeDataBlock(path, offset, checked.bytes, checked.payloadBytes, checked.entryCount);
    return cache.insertIfRoom(runId, offset, block);
  }

  /** Drops the kept bytes (the flush returns only after the insert). */
  #release(): void {
    this.#dataBlocks.length = 0;
    this.#indexPartitions.length = 0;
    this.#filterPartitions.length = 0;
  }
}
