/**
 * RunPartitions: how a RunReader (run-reader.ts) finds the index and filter of a
 * run's key span: its partitions (docs/FORMAT.md, "Run file").
 *
 * A format-3 run keeps its top-level index resident (TopLevelIndex) and reads its
 * index and filter partitions on demand through the BlockCache, checked against the
 * top-level index on every read from the file; a format-2 run (the flat path) is one
 * partition, its resident flat index and filter block. read() loads what the footer
 * names at open; the reader owns the open file and its checks of the footer.
 *
 * The slot cache: the cache slots of a format-3 run's index and filter partitions are
 * kept by partition number as the cache handed them out, so a hit is a `held` check
 * and a touch, no Map lookup (a point read asks every run). A slot the cache let go
 * of holds no partition; it is replaced on the next read.
 *
 * The prefix table: a point read searches every run's top-level index (issue 7: ~40
 * runs after a 10M load, the search ~16% of the per-run cost of a get, string-to-bytes
 * comparisons). The search compares u32 prefixes first (each partition's last key's
 * first four bytes, big-endian, zero padded: an order-preserving map, so a smaller
 * prefix means a smaller key) and reads a last key's bytes only on a tie. The table
 * holds them signed (top bit flipped: the same order as int32s, key-prefix.ts), and a
 * point read brings its key's prefix in its KeyProbe: as u32s, the ones above 2^31 were
 * doubles to V8 and the search ran in floating point, its bounds included.
 *
 * Invariants: a run is flat (format 2) or partitioned (format 3), never both, asserted;
 * nothing read from the file is used before its checksum matched the parent's copy
 * (StripedRunFile checks every block); a partition never splits a key, so the one
 * partition whose last key is >= a key is the only one that can hold it.
 */
import { CorruptionError } from '../errors.js';
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import type { BlockCache, PartitionSlot } from './block-cache.js';
import { isPartitionedFormat, RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES, type RunFooter } from './run-format.js';
import type { BlockRef, CheckedBlock, StripedRunFile } from './run-file.js';
import type { RunIndex } from './run-index.js';
import {
  decodeFilter,
  decodeIndexPartition,
  FILTER_PARTITION_OVERHEAD_BYTES,
  filterPartitionRef,
  indexPartitionRef,
  metadataBlocks,
  overlapsStripe,
  partitionBlocks,
  readFilter,
  readIndex,
  type RunFilter,
} from './run-metadata.js';
import { dataBlockRef } from './run-point-read.js';
import { TopLevelIndex } from './run-top-index.js';
import { signedKeyPrefix, signedPrefix } from './key-prefix.js';

export { keyPrefix } from './key-prefix.js';

/** What a point read or cursor needs of one partition: its index, and where its blocks sit in the global numbering. */
export interface RunPartition {
  readonly index: RunIndex;
  readonly number: number;
  readonly firstBlock: number;
}

export class RunPartitions {
  readonly #file: StripedRunFile;
  readonly #footer: RunFooter;
  readonly #cache: BlockCache;
  readonly #runId: number;
  /** False: reads throw on a bad block instead of rebuilding it. */
  readonly #repair: boolean;
  /** Format 2: the flat index as the run's one partition, and the filter block. */
  readonly flat: RunPartition | undefined;
  readonly flatFilter: RunFilter | undefined;
  /** Format 3: the resident top-level index. */
  readonly top: TopLevelIndex | undefined;
  /** Format 3: each partition's last key's prefix, signed (signedPrefix of keyPrefix; see the module header). */
  readonly #lastKeyPrefixes: Int32Array;
  /** Format 3: the kept cache slots of the index and filter partitions, by partition number (see the module header). */
  readonly #indexSlots: Array<PartitionSlot<RunPartition> | undefined>;
  readonly #filterSlots: Array<PartitionSlot<RunFilter> | undefined>;

  private constructor(
    file: StripedRunFile,
    footer: RunFooter,
    cache: BlockCache,
    runId: number,
    layout: { flatIndex: RunIndex; flatFilter: RunFilter } | { top: TopLevelIndex },
    repair: boolean,
  ) {
    this.#file = file;
    this.#footer = footer;
    this.#cache = cache;
    this.#runId = runId;
    this.#repair = repair;
    // Filled arrays of the final length (packed elements, not a dictionary grown by far indexes).
    const partitionCount = 'top' in layout ? layout.top.count : 0;
    this.count = 'top' in layout ? layout.top.count : 1;
    this.#indexSlots = new Array<PartitionSlot<RunPartition> | undefined>(partitionCount).fill(undefined);
    this.#filterSlots = new Array<PartitionSlot<RunFilter> | undefined>(partitionCount).fill(undefined);
    if ('top' in layout) {
      this.top = layout.top;
      // Signed (int32) copies: the search compares small integers (key-prefix.ts, signedPrefix).
      this.#lastKeyPrefixes = Int32Array.from(layout.top.lastKeyPrefixes(), signedPrefix);
    } else {
      this.#lastKeyPrefixes = new Int32Array(0);
      this.flat = { index: layout.flatIndex, number: 0, firstBlock: 0 };
      this.flatFilter = layout.flatFilter;
    }
    assert((this.top === undefined) !== (this.flat === undefined), 'a reader is flat (format 2) or partitioned (format 3)');
  }

  /**
   * Reads what the (checked) footer names: format 3 the top-level index (through
   * readBlockNow: no thread-pool hop when the handle reads synchronously and the block
   * passes), format 2 the index and filter blocks.
   */
  static async read(file: StripedRunFile, footer: RunFooter, cache: BlockCache, runId: number, repair: boolean): Promise<RunPartitions> {
    const layout =
      isPartitionedFormat(footer.formatVersion)
        ? { top: await readTopIndexNow(file, footer, repair) }
        : { flatIndex: await readIndex(file, footer, repair), flatFilter: await readFilter(file, footer, repair) };
    return new RunPartitions(file, footer, cache, runId, layout, repair);
  }

  /** Partitions in the run (format 2: its one flat partition). A field, not a getter through the top-level index: a point read reads it for every run it asks. */
  readonly count: number;

  /** The first partition whose last key is >= `key` (count if none): the only one that can hold `key`. */
  atOrAfter(key: string): number {
    return this.top === undefined ? this.#flatAtOrAfter(key) : this.atOrAfterPrefix(key, signedKeyPrefix(key));
  }

  /** atOrAfter, with `key`'s signedKeyPrefix already known (a point read's KeyProbe carries it: computed once per read, not per run). */
  atOrAfterPrefix(key: string, wanted: number): number {
    const top = this.top;
    if (top !== undefined) {
      // The prefix table first; a last key's bytes only on a tie (see the module header).
      const prefixes = this.#lastKeyPrefixes;
      let low = 0;
      // `| 0`: a typed array's length is no small integer to V8's compiler (it may pass 2^31), and the search's bounds were kept as doubles, converted at every step.
      let high = prefixes.length | 0;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const prefix = prefixes[middle] as number;
        if (prefix < wanted || (prefix === wanted && top.compareLastKey(key, middle) > 0)) low = middle + 1;
        else high = middle;
      }
      if (debugEnabled()) assert(low === top.firstPartitionAtOrAfter(key), 'the prefix search finds the partition the key search finds');
      return low;
    }
    return this.#flatAtOrAfter(key);
  }

  #flatAtOrAfter(key: string): number {
    const index = this.flat!.index;
    return index.compareLastKey(key, index.blockCount - 1) <= 0 ? 0 : 1;
  }

  /** The first partition whose last key is > `key` (count if none). */
  after(key: string): number {
    if (this.top !== undefined) return this.top.firstPartitionAfter(key);
    const index = this.flat!.index;
    return index.compareLastKey(key, index.blockCount - 1) < 0 ? 0 : 1;
  }

  /**
   * Partition `number`: the flat index, or the index partition from the cache, else
   * read and checked (on the calling thread when the file allows) and, with
   * `fillCache`, offered to the cache.
   */
  partition(number: number, fillCache: boolean): RunPartition | Promise<RunPartition> {
    if (this.flat !== undefined) return this.flat;
    const top = this.top!;
    assert(number >= 0 && number < top.count, 'partition inside the run');
    const kept = this.#indexSlots[number];
    if (kept !== undefined && kept.held) {
      this.#cache.touchPartition(kept);
      return kept.partition!;
    }
    const offset = top.indexOffset(number);
    const cached = this.#cache.lookupPartition<RunPartition>(this.#runId, offset);
    if (cached !== undefined) {
      this.#indexSlots[number] = cached;
      return cached.partition!;
    }
    const checked = this.#file.readBlockNow(indexPartitionRef(top, number), this.#repair);
    return checked instanceof Promise ? this.#partitionOnceRead(checked, number, fillCache) : this.#decodePartition(checked, number, fillCache);
  }

  /**
   * The asynchronous and decode steps of partition() and filter() are methods, not
   * closures: a closure over a hot function's locals makes V8 allocate their context
   * on every call, the cached path's included (a point read asks every run).
   */
  async #partitionOnceRead(pending: Promise<CheckedBlock>, number: number, fillCache: boolean): Promise<RunPartition> {
    return this.#decodePartition(await pending, number, fillCache);
  }

  /** Index partition `number` from its checked block; with `fillCache`, offered to the cache and its slot kept. */
  #decodePartition(checked: CheckedBlock, number: number, fillCache: boolean): RunPartition {
    const top = this.top!;
    const partition: RunPartition = { index: decodeIndexPartition(this.#file.path, top, number, checked), number, firstBlock: top.firstBlock(number) };
    if (!fillCache) return partition;
    const slot = this.#cache.setPartition(this.#runId, top.indexOffset(number), partition, partition.index.memoryBytes);
    this.#indexSlots[number] = slot.held ? slot : undefined;
    return slot.partition ?? partition;
  }

  /** Filter partition `number` (format 2: the filter block): from the cache, else read, checked and cached. */
  filter(number: number): RunFilter | Promise<RunFilter> {
    if (this.flatFilter !== undefined) return this.flatFilter;
    const top = this.top!;
    const kept = this.#filterSlots[number];
    if (kept !== undefined && kept.held) {
      this.#cache.touchPartition(kept);
      return kept.partition!;
    }
    const offset = top.filterOffset(number);
    const cached = this.#cache.lookupPartition<RunFilter>(this.#runId, offset);
    if (cached !== undefined) {
      this.#filterSlots[number] = cached;
      return cached.partition!;
    }
    const checked = this.#file.readBlockNow(filterPartitionRef(top, number), this.#repair);
    return checked instanceof Promise ? this.#filterOnceRead(checked, number) : this.#decodeFilter(checked, number);
  }

  async #filterOnceRead(pending: Promise<CheckedBlock>, number: number): Promise<RunFilter> {
    return this.#decodeFilter(await pending, number);
  }

  /** Filter partition `number` from its checked block, offered to the cache and its slot kept. */
  #decodeFilter(checked: CheckedBlock, number: number): RunFilter {
    const top = this.top!;
    const offset = top.filterOffset(number);
    const filter = decodeFilter(this.#file.path, offset, checked, top.keyCount(number), this.#footer.formatVersion);
    const slot = this.#cache.setPartition(this.#runId, offset, filter, FILTER_PARTITION_OVERHEAD_BYTES + filter.bits.byteLength);
    this.#filterSlots[number] = slot.held ? slot : undefined;
    return slot.partition ?? filter;
  }

  /** The partition holding global data block `blockIndex` (with `fillCache`, offered to the cache), and the block's number inside it. */
  async locate(blockIndex: number, fillCache: boolean): Promise<{ partition: RunPartition; local: number }> {
    assert(blockIndex >= 0 && blockIndex < this.#footer.dataBlockCount, 'data block index inside the run');
    const number = this.top === undefined ? 0 : this.top.partitionOfBlock(blockIndex);
    const partition = await this.partition(number, fillCache);
    return { partition, local: blockIndex - partition.firstBlock };
  }

  /** The partition holding global data block `blockIndex` if it is resident or cached (counted as a hit or a miss). */
  cachedPartitionOfBlock(blockIndex: number): RunPartition | undefined {
    return this.flat ?? this.#cache.getPartition<RunPartition>(this.#runId, this.top!.indexOffset(this.top!.partitionOfBlock(blockIndex)));
  }

  /** Index partition `number` read from the file, uncached (scrub); format 2: the flat index. */
  async readIndexUncached(number: number, repair: boolean): Promise<RunIndex> {
    const top = this.top;
    if (top === undefined) return this.flat!.index;
    return decodeIndexPartition(this.#file.path, top, number, await this.#file.readBlock(indexPartitionRef(top, number), repair));
  }

  /** Where partition `number`'s data blocks sit in the file. */
  dataSpan(number: number): { start: number; end: number } {
    const top = this.top;
    return top === undefined ? { start: 0, end: this.#footer.indexOffset } : { start: top.dataOffset(number), end: top.dataEnd(number) };
  }

  /** The footer's metadata blocks, and format 3's index and filter partitions. */
  metadataBlocks(): BlockRef[] {
    return this.top === undefined ? metadataBlocks(this.#footer) : [...metadataBlocks(this.#footer), ...partitionBlocks(this.top)];
  }

  /**
   * Every block with a page in `stripe` (format 3: reads the index partitions whose data spans
   * it, uncached; one that fails its check is left out, or with `strict` its error is thrown).
   */
  async blocksInStripe(stripe: number, strict = false): Promise<BlockRef[]> {
    const blocks: BlockRef[] = [];
    const layout = this.#file.layout;
    const stripeStart = stripe * layout.stripeDataPages * RUN_PAGE_BYTES;
    const stripeEnd = stripeStart + layout.stripeDataPages * RUN_PAGE_BYTES;
    const indexes: RunIndex[] = [];
    if (this.flat !== undefined) {
      indexes.push(this.flat.index);
    } else {
      const top = this.top!;
      for (let number = 0; number < top.count && top.dataOffset(number) < stripeEnd; number++) {
        if (top.dataEnd(number) <= stripeStart) continue;
        const checked = await this.#file.readBlock(indexPartitionRef(top, number), false).catch((error: unknown) => {
          if (!strict && (error instanceof CorruptionError || isRepairableReadError(error))) return undefined;
          throw error;
        });
        if (checked !== undefined) indexes.push(decodeIndexPartition(this.#file.path, top, number, checked));
      }
      blocks.push(...partitionBlocks(top).filter((block) => overlapsStripe(layout, block, stripe)));
    }
    for (const index of indexes) {
      let low = 0;
      let high = index.blockCount;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (index.offset(middle) + index.lengthBytes(middle) <= stripeStart) low = middle + 1;
        else high = middle;
      }
      for (let local = low; local < index.blockCount; local++) {
        const block = dataBlockRef(index, local);
        if (!overlapsStripe(layout, block, stripe)) break;
        blocks.push(block);
      }
    }
    return [...blocks, ...metadataBlocks(this.#footer).filter((block) => overlapsStripe(layout, block, stripe))];
  }
}

/** readTopIndex (run-metadata.ts) through readBlockNow: no thread-pool hop when the handle reads synchronously and the block passes. */
function readTopIndexNow(file: StripedRunFile, footer: RunFooter, repair: boolean): TopLevelIndex | Promise<TopLevelIndex> {
  const decode = ({ bytes, payloadBytes, entryCount }: CheckedBlock): TopLevelIndex =>
    TopLevelIndex.decode(file.path, footer, bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes), entryCount);
  const checked = file.readBlockNow(metadataBlocks(footer)[0] as BlockRef, repair);
  return checked instanceof Promise ? checked.then(decode) : decode(checked);
}
