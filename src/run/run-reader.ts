/**
 * RunReader: reads one run file (docs/FORMAT.md, "Run file") that the manifest names
 * with a RunDescriptor.
 *
 * open() reads the footer (checked against the descriptor's footerChecksum, runId and
 * generation), then what the footer names (checked against it) and keeps it in memory
 * compactly (typed arrays): for run format 3 the top-level index only (TopLevelIndex);
 * for format 2 (the flat path) the whole index block (RunIndex) and filter block.
 *
 * Partitions: reads address data blocks through a partition, a RunIndex over a span
 * of data blocks. A format-3 run's index and filter partitions are read on demand
 * through the BlockCache (checked against the top-level index on every read from the
 * file); a format-2 run is one partition, its resident flat index. A point read:
 * the top-level index names the one partition that can hold the key (partitions
 * never split a key), its filter partition rules the key out or its index partition
 * names the data blocks. Cursors walk partitions in order. Global block numbers
 * (readBlock, blockCount) count data blocks across partitions in file order.
 *
 * Data blocks are read on
 * demand (on the calling thread when the file system offers readSync: a point read
 * that misses the cache then costs one positional read, no promise), checked against
 * the index's checksum, decompressed if the run is compressed, and shared through
 * the BlockCache (which holds decoded, decompressed blocks). Blocks live in stripes with parity: every block read goes through
 * StripedRunFile (src/run/run-file.ts), which rebuilds a bad or unreadable block
 * from parity, writes it back and counts it (`repairCounters`).
 *
 * Split by component: opening the file (size, footer, descriptor agreement, the
 * striped file, the partitions' resident part) in run-file-open.ts, open-time
 * metadata reads in run-metadata.ts, the point read
 * (filter, index partition, data blocks for one key) in run-point-lookup.ts, the partitions
 * (flat or top-level layout, the index/filter partition reads and their kept cache
 * slots, the blocks of a stripe) in run-partitions.ts, the read and decode of one data
 * block from the file in run-block-decode.ts, scrub and verify in
 * run-scrub.ts (RunReader.verify/scrub delegate), cursors in run-cursor.ts.
 *
 * Invariants: nothing read from the file is used before its checksum matched the
 * parent's copy; every failed check, short read or wrong address that parity cannot
 * fix is a CorruptionError naming the file and the offset, never wrong data. `memoryBytes` is what the reader
 * holds resident (format 3: the top-level index; format 2: index and filter);
 * cached partitions count in the BlockCache (test/run-memory.test.ts compares both with the heap).
 */
import type { FileSystem } from '../fs/file-system.js';
import type { KeyRange } from '../memory/memory-index.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { BlockCache } from './block-cache.js';
import type { KeyProbe } from './bloom-filter.js';
import type { DecodedBlock } from './data-block.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import { openRunCursor, type RunCursor } from './run-cursor.js';
import { RUN_PAGE_BYTES, type RunFooter } from './run-format.js';
import { readDecodedNow } from './run-block-decode.js';
import type { StripedRunFile, RepairEvent, RunRepairCounters } from './run-file.js';
import { openRunFile, type RunReaderOptions } from './run-file-open.js';
import { RunIndex } from './run-index.js';
import { dataBlockRef } from './run-point-read.js';
import { RunPointLookup } from './run-point-lookup.js';

export { NO_RUN_ENTRIES } from './run-point-read.js';
import type { RunPartition, RunPartitions } from './run-partitions.js';
import { TopLevelIndex } from './run-top-index.js';
import { RunScrubber, type RunScrubStep, type RunScrubTarget } from './run-scrub.js';
import { verifyRun, type RunVerifyResult } from './run-verify.js';

export type { RunScrubFinding, RunScrubStep } from './run-scrub.js';
export type { RunVerifyResult } from './run-verify.js';

export type { RunReaderOptions } from './run-file-open.js';

/**
 * Heap bytes of a reader beyond what it keeps resident (the reader, footer,
 * descriptor, handle, arrays). Measured by test/run-memory.test.ts: format 2, 200
 * readers of 2,000 keys grew the heap 5,490 B each, 1,350 B of it beyond the index
 * and filter; format 3 (one partition each, top-level index resident), 2,500-3,550 B
 * each across runs of the same test with 200 readers, 3,375-3,630 B with 600 (the
 * test's count now): 2,000 B of overhead puts the estimate (3,286 B) inside both.
 */
export const RUN_READER_OVERHEAD_BYTES = 2000;
/** Format 3: per partition, the two kept cache slots (array entries and, once evicted, the empty slot objects) and its last-key prefix, u32 in the top-level index and its signed copy in RunPartitions (run-partitions.ts). */
export const RUN_READER_BYTES_PER_PARTITION = 2 * (8 + 64) + 4 + 4;

export class RunReader {
  readonly descriptor: RunDescriptor;
  readonly path: string;
  readonly footer: RunFooter;
  readonly #file: StripedRunFile;
  readonly #cache: BlockCache;
  /** The run's partitions: resident layout and the kept cache slots (run-partitions.ts). */
  readonly #partitions: RunPartitions;
  /** The point read through the run (run-point-lookup.ts). */
  readonly #lookup: RunPointLookup;
  /** False: reads throw on a bad block instead of rebuilding it (verify, tests of detection). */
  readonly #repair: boolean;
  #closed = false;

  private constructor(
    descriptor: RunDescriptor,
    path: string,
    footer: RunFooter,
    file: StripedRunFile,
    hash: Hash64,
    cache: BlockCache,
    partitions: RunPartitions,
    repair: boolean,
  ) {
    this.#repair = repair;
    this.descriptor = descriptor;
    this.path = path;
    this.footer = footer;
    this.#file = file;
    this.#cache = cache;
    this.#partitions = partitions;
    this.#lookup = new RunPointLookup(descriptor, hash, cache, partitions, file, footer.compression, repair);
  }

  static async open(
    fileSystem: FileSystem,
    runsDirectory: string,
    descriptor: RunDescriptor,
    hash: Hash64,
    cache: BlockCache,
    options: RunReaderOptions = {},
  ): Promise<RunReader> {
    const { path, footer, file, partitions, repair } = await openRunFile(fileSystem, runsDirectory, descriptor, hash, cache, options);
    return new RunReader(descriptor, path, footer, file, hash, cache, partitions, repair);
  }

  get runId(): number {
    return this.descriptor.runId;
  }

  /** Bytes held resident: format 3 the top-level index, format 2 the index and filter (and the reader's fixed overhead). */
  get memoryBytes(): number {
    const { top, flat, flatFilter } = this.#partitions;
    if (top !== undefined) return RUN_READER_OVERHEAD_BYTES + top.memoryBytes + top.count * RUN_READER_BYTES_PER_PARTITION;
    return RUN_READER_OVERHEAD_BYTES + flat!.index.memoryBytes + flatFilter!.bits.byteLength;
  }

  /** Data blocks in the run (global block numbers run from 0 to this). */
  get blockCount(): number {
    return this.footer.dataBlockCount;
  }

  // ---- Partitions (@internal for RunCursor and the scrubber) ----

  /** Format 3: the resident top-level index (undefined for format 2). @internal for tests and tools */
  get topLevelIndex(): TopLevelIndex | undefined {
    return this.#partitions.top;
  }

  get partitionCount(): number {
    return this.#partitions.count;
  }

  /** The first partition whose last key is >= `key` (partitionCount if none): the only one that can hold `key`. */
  partitionAtOrAfter(key: string): number {
    return this.#partitions.atOrAfter(key);
  }

  /** The first partition whose last key is > `key` (partitionCount if none). */
  partitionAfter(key: string): number {
    return this.#partitions.after(key);
  }

  /** Partition `number` (run-partitions.ts): resident, cached, or read and checked; with `fillCache`, offered to the cache. */
  partition(number: number, fillCache = true): RunPartition | Promise<RunPartition> {
    this.#checkOpen();
    return this.#partitions.partition(number, fillCache);
  }

  // ---- Point reads (run-point-lookup.ts) ----

  /**
   * False: the run has no entry for `key`. True: it may have. Format 3 may read the
   * key's filter partition (a promise when it is not cached and the file reads asynchronously).
   */
  mayContain(key: string, probe?: KeyProbe): boolean | Promise<boolean> {
    this.#checkOpen();
    return this.#lookup.mayContain(key, probe);
  }

  /** Every version of `key` in this run, newest first (a tombstone has value undefined). */
  async versions(key: string): Promise<RunEntry[]> {
    return this.versionsSyncWhenCached(key);
  }

  /** pointVersions() in an array of the caller's own (tests, tools). */
  versionsSyncWhenCached(key: string): RunEntry[] | Promise<RunEntry[]> {
    const found = this.pointVersions(key);
    return found instanceof Promise ? found.then((entries) => entries.slice()) : found.slice();
  }

  /**
   * versions(), synchronous when the filter rules the key out, every block needed
   * (partitions included) is cached, or the file reads synchronously
   * (FileHandle.readSync) and each block read passes its check: no promise, no
   * microtask per run on the hot path. A block that needs repair, or a file without
   * readSync, continues as a promise. `untilVersion`, `untilCount`: stop early;
   * `seekVersion`: skip the blocks above it (RunPointLookup.pointVersions); by default
   * every entry of the key.
   */
  pointVersions(key: string, probe?: KeyProbe, untilVersion = -1, untilCount = 1, seekVersion = -1): readonly RunEntry[] | Promise<readonly RunEntry[]> {
    this.#checkOpen();
    return this.#lookup.pointVersions(key, probe, untilVersion, untilCount, seekVersion);
  }

  /** The newest entry of `key` with version <= `version` (a tombstone included), if any. */
  async entryAsOf(key: string, version: number): Promise<RunEntry | undefined> {
    if (version < this.descriptor.minVersion || !(await this.mayContain(key))) return undefined;
    const { index } = await this.partition(this.partitionAtOrAfter(key));
    for (let local = index.firstBlockAtOrAfter(key); local < index.blockCount; local++) {
      const block = await this.blockInPartition(index, local);
      let position = block.lowerBound(key);
      for (; position < block.count && block.compareKey(key, position) === 0; position++) {
        if ((block.versions[position] as number) <= version) return block.entryWithKey(position, key);
      }
      if (position < block.count) break;
    }
    return undefined;
  }

  /**
   * A cursor over `range`: forward key asc / version desc, reverse key desc / version desc.
   * `fillCache: false` (compaction, scrub-like full reads) uses cached blocks but
   * leaves the blocks it reads (partitions included) out of the cache, so one pass
   * over a whole run neither evicts the hot blocks nor churns memory.
   */
  cursor(range: KeyRange, reverse: boolean, options: { fillCache?: boolean } = {}): Promise<RunCursor> {
    this.#checkOpen();
    return openRunCursor(this, range, reverse, options.fillCache ?? true);
  }

  // ---- Data blocks inside a partition (@internal for RunCursor) ----

  /** Data block `local` of `index` from the cache, counted as a hit or a miss, or undefined. */
  blockInPartitionIfCached(index: RunIndex, local: number): DecodedBlock | undefined {
    this.#checkOpen();
    return this.#cache.get(this.runId, index.offset(local));
  }

  /** Data block `local` of `index`, from the cache or the file (offered to the cache). */
  blockInPartition(index: RunIndex, local: number): DecodedBlock | Promise<DecodedBlock> {
    return this.blockInPartitionIfCached(index, local) ?? this.readBlockInPartition(index, local, true);
  }

  /** Reads, checks and decodes data block `local` of `index`; with `fillCache`, offers it to the cache. */
  async readBlockInPartition(index: RunIndex, local: number, fillCache: boolean): Promise<DecodedBlock> {
    const decoded = await this.#readDecodedNow(index, local, this.#repair);
    return fillCache ? this.#cache.set(this.runId, index.offset(local), decoded) : decoded;
  }

  // ---- Data blocks by global number (tests, tools) ----

  /** Data block `blockIndex` from the cache (its partition too, for format 3), counted as a hit or a miss, or undefined. */
  blockIfCached(blockIndex: number): DecodedBlock | undefined {
    this.#checkOpen();
    assert(blockIndex >= 0 && blockIndex < this.blockCount, 'data block index inside the run');
    const partition = this.#partitions.cachedPartitionOfBlock(blockIndex);
    return partition === undefined ? undefined : this.blockInPartitionIfCached(partition.index, blockIndex - partition.firstBlock);
  }

  /** The data block, from the cache or the file. */
  async block(blockIndex: number): Promise<DecodedBlock> {
    const { partition, local } = await this.#partitions.locate(blockIndex, true);
    return this.blockInPartition(partition.index, local);
  }

  /** Reads, checks and decodes data block `blockIndex` without offering it to the cache. @internal */
  async readBlockWithoutFill(blockIndex: number): Promise<DecodedBlock> {
    this.#checkOpen();
    const { partition, local } = await this.#partitions.locate(blockIndex, false);
    return this.readBlockInPartition(partition.index, local, false);
  }

  /** Reads, checks and decodes data block `blockIndex`, and offers it to the cache. @internal */
  async readBlock(blockIndex: number): Promise<DecodedBlock> {
    const { partition, local } = await this.#partitions.locate(blockIndex, true);
    return this.readBlockInPartition(partition.index, local, true);
  }

  /** Repairs and unrecoverable blocks seen by this reader (the store sums them for stats()). */
  get repairCounters(): Readonly<RunRepairCounters> {
    return this.#file.counters;
  }

  /** Called once per block rebuilt from parity (and per parity page rewritten by scrub). */
  set onRepair(listener: ((event: RepairEvent) => void) | undefined) {
    this.#file.onRepair = listener;
  }

  get stripeCount(): number {
    return this.#file.layout.stripeCount((this.footer.filterOffset + this.footer.filterLength) / RUN_PAGE_BYTES);
  }

  /** Reads and checks every block and every stripe's parity, without repairing; reports problems instead of throwing on the first. */
  verify(): Promise<RunVerifyResult> {
    this.#checkOpen();
    return verifyRun(this.#scrubTarget());
  }

  /**
   * Checks every block (data, index and filter blocks or partitions, the top-level
   * index), then every stripe's parity; with `repair`, rebuilds bad blocks and
   * rewrites stale parity pages. One step per block or stripe, so a caller can pace
   * it (src/stripe/scrub.ts).
   */
  scrub(repair: boolean): AsyncGenerator<RunScrubStep> {
    this.#checkOpen();
    return new RunScrubber(this.#scrubTarget()).scrub(repair);
  }

  #scrubTarget(): RunScrubTarget {
    const reader = this;
    const partitions = this.#partitions;
    return {
      path: this.path,
      runId: this.runId,
      descriptor: this.descriptor,
      footer: this.footer,
      file: this.#file,
      partitionCount: this.partitionCount,
      partitionDataSpan: (number) => partitions.dataSpan(number),
      get stripeCount() {
        return reader.stripeCount;
      },
      metadataBlocks: () => partitions.metadataBlocks(),
      blocksInStripe: (stripe) => partitions.blocksInStripe(stripe, true),
      partition: (number, repair) => partitions.readIndexUncached(number, repair),
      dataBlockRef: (index, local) => dataBlockRef(index, local),
      readDecoded: (index, local, repair) => this.#readDecoded(index, local, repair),
      mayContain: (key) => this.mayContain(key),
    };
  }

  async #readDecoded(index: RunIndex, local: number, repair: boolean): Promise<DecodedBlock> {
    return this.#readDecodedNow(index, local, repair);
  }

  /** Reads, checks (repairing from parity) and decodes data block `local` of `index` (run-block-decode.ts): no promise when the file allows. */
  #readDecodedNow(index: RunIndex, local: number, repair: boolean): DecodedBlock | Promise<DecodedBlock> {
    this.#checkOpen();
    return readDecodedNow(this.#file, this.footer.compression, index, local, repair);
  }

  /** Closes the file; the caller drops the run's cached blocks if the file goes away (BlockCache.dropRun). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#file.close();
  }

  #checkOpen(): void {
    // The message only when it fails: a template literal as assert's argument built a string on every call (every run a point read asks).
    if (this.#closed) assert(false, `run reader ${this.path} used after close`);
  }
}
