/**
 * writeRun: writes one immutable run file from sorted entries (docs/FORMAT.md, "Run file").
 *
 * Protocol: create `<name>.tmp` (exclusive), write every block in whole stripes
 * (K data pages + 1 XOR parity page computed from exactly the bytes written in the
 * same step, src/stripe/striped-output.ts) in chunks of about
 * RUN_WRITE_CHUNK_BYTES, then the footer, datasync, close, rename to `<name>`, syncDirectory(runs).
 * Only after all of that resolves does the caller get a RunDescriptor, so a
 * descriptor always names a durable, complete file. On any failure the temporary
 * file (and a renamed but unsynced final name) is removed, best effort, and the
 * error rethrown typed (ENOSPC -> DiskFullError, other I/O -> IoError); a crash
 * leaves at most a `.tmp` file or a complete file nobody references (orphans the
 * store removes at open).
 *
 * A run written with `compression` other than 'none' (the cold tier) packs entries
 * into blocks of about RUN_COMPRESSED_BLOCK_TARGET_BYTES and stores each block's
 * payload compressed (by the `compressor`, piscina workers in production), keeping
 * up to `compressor.parallelism` compressions in flight and shipping them in order.
 *
 * Invariants asserted: entries arrive by key ascending then version descending, no
 * (key, version) twice; memory is bounded by one chunk, one block, the index and
 * 8 bytes per distinct key (the filter's hashes), never by the values.
 */
import { Buffer } from 'node:buffer';
import { asTypedError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import { KEY_BYTES_MAX, VERSION_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { bloomAddHalves, bloomBitCount, RUN_BLOOM_PROBES, storeKeyHashHalves } from './bloom-filter.js';
import { DataBlockBuilder } from './data-block.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import {
  BlockKind,
  blockPages,
  checksumHex,
  encodeFooter,
  RUN_BLOCK_BYTES_MAX,
  RUN_BLOCK_HEADER_BYTES,
  RUN_FILTER_HEADER_BYTES,
  RUN_PAGE_BYTES,
  RUN_WRITE_CHUNK_BYTES,
  RunCompression,
  runFileName,
  type RunCompressionName,
  sealBlock,
} from './run-format.js';
import { IndexBuilder } from './run-index.js';
import { STRIPE_DATA_PAGES_DEFAULT } from '../stripe/parity.js';
import { StripeLayout } from '../stripe/stripe-layout.js';
import { StripedOutput } from '../stripe/striped-output.js';
import { RUN_COMPRESSED_BLOCK_TARGET_BYTES } from './block-compression.js';
import { InlineCompressor, type BlockCompressor } from './compression-pool.js';

export interface WriteRunOptions {
  fileSystem: FileSystem;
  runsDirectory: string;
  runId: number;
  /** Random u32 chosen by the caller for this write. */
  generation: number;
  level: number;
  hash: Hash64;
  /** Sorted by key ascending then version descending; at least one entry. */
  entries: Iterable<RunEntry> | AsyncIterable<RunEntry>;
  /** K, data pages per parity page; default STRIPE_DATA_PAGES_DEFAULT. */
  stripeDataPages?: number;
  /** Data block compression (the cold tier); default 'none'. */
  compression?: RunCompressionName;
  /** Who compresses (a CompressionPool); default compresses on this thread. */
  compressor?: BlockCompressor;
  /**
   * Uncompressed entry bytes per data block of a compressed run (whole pages);
   * default RUN_COMPRESSED_BLOCK_TARGET_BYTES. Tests and benches set it to write the
   * older 64 KiB layout, which readers still open.
   */
  compressedBlockTargetBytes?: number;
}

/** Suffix of the temporary name a run is written under. */
export const RUN_TEMPORARY_SUFFIX = '.tmp';

/** Running totals for the footer and the descriptor, and the filter's key hashes. */
class RunStatistics {
  entryCount = 0;
  keyCount = 0;
  minVersion = VERSION_MAX;
  maxVersion = 0;
  smallestKey = '';
  largestKey = '';
  /** Each distinct key's filter hash as two u32 halves (first, step): see storeKeyHashHalves. */
  keyHashHalves = new Uint32Array(2 * 1024);
  lastVersion = 0;

  add(entry: RunEntry, hash: Hash64): void {
    checkEntry(entry);
    if (this.entryCount > 0) {
      const inOrder = entry.key > this.largestKey || (entry.key === this.largestKey && entry.version < this.lastVersion);
      // The message names the entry, so it is built only for a failure (once per entry it was most of a flush's garbage).
      if (!inOrder) assert(inOrder, `run entries in order (key ascending, version descending, no duplicates): ${JSON.stringify(entry.key)}@${entry.version}`);
    } else {
      this.smallestKey = entry.key;
    }
    if (this.entryCount === 0 || entry.key !== this.largestKey) {
      if (2 * this.keyCount === this.keyHashHalves.length) {
        const grown = new Uint32Array(this.keyHashHalves.length * 2);
        grown.set(this.keyHashHalves);
        this.keyHashHalves = grown;
      }
      storeKeyHashHalves(hash, entry.key, this.keyHashHalves, this.keyCount++);
    }
    this.largestKey = entry.key;
    this.lastVersion = entry.version;
    this.minVersion = Math.min(this.minVersion, entry.version);
    this.maxVersion = Math.max(this.maxVersion, entry.version);
    this.entryCount++;
  }
}

function checkEntry(entry: RunEntry): void {
  assert(typeof entry.key === 'string' && entry.key.length > 0 && entry.key.length <= KEY_BYTES_MAX, 'run entry key is a non-empty internal key');
  const versionValid = Number.isSafeInteger(entry.version) && entry.version >= 0 && entry.version <= VERSION_MAX;
  if (!versionValid) assert(versionValid, `run entry version is a safe integer: ${entry.version}`);
  assert(entry.value === undefined || entry.value instanceof Uint8Array, 'run entry value is bytes or undefined');
  assert(entry.value === undefined || entry.value.length < RUN_BLOCK_BYTES_MAX - RUN_PAGE_BYTES, 'run entry value fits a block');
}

/** Writes the run and returns its descriptor once the file is durable under its final name. */
export async function writeRun(options: WriteRunOptions): Promise<RunDescriptor> {
  const { fileSystem, runsDirectory, runId, generation, level } = options;
  assert(Number.isInteger(generation) && generation >= 0 && generation < 2 ** 32, `generation is a u32: ${generation}`);
  assert(Number.isInteger(level) && level >= 0 && level < 2 ** 32, `level is a u32: ${level}`);
  const fileName = runFileName(runId);
  const finalPath = joinPath(runsDirectory, fileName);
  const temporaryPath = finalPath + RUN_TEMPORARY_SUFFIX;
  let handle: FileHandle | undefined;
  let renamed = false;
  try {
    handle = await createTemporary(fileSystem, temporaryPath);
    const descriptor = await writeContent(options, handle, fileName);
    await handle.datasync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await fileSystem.rename(temporaryPath, finalPath);
    renamed = true;
    await fileSystem.syncDirectory(runsDirectory);
    return descriptor;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fileSystem.unlink(renamed ? finalPath : temporaryPath).catch(() => undefined);
    throw asTypedError(error, `writing run ${finalPath}`);
  }
}

async function createTemporary(fileSystem: FileSystem, temporaryPath: string): Promise<FileHandle> {
  try {
    return await fileSystem.open(temporaryPath, 'createExclusive');
  } catch (error) {
    if (!isFileSystemError(error, 'EEXIST')) throw error;
    // A leftover of a crashed write of the same run id: nothing references it.
    await fileSystem.unlink(temporaryPath);
    return await fileSystem.open(temporaryPath, 'createExclusive');
  }
}

async function writeContent(options: WriteRunOptions, handle: FileHandle, fileName: string): Promise<RunDescriptor> {
  const { runId, generation, level, hash } = options;
  const stripeDataPages = options.stripeDataPages ?? STRIPE_DATA_PAGES_DEFAULT;
  const compression = RunCompression[options.compression ?? 'none'];
  assert(compression !== undefined, `known compression: ${options.compression}`);
  const output = new StripedOutput(handle, new StripeLayout(stripeDataPages, RUN_PAGE_BYTES), RUN_WRITE_CHUNK_BYTES);
  const index = new IndexBuilder();
  const statistics = new RunStatistics();
  const shipper = new BlockShipper(output, index, { runId, generation, hash, compression, compressor: options.compressor ?? new InlineCompressor() });
  const builder = new DataBlockBuilder(compression === RunCompression.none ? RUN_PAGE_BYTES : (options.compressedBlockTargetBytes ?? RUN_COMPRESSED_BLOCK_TARGET_BYTES));
  const shipBlock = async () => {
    await shipper.ship(builder);
    builder.reset();
  };
  // Returns a promise only when a block has to be shipped, so a sync iterable costs no microtask per entry.
  const addEntry = (entry: RunEntry): Promise<void> | undefined => {
    statistics.add(entry, hash);
    if (builder.tryAdd(entry)) return undefined;
    return shipBlock().then(() => assert(builder.tryAdd(entry), 'an entry always fits an empty block'));
  };
  try {
    const entries = options.entries;
    if (Symbol.asyncIterator in entries) {
      for await (const entry of entries) await addEntry(entry);
    } else {
      let sinceYield = 0;
      for (const entry of entries) {
        const shipping = addEntry(entry);
        if (shipping !== undefined) await shipping;
        // A memtable's entries come synchronously and block writes resolve without a
        // macrotask until real I/O waits, so without this a flush held the event loop
        // for tens of ms (issue 8 and 12's p99): yield every RUN_WRITE_YIELD_ENTRIES.
        if (++sinceYield === RUN_WRITE_YIELD_ENTRIES) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
    assert(statistics.entryCount > 0, 'a run holds at least one entry');
    await shipBlock();
    await shipper.drain();
  } finally {
    shipper.abandon();
  }

  const indexOffset = output.offset;
  const { block: indexBlock, payloadBytes: indexPayloadBytes } = index.block();
  const indexChecksum = sealBlock(hash, indexBlock, indexPayloadBytes, index.blockCount, { runId, generation, offset: indexOffset, kind: BlockKind.index });
  await output.append(indexBlock);

  const filterOffset = output.offset;
  const { block: filterBlock, payloadBytes: filterPayloadBytes } = await filterBlockFor(statistics);
  const filterChecksum = sealBlock(hash, filterBlock, filterPayloadBytes, statistics.keyCount, { runId, generation, offset: filterOffset, kind: BlockKind.filter });
  await output.append(filterBlock);

  const footerOffset = await output.finish();
  const { page, checksum: footerChecksum } = encodeFooter(
    hash,
    {
      runId,
      generation,
      level,
      indexOffset,
      indexLength: indexBlock.length,
      indexChecksum,
      filterOffset,
      filterLength: filterBlock.length,
      filterChecksum,
      entryCount: statistics.entryCount,
      keyCount: statistics.keyCount,
      minVersion: statistics.minVersion,
      maxVersion: statistics.maxVersion,
      dataBlockCount: index.blockCount,
      smallestKey: statistics.smallestKey,
      largestKey: statistics.largestKey,
      stripeDataPages,
      compression,
    },
    footerOffset,
  );
  await handle.write(page, footerOffset);
  const fileBytes = footerOffset + RUN_PAGE_BYTES;
  assert(fileBytes % RUN_PAGE_BYTES === 0, 'a run file is whole pages');
  return {
    runId,
    generation,
    level,
    fileName,
    fileBytes,
    entryCount: statistics.entryCount,
    keyCount: statistics.keyCount,
    minVersion: statistics.minVersion,
    maxVersion: statistics.maxVersion,
    smallestKey: statistics.smallestKey,
    largestKey: statistics.largestKey,
    footerChecksum: checksumHex(footerChecksum),
  };
}

interface ShipperConfig {
  runId: number;
  generation: number;
  hash: Hash64;
  compression: (typeof RunCompression)[RunCompressionName];
  compressor: BlockCompressor;
}

/**
 * Seals data blocks and appends them in order. Plain blocks ship at once; a
 * compressed run keeps up to `compressor.parallelism` compressions in flight and
 * ships each block, in builder order, once its compression resolves (the offset
 * and the checksum depend on the compressed size, so sealing waits for it).
 */
class BlockShipper {
  readonly #output: StripedOutput;
  readonly #index: IndexBuilder;
  readonly #config: ShipperConfig;
  readonly #inFlight: Array<{ compressed: Promise<Uint8Array>; lastKey: string; entryCount: number }> = [];

  constructor(output: StripedOutput, index: IndexBuilder, config: ShipperConfig) {
    this.#output = output;
    this.#index = index;
    this.#config = config;
  }

  async ship(builder: DataBlockBuilder): Promise<void> {
    const lastKey = builder.lastKey;
    assert(lastKey !== undefined, 'a shipped block holds entries');
    const block = builder.block();
    if (this.#config.compression === RunCompression.none) {
      await this.#append(block, builder.payloadBytes, builder.entryCount, lastKey);
      return;
    }
    const payload = Buffer.from(block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + builder.payloadBytes));
    const compressed = this.#config.compressor.compress(this.#config.compression, payload);
    compressed.catch(() => undefined); // awaited in order by #shipOldest; never an unhandled rejection meanwhile
    this.#inFlight.push({ compressed, lastKey, entryCount: builder.entryCount });
    if (this.#inFlight.length >= this.#config.compressor.parallelism) await this.#shipOldest();
  }

  async drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#shipOldest();
  }

  /** Forgets compressions still in flight (after a failure; their results are unused). */
  abandon(): void {
    this.#inFlight.length = 0;
  }

  async #shipOldest(): Promise<void> {
    const oldest = this.#inFlight.shift();
    assert(oldest !== undefined, 'a compression in flight');
    const compressed = await oldest.compressed;
    const block = Buffer.alloc(blockPages(compressed.length) * RUN_PAGE_BYTES);
    block.set(compressed, RUN_BLOCK_HEADER_BYTES);
    await this.#append(block, compressed.length, oldest.entryCount, oldest.lastKey);
  }

  async #append(block: Buffer, payloadBytes: number, entryCount: number, lastKey: string): Promise<void> {
    const { runId, generation, hash } = this.#config;
    const offset = this.#output.offset;
    const checksum = sealBlock(hash, block, payloadBytes, entryCount, { runId, generation, offset, kind: BlockKind.data });
    this.#index.add(lastKey, offset, block.length, checksum);
    await this.#output.append(block);
  }
}

/** Entries of a synchronous source (a memtable) encoded between two yields to the event loop: a few ms of work. */
export const RUN_WRITE_YIELD_ENTRIES = 2048;

/**
 * Keys added to the bloom filter between two yields to the event loop: building the
 * filter of a 100,000-key run took 75-85 ms in one piece (compaction's longest event
 * loop stall); 4096 keys is a few ms.
 */
export const FILTER_BUILD_YIELD_KEYS = 4096;

async function filterBlockFor(statistics: RunStatistics): Promise<{ block: Buffer; payloadBytes: number }> {
  const bitCount = bloomBitCount(statistics.keyCount);
  const payloadBytes = RUN_FILTER_HEADER_BYTES + bitCount / 8;
  const block = Buffer.alloc(blockPages(payloadBytes) * RUN_PAGE_BYTES);
  block.writeUInt32LE(bitCount, RUN_BLOCK_HEADER_BYTES);
  block.writeUInt32LE(RUN_BLOOM_PROBES, RUN_BLOCK_HEADER_BYTES + 4);
  const bits = block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  for (let key = 0; key < statistics.keyCount; key++) {
    bloomAddHalves(bits, RUN_BLOOM_PROBES, statistics.keyHashHalves[2 * key]!, statistics.keyHashHalves[2 * key + 1]!);
    if ((key + 1) % FILTER_BUILD_YIELD_KEYS === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { block, payloadBytes };
}
