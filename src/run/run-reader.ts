/**
 * RunReader: reads one run file (docs/FORMAT.md, "Run file") that the manifest names
 * with a RunDescriptor.
 *
 * open() reads the footer (checked against the descriptor's footerChecksum, runId and
 * generation), then the index and filter blocks (checked against the footer) and keeps
 * them in memory compactly (typed arrays, see RunIndex); data blocks are read on
 * demand (on the calling thread when the file system offers readSync: a point read
 * that misses the cache then costs one positional read, no promise), checked against
 * the index's checksum, decompressed if the run is compressed, and shared through
 * the BlockCache (which holds decoded, decompressed blocks). Blocks live in stripes with parity: every block read goes through
 * StripedRunFile (src/run/run-file.ts), which rebuilds a bad or unreadable block
 * from parity, writes it back and counts it (`repairCounters`).
 *
 * Split by component: open-time metadata reads in run-metadata.ts, scrub and verify
 * in run-scrub.ts (RunReader.verify/scrub delegate), cursors in run-cursor.ts.
 *
 * Invariants: nothing read from the file is used before its checksum matched the
 * parent's copy; every failed check, short read or wrong address that parity cannot
 * fix is a CorruptionError naming the file and the offset, never wrong data. `memoryBytes` is what the reader
 * holds for index and filter (test/run-memory.test.ts compares it with the heap).
 */
import { Buffer } from 'node:buffer';
import { asTypedError, CorruptionError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import type { KeyRange } from '../memory/memory-index.js';
import { KEY_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { BlockCache } from './block-cache.js';
import { bloomMayContainKey } from './bloom-filter.js';
import { decodeDataBlock, type DecodedBlock } from './data-block.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import { openRunCursor, type RunCursor } from './run-cursor.js';
import { BlockKind, decodeFooter, parseChecksumHex, RUN_BLOCK_HEADER_BYTES, RUN_PAGE_BYTES, RunCompression, type RunFooter } from './run-format.js';
import { decompressPayload } from './block-compression.js';
import { releaseReadScratch, StripedRunFile, takeReadScratch, type BlockRef, type CheckedBlock, type RepairEvent, type RunRepairCounters } from './run-file.js';
import { STRIPE_DATA_PAGES_MIN } from '../stripe/parity.js';
import { StripeLayout } from '../stripe/stripe-layout.js';
import { RunIndex } from './run-index.js';
import { checkDescriptorAgrees, metadataBlocks, overlapsStripe, readFilter, readIndex, readPage } from './run-metadata.js';
import { RunScrubber, type RunScrubStep, type RunVerifyResult } from './run-scrub.js';

export type { RunScrubFinding, RunScrubStep, RunVerifyResult } from './run-scrub.js';

export interface RunReaderOptions {
  /** Rebuild bad blocks from parity and write them back (default true); false only detects. */
  repair?: boolean;
  /** Called once per repair (a block rebuilt, a parity page rewritten). */
  onRepair?: (event: RepairEvent) => void;
}

/**
 * Heap bytes of a reader beyond its index and filter contents (the reader, footer,
 * descriptor, handle, filter array). Measured by test/run-memory.test.ts with run
 * format 2: 200 readers of 2,000 keys grew the heap 5,490 B each, 1,350 B of it
 * beyond the index and filter.
 */
export const RUN_READER_OVERHEAD_BYTES = 1400;

export class RunReader {
  readonly descriptor: RunDescriptor;
  readonly path: string;
  readonly footer: RunFooter;
  readonly #file: StripedRunFile;
  readonly #hash: Hash64;
  readonly #cache: BlockCache;
  readonly #index: RunIndex;
  readonly #filterBits: Uint8Array;
  readonly #filterProbes: number;
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
    index: RunIndex,
    filter: { bits: Uint8Array; probes: number },
    repair: boolean,
  ) {
    this.#repair = repair;
    this.descriptor = descriptor;
    this.path = path;
    this.footer = footer;
    this.#file = file;
    this.#hash = hash;
    this.#cache = cache;
    this.#index = index;
    this.#filterBits = filter.bits;
    this.#filterProbes = filter.probes;
  }

  static async open(
    fileSystem: FileSystem,
    runsDirectory: string,
    descriptor: RunDescriptor,
    hash: Hash64,
    cache: BlockCache,
    options: RunReaderOptions = {},
  ): Promise<RunReader> {
    const repair = options.repair ?? true;
    const path = joinPath(runsDirectory, descriptor.fileName);
    let handle: FileHandle;
    try {
      handle = await fileSystem.open(path, 'read');
    } catch (error) {
      throw asTypedError(error, `opening run ${path}`);
    }
    try {
      const sizeBytes = await handle.size();
      if (sizeBytes !== descriptor.fileBytes || sizeBytes % RUN_PAGE_BYTES !== 0 || sizeBytes < (STRIPE_DATA_PAGES_MIN + 2) * RUN_PAGE_BYTES) {
        throw new CorruptionError(path, Math.min(sizeBytes, descriptor.fileBytes), `file is ${sizeBytes} bytes, the manifest says ${descriptor.fileBytes}`);
      }
      const footerOffset = sizeBytes - RUN_PAGE_BYTES;
      const page = Buffer.alloc(RUN_PAGE_BYTES);
      await readPage(handle, path, page, footerOffset);
      const footer = decodeFooter(hash, path, page, footerOffset, {
        runId: descriptor.runId,
        generation: descriptor.generation,
        checksum: parseChecksumHex(descriptor.footerChecksum),
        fileBytes: sizeBytes,
      });
      checkDescriptorAgrees(path, footerOffset, footer, descriptor);
      const file = new StripedRunFile(fileSystem, handle, path, hash, footer, new StripeLayout(footer.stripeDataPages, RUN_PAGE_BYTES));
      file.blocksInStripe = (stripe) => metadataBlocks(footer).filter((block) => overlapsStripe(file.layout, block, stripe));
      file.onRepair = options.onRepair;
      const index = await readIndex(file, footer, repair);
      const filter = await readFilter(file, footer, repair);
      const reader = new RunReader(descriptor, path, footer, file, hash, cache, index, filter, repair);
      file.blocksInStripe = (stripe) => reader.#blocksInStripe(stripe);
      return reader;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  get runId(): number {
    return this.descriptor.runId;
  }

  /** Bytes held for the index and the filter (and the reader's fixed overhead). */
  get memoryBytes(): number {
    return RUN_READER_OVERHEAD_BYTES + this.#index.memoryBytes + this.#filterBits.byteLength;
  }

  get blockCount(): number {
    return this.#index.blockCount;
  }

  /** @internal for RunCursor */
  get index(): RunIndex {
    return this.#index;
  }

  /** False: the run has no entry for `key`. True: it may have. */
  mayContain(key: string): boolean {
    this.#checkOpen();
    if (key.length === 0 || key.length > KEY_BYTES_MAX) return false;
    if (key < this.descriptor.smallestKey || key > this.descriptor.largestKey) return false;
    return bloomMayContainKey(this.#filterBits, this.#filterProbes, this.#hash, key);
  }

  /** Every version of `key` in this run, newest first (a tombstone has value undefined). */
  async versions(key: string): Promise<RunEntry[]> {
    return this.versionsSyncWhenCached(key);
  }

  /**
   * versions(), synchronous when the filter rules the key out, every block needed
   * is cached, or the file reads synchronously (FileHandle.readSync) and each block
   * read passes its check: no promise, no microtask per run on the hot path. A
   * block that needs repair, or a file without readSync, continues as a promise.
   */
  versionsSyncWhenCached(key: string): RunEntry[] | Promise<RunEntry[]> {
    const result: RunEntry[] = [];
    if (!this.mayContain(key)) return result;
    for (let blockIndex = this.#index.firstBlockAtOrAfter(key); blockIndex < this.#index.blockCount; blockIndex++) {
      const ended = this.#collectBlock(blockIndex, key, result);
      if (ended instanceof Promise) return this.#versionsFrom(key, blockIndex, result, ended);
      if (ended) break;
    }
    return result;
  }

  /**
   * The rest of versions() once block `blockIndex` went asynchronous (`pending`: its
   * entries collected, and whether the key ends in it), from the next block on.
   */
  async #versionsFrom(key: string, blockIndex: number, result: RunEntry[], pending: Promise<boolean>): Promise<RunEntry[]> {
    if (await pending) return result;
    for (let next = blockIndex + 1; next < this.#index.blockCount; next++) {
      if (await this.#collectBlock(next, key, result)) break;
    }
    return result;
  }

  /**
   * Appends `key`'s entries in block `blockIndex` to `result`; true when the key ends
   * in it. From the cache (one hit or miss counted); else read, and cached if the
   * cache admits it; a block it does not admit (full cache, first miss) is read into
   * a scratch buffer and only the key's entries are copied out (plain runs only).
   */
  #collectBlock(blockIndex: number, key: string, result: RunEntry[]): boolean | Promise<boolean> {
    const cached = this.blockIfCached(blockIndex);
    if (cached !== undefined) return collectVersions(cached, key, result);
    const offset = this.#index.offset(blockIndex);
    if (this.footer.compression === RunCompression.none && !this.#cache.admits(this.runId, offset, this.#index.lengthBytes(blockIndex))) {
      return this.#collectUncached(blockIndex, key, result);
    }
    const block = this.#readBlockNow(blockIndex);
    return block instanceof Promise ? block.then((decoded) => collectVersions(decoded, key, result)) : collectVersions(block, key, result);
  }

  /** #collectBlock for a block left out of the cache: read into scratch, checked, decoded, the key's values copied. */
  #collectUncached(blockIndex: number, key: string, result: RunEntry[]): boolean | Promise<boolean> {
    this.#checkOpen();
    assert(this.footer.compression === RunCompression.none, 'scratch reads of plain blocks only (a compressed block already uses the scratch)');
    const scratch = takeReadScratch(this.#index.lengthBytes(blockIndex));
    let checked: CheckedBlock | Promise<CheckedBlock>;
    try {
      checked = this.#file.readBlockNow(this.#dataBlockRef(blockIndex), this.#repair, scratch);
    } catch (error) {
      releaseReadScratch(scratch);
      throw error;
    }
    if (checked instanceof Promise) {
      return checked.then((block) => this.#collectCopies(blockIndex, block, key, result)).finally(() => releaseReadScratch(scratch));
    }
    try {
      return this.#collectCopies(blockIndex, checked, key, result);
    } finally {
      releaseReadScratch(scratch);
    }
  }

  #collectCopies(blockIndex: number, checked: CheckedBlock, key: string, result: RunEntry[]): boolean {
    const block = this.#decodeChecked(blockIndex, checked, undefined);
    const before = result.length;
    const ended = collectVersions(block, key, result);
    for (let index = before; index < result.length; index++) {
      const entry = result[index] as RunEntry;
      // The scratch is reused by the next read: values leave it as copies.
      if (entry.value !== undefined) result[index] = { key: entry.key, version: entry.version, value: Buffer.from(entry.value) };
    }
    return ended;
  }

  /** A block the cache missed, read and offered to the cache: on the calling thread when the file allows. */
  #readBlockNow(blockIndex: number): DecodedBlock | Promise<DecodedBlock> {
    const decoded = this.#readDecodedNow(blockIndex, this.#repair);
    if (decoded instanceof Promise) return decoded.then((block) => this.#cache.set(this.runId, this.#index.offset(blockIndex), block));
    return this.#cache.set(this.runId, this.#index.offset(blockIndex), decoded);
  }

  /** The newest entry of `key` with version <= `version` (a tombstone included), if any. */
  async entryAsOf(key: string, version: number): Promise<RunEntry | undefined> {
    if (!this.mayContain(key) || version < this.descriptor.minVersion) return undefined;
    for (let blockIndex = this.#index.firstBlockAtOrAfter(key); blockIndex < this.#index.blockCount; blockIndex++) {
      const block = await this.block(blockIndex);
      let position = block.lowerBound(key);
      for (; position < block.count && block.compareKey(key, position) === 0; position++) {
        if ((block.versions[position] as number) <= version) return block.entryWithKey(position, key);
      }
      if (position < block.count) break;
    }
    return undefined;
  }

  /** A cursor over `range`: forward key asc / version desc, reverse key desc / version desc. */
  /**
   * A cursor over `range`. `fillCache: false` (compaction, scrub-like full reads)
   * uses cached blocks but leaves the blocks it reads out of the cache, so one pass
   * over a whole run neither evicts the hot blocks nor churns memory.
   */
  cursor(range: KeyRange, reverse: boolean, options: { fillCache?: boolean } = {}): Promise<RunCursor> {
    this.#checkOpen();
    return openRunCursor(this, range, reverse, options.fillCache ?? true);
  }

  /** The data block from the cache, counted as a hit or a miss, or undefined. @internal */
  blockIfCached(blockIndex: number): DecodedBlock | undefined {
    this.#checkOpen();
    return this.#cache.get(this.runId, this.#index.offset(blockIndex));
  }

  /** The data block, from the cache or the file. */
  block(blockIndex: number): Promise<DecodedBlock> | DecodedBlock {
    return this.blockIfCached(blockIndex) ?? this.readBlock(blockIndex);
  }

  /** Reads, checks and decodes data block `blockIndex` without offering it to the cache. @internal */
  readBlockWithoutFill(blockIndex: number): Promise<DecodedBlock> {
    this.#checkOpen();
    return this.readBlockUncached(blockIndex);
  }

  /** Reads, checks and decodes data block `blockIndex`, and offers it to the cache. @internal */
  async readBlock(blockIndex: number): Promise<DecodedBlock> {
    const decoded = await this.readBlockUncached(blockIndex);
    return this.#cache.set(this.runId, this.#index.offset(blockIndex), decoded);
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
    return this.#scrubber().verify();
  }

  /**
   * Checks every block (data, index, filter), then every stripe's parity; with
   * `repair`, rebuilds bad blocks and rewrites stale parity pages. One step per
   * block or stripe, so a caller can pace it (src/stripe/scrub.ts).
   */
  scrub(repair: boolean): AsyncGenerator<RunScrubStep> {
    this.#checkOpen();
    return this.#scrubber().scrub(repair);
  }

  #scrubber(): RunScrubber {
    const reader = this;
    return new RunScrubber({
      path: this.path,
      runId: this.runId,
      descriptor: this.descriptor,
      footer: this.footer,
      file: this.#file,
      index: this.#index,
      get stripeCount() {
        return reader.stripeCount;
      },
      dataBlockRef: (blockIndex) => this.#dataBlockRef(blockIndex),
      readDecoded: (blockIndex, repair) => this.#readDecoded(blockIndex, repair),
      mayContain: (key) => this.mayContain(key),
    });
  }

  #dataBlockRef(blockIndex: number): BlockRef {
    return { logicalOffset: this.#index.offset(blockIndex), lengthBytes: this.#index.lengthBytes(blockIndex), kind: BlockKind.data, checksum: this.#index.checksum(blockIndex) };
  }

  /** Every block with a page in `stripe`. */
  #blocksInStripe(stripe: number): BlockRef[] {
    const stripeStart = stripe * this.#file.layout.stripeDataPages * RUN_PAGE_BYTES;
    let low = 0;
    let high = this.#index.blockCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#index.offset(middle) + this.#index.lengthBytes(middle) <= stripeStart) low = middle + 1;
      else high = middle;
    }
    const blocks: BlockRef[] = [];
    for (let blockIndex = low; blockIndex < this.#index.blockCount; blockIndex++) {
      const block = this.#dataBlockRef(blockIndex);
      if (!overlapsStripe(this.#file.layout, block, stripe)) break;
      blocks.push(block);
    }
    return [...blocks, ...metadataBlocks(this.footer).filter((block) => overlapsStripe(this.#file.layout, block, stripe))];
  }

  /** Reads, checks (repairing from parity) and decodes a data block without touching the cache. */
  private async readBlockUncached(blockIndex: number): Promise<DecodedBlock> {
    return this.#readDecoded(blockIndex, this.#repair);
  }

  async #readDecoded(blockIndex: number, repair: boolean): Promise<DecodedBlock> {
    return this.#readDecodedNow(blockIndex, repair);
  }

  /**
   * Reads, checks (repairing from parity) and decodes data block `blockIndex`: on the
   * calling thread when the file reads synchronously and the block passes its check,
   * else a promise (no readSync, or a repair).
   */
  #readDecodedNow(blockIndex: number, repair: boolean): DecodedBlock | Promise<DecodedBlock> {
    this.#checkOpen();
    assert(blockIndex >= 0 && blockIndex < this.#index.blockCount, 'data block index inside the run');
    const compressed = this.footer.compression !== RunCompression.none;
    // A compressed block's bytes are needed only until decompressed (fresh memory): read them into a reused scratch buffer.
    const scratch = compressed ? takeReadScratch(this.#index.lengthBytes(blockIndex)) : undefined;
    let checked: CheckedBlock | Promise<CheckedBlock>;
    try {
      checked = this.#file.readBlockNow(this.#dataBlockRef(blockIndex), repair, scratch);
    } catch (error) {
      if (scratch !== undefined) releaseReadScratch(scratch);
      throw error;
    }
    if (checked instanceof Promise) return this.#decodeWhenRead(blockIndex, checked, scratch);
    try {
      return this.#decodeChecked(blockIndex, checked, scratch);
    } finally {
      if (scratch !== undefined) releaseReadScratch(scratch);
    }
  }

  async #decodeWhenRead(blockIndex: number, pending: Promise<CheckedBlock>, scratch: Buffer | undefined): Promise<DecodedBlock> {
    try {
      return this.#decodeChecked(blockIndex, await pending, scratch);
    } finally {
      if (scratch !== undefined) releaseReadScratch(scratch);
    }
  }

  /** Decompresses (if the run is compressed) and decodes a checked block; `scratch` is not released here. */
  #decodeChecked(blockIndex: number, checked: CheckedBlock, scratch: Buffer | undefined): DecodedBlock {
    const offset = this.#index.offset(blockIndex);
    let { bytes, payloadBytes } = checked;
    let payloadStart = RUN_BLOCK_HEADER_BYTES;
    if (this.footer.compression !== RunCompression.none) {
      const raw = decompressPayload(this.footer.compression, bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes), this.path, offset);
      // Decoded in place when the payload owns its memory exactly (the cache counts
      // bytes.length); a view into a larger allocation is copied to an exact one.
      bytes = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length ? raw : Buffer.from(raw);
      assert(scratch === undefined || bytes.buffer !== scratch.buffer, 'a decompressed block never aliases the read scratch');
      payloadBytes = raw.length;
      payloadStart = 0;
    }
    const decoded = decodeDataBlock(this.path, offset, bytes, payloadBytes, checked.entryCount, payloadStart);
    if (this.#index.compareLastKey(decoded.keyAt(decoded.count - 1), blockIndex) !== 0) {
      throw new CorruptionError(this.path, offset, 'data block: last key differs from the index');
    }
    return decoded;
  }

  /** Closes the file; the caller drops the run's cached blocks if the file goes away (BlockCache.dropRun). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#file.close();
  }

  #checkOpen(): void {
    assert(!this.#closed, `run reader ${this.path} used after close`);
  }
}

/** Appends `key`'s entries in `block` to `result`; true when the block ends after them (later blocks cannot hold the key). */
function collectVersions(block: DecodedBlock, key: string, result: RunEntry[]): boolean {
  let position = block.lowerBound(key);
  while (position < block.count && block.compareKey(key, position) === 0) result.push(block.entryWithKey(position++, key));
  return position < block.count;
}

