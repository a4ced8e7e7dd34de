/**
 * RunReader: reads one run file (docs/FORMAT.md, "Run file") that the manifest names
 * with a RunDescriptor.
 *
 * open() reads the footer (checked against the descriptor's footerChecksum, runId and
 * generation), then the index and filter blocks (checked against the footer) and keeps
 * them in memory compactly (typed arrays, see RunIndex); data blocks are read on
 * demand, checked against the index's checksum, decompressed if the run is
 * compressed, and shared through the BlockCache (which holds decoded, decompressed
 * blocks). Blocks live in stripes with parity: every block read goes through
 * StripedRunFile (src/run/run-file.ts), which rebuilds a bad or unreadable block
 * from parity, writes it back and counts it (`repairCounters`).
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
import {
  BlockKind,
  decodeFooter,
  parseChecksumHex,
  RUN_BLOCK_HEADER_BYTES,
  RUN_FILTER_HEADER_BYTES,
  RUN_PAGE_BYTES,
  RunCompression,
  type BlockKindValue,
  type RunFooter,
} from './run-format.js';
import { decompressPayload } from './block-compression.js';
import { StripedRunFile, type BlockRef, type RepairEvent, type RunRepairCounters } from './run-file.js';
import { computeParity, STRIPE_DATA_PAGES_MIN } from '../stripe/parity.js';
import { StripeLayout } from '../stripe/stripe-layout.js';
import { isRepairableReadError } from '../stripe/stripe-errors.js';
import { RunIndex } from './run-index.js';

/**
 * Heap bytes of a reader beyond its index and filter contents (the reader, footer,
 * descriptor, handle, filter array). Measured by test/run-memory.test.ts with run
 * format 2: 200 readers of 2,000 keys grew the heap 5,490 B each, 1,350 B of it
 * beyond the index and filter.
 */
export const RUN_READER_OVERHEAD_BYTES = 1400;

export interface RunVerifyResult {
  blocks: number;
  bytes: number;
  problems: Array<{ offset: number; reason: string }>;
}

export interface RunReaderOptions {
  /** Rebuild bad blocks from parity and write them back (default true); false only detects. */
  repair?: boolean;
  /** Called once per repair (a block rebuilt, a parity page rewritten). */
  onRepair?: (event: RepairEvent) => void;
}

/** One finding of verify() or a scrub step. */
export interface RunScrubFinding {
  kind: 'data' | 'index' | 'filter' | 'parity';
  logicalOffset: number;
  stripe: number;
  outcome: 'repaired' | 'unrecoverable' | 'damaged';
  reason: string;
}

/** What one scrub step read and found. */
export interface RunScrubStep {
  bytes: number;
  findings: RunScrubFinding[];
}

const KIND_NAMES: Record<BlockKindValue, RunScrubFinding['kind']> = { 1: 'data', 2: 'index', 3: 'filter', 4: 'index' };

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
   * versions(), synchronous when the filter rules the key out or every block needed
   * is cached (no promise, no microtask per run on the hot path).
   */
  versionsSyncWhenCached(key: string): RunEntry[] | Promise<RunEntry[]> {
    const result: RunEntry[] = [];
    if (!this.mayContain(key)) return result;
    for (let blockIndex = this.#index.firstBlockAtOrAfter(key); blockIndex < this.#index.blockCount; blockIndex++) {
      const block = this.blockIfCached(blockIndex);
      if (block === undefined) return this.#versionsFrom(key, blockIndex, result);
      if (collectVersions(block, key, result)) break;
    }
    return result;
  }

  /**
   * The rest of versions(): from block `blockIndex` on, reading blocks the cache lacks.
   * The first block was just looked up and missed: it is read without asking the
   * cache again (one miss counted, not two).
   */
  async #versionsFrom(key: string, firstBlockIndex: number, result: RunEntry[]): Promise<RunEntry[]> {
    for (let blockIndex = firstBlockIndex; blockIndex < this.#index.blockCount; blockIndex++) {
      const block = blockIndex === firstBlockIndex ? await this.readBlock(blockIndex) : this.blockIfCached(blockIndex) ?? (await this.readBlock(blockIndex));
      if (collectVersions(block, key, result)) break;
    }
    return result;
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
  async verify(): Promise<RunVerifyResult> {
    this.#checkOpen();
    const problems: RunVerifyResult['problems'] = [];
    for await (const step of this.scrub(false)) {
      for (const finding of step.findings) problems.push({ offset: finding.logicalOffset, reason: `${finding.kind} (stripe ${finding.stripe}): ${finding.reason}` });
    }
    await this.#checkCounts(problems);
    return { blocks: this.#index.blockCount + 3 + this.stripeCount, bytes: this.descriptor.fileBytes, problems };
  }

  /** The entry-level checks verify adds: order across blocks, the filter, the footer's counts. */
  async #checkCounts(problems: RunVerifyResult['problems']): Promise<void> {
    let entryCount = 0;
    let keyCount = 0;
    let previous: RunEntry | undefined;
    for (let blockIndex = 0; blockIndex < this.#index.blockCount; blockIndex++) {
      let block: DecodedBlock;
      try {
        block = await this.#readDecoded(blockIndex, false);
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        return; // already reported by the block checks
      }
      for (let position = 0; position < block.count; position++) {
        const entry = block.entry(position);
        if (previous !== undefined && (entry.key < previous.key || (entry.key === previous.key && entry.version >= previous.version))) {
          problems.push({ offset: this.#index.offset(blockIndex), reason: 'entries out of order across blocks' });
        }
        if (previous?.key !== entry.key) {
          keyCount++;
          if (!this.mayContain(entry.key)) problems.push({ offset: this.footer.filterOffset, reason: `filter misses key ${JSON.stringify(entry.key)}` });
        }
        previous = entry;
      }
      entryCount += block.count;
    }
    if (entryCount !== this.footer.entryCount || keyCount !== this.footer.keyCount) {
      problems.push({ offset: this.descriptor.fileBytes - RUN_PAGE_BYTES, reason: `footer counts ${this.footer.entryCount}/${this.footer.keyCount}, blocks hold ${entryCount}/${keyCount}` });
    }
  }

  /**
   * Checks every block (data, index, filter), then every stripe's parity; with
   * `repair`, rebuilds bad blocks and rewrites stale parity pages. One step per
   * block or stripe, so a caller can pace it (src/stripe/scrub.ts).
   */
  async *scrub(repair: boolean): AsyncGenerator<RunScrubStep> {
    this.#checkOpen();
    const blocks = [...this.#dataBlocks(0, this.#index.blockCount), ...metadataBlocks(this.footer)];
    const unrecoverableStripes = new Set<number>();
    for (const block of blocks) {
      yield await this.#scrubBlock(block, repair, unrecoverableStripes);
    }
    for (let stripe = 0; stripe < this.stripeCount; stripe++) {
      yield await this.#scrubParity(stripe, repair, unrecoverableStripes);
    }
  }

  async #scrubBlock(block: BlockRef, repair: boolean, unrecoverableStripes: Set<number>): Promise<RunScrubStep> {
    const layout = this.#file.layout;
    const stripe = layout.stripeOfLogicalPage(block.logicalOffset / RUN_PAGE_BYTES);
    const finding = (outcome: RunScrubFinding['outcome'], reason: string): RunScrubStep => ({
      bytes: block.lengthBytes,
      findings: [{ kind: KIND_NAMES[block.kind], logicalOffset: block.logicalOffset, stripe, outcome, reason }],
    });
    const repairedBefore = this.#file.counters.repairedBlocks;
    try {
      const checked = await this.#file.readBlock(block, repair);
      if (block.kind === BlockKind.data && this.footer.compression !== RunCompression.none) {
        decompressPayload(this.footer.compression, checked.bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + checked.payloadBytes), this.path, block.logicalOffset);
      }
      if (this.#file.counters.repairedBlocks > repairedBefore) return finding('repaired', 'rebuilt from parity and rewritten');
      return { bytes: block.lengthBytes, findings: [] };
    } catch (error) {
      if (!(error instanceof CorruptionError) && !isRepairableReadError(error)) throw error;
      for (let page = block.logicalOffset / RUN_PAGE_BYTES; page < (block.logicalOffset + block.lengthBytes) / RUN_PAGE_BYTES; page++) {
        unrecoverableStripes.add(layout.stripeOfLogicalPage(page));
      }
      return finding(repair ? 'unrecoverable' : 'damaged', (error as Error).message);
    }
  }

  /** A stripe whose blocks are all good must have parity = XOR of its data pages; scrub rewrites a stale parity page. */
  async #scrubParity(stripe: number, repair: boolean, unrecoverableStripes: Set<number>): Promise<RunScrubStep> {
    const layout = this.#file.layout;
    const step: RunScrubStep = { bytes: RUN_PAGE_BYTES, findings: [] };
    if (unrecoverableStripes.has(stripe)) return step;
    const whole = Buffer.alloc(layout.stripeBytes);
    const dataBytes = layout.stripeDataPages * RUN_PAGE_BYTES;
    const parityOffset = layout.stripeOffset(stripe) + dataBytes;
    const finding = (outcome: RunScrubFinding['outcome'], reason: string) => {
      step.findings.push({ kind: 'parity', logicalOffset: parityOffset, stripe, outcome, reason });
      return step;
    };
    try {
      await this.#file.readPhysical(whole, layout.stripeOffset(stripe));
    } catch (error) {
      if (!isRepairableReadError(error)) throw error;
      // Data pages read fine block by block (checked above), so the parity page is what fails to read.
      whole.fill(0);
      await this.#file.readPhysical(whole.subarray(0, dataBytes), layout.stripeOffset(stripe));
    }
    // Padding pages of the last stripe must be zeros: put back zeros, and the parity over them.
    const rewrites: Array<{ physicalOffset: number; bytes: Uint8Array }> = [];
    const logicalPages = (this.footer.filterOffset + this.footer.filterLength) / RUN_PAGE_BYTES;
    for (let position = 0; position < layout.stripeDataPages; position++) {
      if (stripe * layout.stripeDataPages + position < logicalPages) continue;
      const page = whole.subarray(position * RUN_PAGE_BYTES, (position + 1) * RUN_PAGE_BYTES);
      if (page.every((byte) => byte === 0)) continue;
      page.fill(0);
      rewrites.push({ physicalOffset: layout.stripeOffset(stripe) + position * RUN_PAGE_BYTES, bytes: page });
    }
    const expected = Buffer.alloc(RUN_PAGE_BYTES);
    computeParity(whole.subarray(0, dataBytes), RUN_PAGE_BYTES, expected);
    if (rewrites.length === 0 && expected.equals(whole.subarray(dataBytes))) return step;
    if (!repair) return finding('damaged', 'parity page differs from the XOR of the stripe, or padding is not zeros');
    if (!expected.equals(whole.subarray(dataBytes))) rewrites.push({ physicalOffset: parityOffset, bytes: expected });
    const rewritten = await this.#file.rewritePages(rewrites);
    if (!rewritten) return finding('unrecoverable', 'parity page differs and could not be rewritten');
    this.#file.counters.repairedParityPages++;
    this.#file.onRepair?.({ runId: this.runId, file: this.path, kind: 'parity', logicalOffset: parityOffset, stripes: [stripe], pages: [stripe * (layout.stripeDataPages + 1) + layout.stripeDataPages], rewritten });
    return finding('repaired', 'parity page rebuilt from the stripe and rewritten');
  }

  #dataBlocks(first: number, end: number): BlockRef[] {
    const blocks: BlockRef[] = [];
    for (let blockIndex = first; blockIndex < end; blockIndex++) blocks.push(this.#dataBlockRef(blockIndex));
    return blocks;
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
    this.#checkOpen();
    assert(blockIndex >= 0 && blockIndex < this.#index.blockCount, 'data block index inside the run');
    const offset = this.#index.offset(blockIndex);
    const checked = await this.#file.readBlock(this.#dataBlockRef(blockIndex), repair);
    let { bytes, payloadBytes } = checked;
    let payloadStart = RUN_BLOCK_HEADER_BYTES;
    if (this.footer.compression !== RunCompression.none) {
      const raw = decompressPayload(this.footer.compression, bytes.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes), this.path, offset);
      // Decoded in place when the payload owns its memory exactly (the cache counts
      // bytes.length); a view into a larger allocation is copied to an exact one.
      bytes = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length ? raw : Buffer.from(raw);
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

function checkDescriptorAgrees(path: string, footerOffset: number, footer: RunFooter, descriptor: RunDescriptor): void {
  const agrees =
    footer.level === descriptor.level &&
    footer.entryCount === descriptor.entryCount &&
    footer.keyCount === descriptor.keyCount &&
    footer.minVersion === descriptor.minVersion &&
    footer.maxVersion === descriptor.maxVersion &&
    footer.smallestKey === descriptor.smallestKey &&
    footer.largestKey === descriptor.largestKey;
  if (!agrees) throw new CorruptionError(path, footerOffset, 'footer disagrees with the manifest descriptor');
}

async function readPage(handle: FileHandle, path: string, page: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < page.length) {
    let count: number;
    try {
      count = await handle.read(page, done, page.length - done, position + done);
    } catch (error) {
      throw asTypedError(error, `reading ${path} at offset ${position + done}`);
    }
    if (count === 0) throw new CorruptionError(path, position + done, `short read: ${page.length - done} bytes missing`);
    done += count;
  }
}

/** The index and the filter block, as the footer describes them. */
function metadataBlocks(footer: RunFooter): BlockRef[] {
  return [
    { logicalOffset: footer.indexOffset, lengthBytes: footer.indexLength, kind: BlockKind.index, checksum: footer.indexChecksum },
    { logicalOffset: footer.filterOffset, lengthBytes: footer.filterLength, kind: BlockKind.filter, checksum: footer.filterChecksum },
  ];
}

function overlapsStripe(layout: StripeLayout, block: BlockRef, stripe: number): boolean {
  const stripeStart = stripe * layout.stripeDataPages * RUN_PAGE_BYTES;
  const stripeEnd = stripeStart + layout.stripeDataPages * RUN_PAGE_BYTES;
  return block.logicalOffset < stripeEnd && block.logicalOffset + block.lengthBytes > stripeStart;
}

async function readIndex(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<RunIndex> {
  const path = file.path;
  const { bytes: block, payloadBytes, entryCount } = await file.readBlock(metadataBlocks(footer)[0] as BlockRef, repair);
  if (entryCount !== footer.dataBlockCount) throw new CorruptionError(path, footer.indexOffset, 'index block count differs from the footer');
  const payload = block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  return RunIndex.decode(path, footer.indexOffset, payload, entryCount, footer.indexOffset);
}

async function readFilter(file: StripedRunFile, footer: RunFooter, repair: boolean): Promise<{ bits: Uint8Array; probes: number }> {
  const path = file.path;
  const { bytes: block, payloadBytes, entryCount } = await file.readBlock(metadataBlocks(footer)[1] as BlockRef, repair);
  const bitCount = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES);
  const probes = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES + 4);
  if (entryCount !== footer.keyCount || bitCount === 0 || bitCount % 8 !== 0 || payloadBytes !== RUN_FILTER_HEADER_BYTES + bitCount / 8 || probes === 0 || probes > 32) {
    throw new CorruptionError(path, footer.filterOffset, 'filter block header disagrees with the footer');
  }
  const bits = new Uint8Array(bitCount / 8);
  bits.set(block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
  return { bits, probes };
}
