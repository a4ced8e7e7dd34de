/**
 * writeRun: writes one immutable run file from sorted entries (docs/FORMAT.md, "Run file").
 *
 * Layout (run format 3): the data blocks, then the index partitions (about a page of
 * index entries each, cut only between blocks that share no key), the top-level
 * index, then one filter partition per index partition (src/run/run-top-index.ts).
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
 * store removes at open). With `temporaryOnly` (the flush and merge threads) the
 * protocol stops at the close: the main thread renames, syncs and removes (run-install.ts).
 *
 * A run written with `compression` other than 'none' (the cold tier) packs entries
 * into blocks of about RUN_PACKED_BLOCK_TARGET_BYTES and stores each block's
 * payload compressed (by the `compressor`: piscina workers for in-process merges, in
 * batches of several blocks per task when it can batch; inline in the merge thread),
 * keeping up to `compressor.parallelism` compressions (or batches) in flight and
 * shipping the blocks in order (src/run/block-shipper.ts).
 * Such a run is format 4: its data blocks are packed back to back (a block is its
 * header and compressed payload, not padded to pages), and the page after the last
 * one is padded with zeros so the index partitions start on a page.
 *
 * Split by component: the data blocks' sealing and shipping in block-shipper.ts, the
 * filter partitions in filter-partitions.ts, and what follows the data blocks (index
 * partitions, top-level index, filter partitions) in run-metadata-writer.ts; this
 * module keeps the file protocol, the entry order and totals, and the footer.
 *
 * Invariants asserted: entries arrive by key ascending then version descending, no
 * (key, version) twice; memory is bounded by one chunk, one block, the index, the
 * filter partitions (about 10 bits per key, held until they follow the top-level
 * index that holds their checksums) and 8 bytes per distinct key of the partition in
 * progress (the filter's hashes: src/run/filter-partitions.ts), never by the values; a partition is cut only between blocks that share no key (once a
 * partition is full, the block in progress ends where the next key begins).
 */
import type { Buffer } from 'node:buffer';
import { asTypedError } from '../errors.js';
import type { FileHandle, FileSystem } from '../fs/file-system.js';
import { isFileSystemError, joinPath } from '../fs/file-system.js';
import { KEY_BYTES_MAX, VERSION_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { DataBlockBuilder } from './data-block.js';
import { FilterPartitions } from './filter-partitions.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import {
  checksumHex,
  encodeFooter,
  runFormatVersionFor,
  RUN_BLOCK_BYTES_MAX,
  RUN_PAGE_BYTES,
  RUN_WRITE_CHUNK_BYTES,
  RunCompression,
  runFileName,
  type RunCompressionName,
} from './run-format.js';
import { PartitionBuilder } from './run-top-index.js';
import { writeMetadata } from './run-metadata-writer.js';
import { STRIPE_DATA_PAGES_DEFAULT } from '../stripe/parity.js';
import { StripeLayout } from '../stripe/stripe-layout.js';
import { type StripedChunkHolder, StripedOutput } from '../stripe/striped-output.js';
import { isReservedKey } from '../lease/reserved-prefix.js';
import { RUN_PACKED_BLOCK_TARGET_BYTES } from './block-compression.js';
import { InlineCompressor, type BlockCompressor } from './compression-pool.js';
import { BlockShipper } from './block-shipper.js';

export interface WriteRunOptions {
  fileSystem: FileSystem;
  runsDirectory: string;
  runId: number;
  /** Random u32 chosen by the caller for this write. */
  generation: number;
  level: number;
  hash: Hash64;
  /**
   * Sorted by key ascending then version descending; at least one entry. A source
   * may reuse one entry object (memtableEntries does): the writer keeps nothing of
   * an entry but its key string, and copies its value bytes, before the next one.
   */
  entries: Iterable<RunEntry> | AsyncIterable<RunEntry> | EntryBatches;
  /** K, data pages per parity page; default STRIPE_DATA_PAGES_DEFAULT. */
  stripeDataPages?: number;
  /** Data block compression (the cold tier); default 'none'. */
  compression?: RunCompressionName;
  /** Who compresses (a CompressionPool); default compresses on this thread. */
  compressor?: BlockCompressor;
  /**
   * Uncompressed entry bytes per data block of a compressed run (whole pages);
   * default RUN_PACKED_BLOCK_TARGET_BYTES. Tests and benches set it to compare block
   * sizes.
   */
  compressedBlockTargetBytes?: number;
  /**
   * Told of each data block, index partition and filter partition once it is sealed
   * and before it is appended: `bytes` are exactly the bytes checksummed and written,
   * valid only during the call (the writer reuses them: copy to keep). A flush uses it
   * to prepopulate the block cache (src/engine/flusher.ts).
   */
  onBlockSealed?: (block: SealedBlock) => void;
  /**
   * Keeps the write chunk across the caller's runs (src/stripe/striped-output.ts), for a
   * caller that writes one run at a time (the flush and merge threads); none: a new one.
   */
  writeChunk?: StripedChunkHolder;
  /**
   * The flush and merge threads' write (run-install.ts): the file stays `<name>.tmp`,
   * created exclusively with no leftover removed (EEXIST fails), and is neither renamed
   * nor removed here, on success or failure: every change to a name in runs/ is the main
   * thread's, through the store's fenced file system.
   */
  temporaryOnly?: boolean;
}

/**
 * Entries in batches (the compactor's merge, mergeRunBatches): one async step per
 * batch, not per entry. Each batch in run order after the previous one; the writer
 * copies what it keeps of an entry before it asks for the next batch.
 */
export interface EntryBatches {
  batches: AsyncIterable<readonly RunEntry[]>;
}

/** A block as sealed by the writer (header and checksum included), at its logical offset. */
export interface SealedBlock {
  kind: 'data' | 'index' | 'filter';
  offset: number;
  bytes: Buffer;
  payloadBytes: number;
  entryCount: number;
}

/** Suffix of the temporary name a run is written under. */
export const RUN_TEMPORARY_SUFFIX = '.tmp';

/** Running totals for the footer and the descriptor, and the filter partitions. */
class RunStatistics {
  entryCount = 0;
  keyCount = 0;
  /** Entries under the reserved prefix (RunDescriptor.reservedEntryCount). */
  reservedEntryCount = 0;
  minVersion = VERSION_MAX;
  maxVersion = 0;
  smallestKey = '';
  largestKey = '';
  /** Each distinct key's filter hash, built into a filter partition once its partition is complete. */
  readonly filters = new FilterPartitions();
  lastVersion = 0;

  /**
   * Counts `entry`. `newKey`: its key differs from the previous entry's (the caller
   * compared them already; asserted here through the order check).
   */
  add(entry: RunEntry, newKey: boolean, hash: Hash64): void {
    checkEntry(entry);
    const key = entry.key;
    const version = entry.version;
    if (this.entryCount > 0) {
      const inOrder = newKey ? key > this.largestKey : key === this.largestKey && version < this.lastVersion;
      // The message names the entry, so it is built only for a failure (once per entry it was most of a flush's garbage).
      if (!inOrder) assert(inOrder, `run entries in order (key ascending, version descending, no duplicates): ${JSON.stringify(key)}@${version}`);
    } else {
      assert(newKey, 'the first entry starts a key');
      this.smallestKey = key;
    }
    if (newKey) {
      this.filters.addKey(hash, key);
      this.keyCount++;
      this.largestKey = key;
    }
    this.lastVersion = version;
    if (version < this.minVersion) this.minVersion = version;
    if (version > this.maxVersion) this.maxVersion = version;
    if (isReservedKey(key)) this.reservedEntryCount++;
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
  const temporaryOnly = options.temporaryOnly === true;
  try {
    handle = temporaryOnly ? await fileSystem.open(temporaryPath, 'createExclusive') : await createTemporary(fileSystem, temporaryPath);
    const descriptor = await writeContent(options, handle, fileName);
    await handle.datasync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    if (temporaryOnly) return descriptor;
    await fileSystem.rename(temporaryPath, finalPath);
    renamed = true;
    await fileSystem.syncDirectory(runsDirectory);
    return descriptor;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (!temporaryOnly) await fileSystem.unlink(renamed ? finalPath : temporaryPath).catch(() => undefined);
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
  const output = new StripedOutput(handle, new StripeLayout(stripeDataPages, RUN_PAGE_BYTES), RUN_WRITE_CHUNK_BYTES, options.writeChunk);
  const index = new PartitionBuilder();
  const statistics = new RunStatistics();
  const onBlockSealed = options.onBlockSealed;
  const shipper = new BlockShipper(output, index, { runId, generation, hash, compression, compressor: options.compressor ?? new InlineCompressor(), onBlockSealed });
  // One builder per run, keeping a buffer grown for a large value until the run ends (data-block.ts).
  const builder = new DataBlockBuilder(compression === RunCompression.none ? RUN_PAGE_BYTES : (options.compressedBlockTargetBytes ?? RUN_PACKED_BLOCK_TARGET_BYTES), Infinity);
  // The building block's first key and its count of keys no earlier block holds (the partitions' key counts).
  let blockFirstKey = '';
  let blockNewKeys = 0;
  // After a block is shipped: the builder is free again, and a partition the index has
  // closed gets its filter now (its keys' hashes go). buildComplete builds every closed
  // partition's, so it is called only when the index has closed one since (not per block).
  let partitionsFiltered = 1;
  const afterShip = (): Promise<void> | undefined => {
    builder.reset();
    if (index.partitions.length <= partitionsFiltered) return undefined;
    partitionsFiltered = index.partitions.length;
    return statistics.filters.buildComplete(index.partitions);
  };
  // Ships the block in progress: a promise only when the output writes a chunk first or a
  // filter is built (an entry of a 4 KiB value ships a block each: no async frame per entry).
  const shipBlock = (): Promise<void> | undefined => {
    const shipped = shipper.ship(builder, blockFirstKey, blockNewKeys);
    return shipped === undefined ? afterShip() : shipped.then(afterShip);
  };
  // Whether the entry addEntry could not add starts a key (for addShipped).
  let refusedNewKey = false;
  // Adds `entry` to the block in progress, or returns false when that block has to be shipped first (then addShipped).
  // No promise per entry: a sync iterable costs no microtask per entry, and an entry that fills a block (every
  // entry of a 4 KiB value) costs a promise only when shipBlock's answer is one.
  const addEntry = (entry: RunEntry): boolean => {
    const newKey = statistics.entryCount === 0 || entry.key !== statistics.largestKey;
    statistics.add(entry, newKey, hash);
    // A full partition is cut at the next key boundary: end the block before this key.
    const endBlockHere = newKey && builder.entryCount > 0 && index.wantsKeyBoundary;
    if (!endBlockHere && builder.tryAdd(entry)) {
      if (builder.entryCount === 1) blockFirstKey = entry.key;
      if (newKey) blockNewKeys++;
      return true;
    }
    refusedNewKey = newKey;
    return false;
  };
  // The entry addEntry refused, into the block that follows the one shipped since.
  const addShipped = (entry: RunEntry): void => {
    assert(builder.tryAdd(entry), 'an entry always fits an empty block');
    blockFirstKey = entry.key;
    blockNewKeys = refusedNewKey ? 1 : 0;
  };
  try {
    const entries = options.entries;
    // Arrays by index, not for-of: in this async function the array iterator's result
    // object was not optimized away, ~40 B of garbage per entry (issue 12).
    if ('batches' in entries) {
      for await (const batch of entries.batches) {
        for (let position = 0; position < batch.length; position++) {
          const entry = batch[position]!;
          if (addEntry(entry)) continue;
          const shipped = shipBlock();
          if (shipped !== undefined) await shipped;
          addShipped(entry);
        }
      }
    } else if (Symbol.asyncIterator in entries) {
      for await (const entry of entries) {
        if (addEntry(entry)) continue;
        const shipped = shipBlock();
        if (shipped !== undefined) await shipped;
        addShipped(entry);
      }
    } else {
      let sinceYield = 0;
      const array = Array.isArray(entries) ? (entries as readonly RunEntry[]) : undefined;
      const iterator = array === undefined ? entries[Symbol.iterator]() : undefined;
      for (let position = 0; ; position++) {
        let entry: RunEntry;
        if (array !== undefined) {
          if (position === array.length) break;
          entry = array[position]!;
        } else {
          const next = iterator!.next();
          if (next.done === true) break;
          entry = next.value;
        }
        if (!addEntry(entry)) {
          const shipped = shipBlock();
          if (shipped !== undefined) await shipped;
          addShipped(entry);
        }
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
  // Packed data blocks (format 4) may end inside a page: the index partitions start on the next one.
  await output.padToPage();

  const { topOffset, topLength, topChecksum, filterOffset, filterLength } = await writeMetadata(output, index, statistics.filters, statistics.keyCount, {
    runId,
    generation,
    hash,
    onBlockSealed,
  });

  const footerOffset = await output.finish();
  const { page, checksum: footerChecksum } = encodeFooter(
    hash,
    {
      formatVersion: runFormatVersionFor(compression),
      runId,
      generation,
      level,
      indexOffset: topOffset,
      indexLength: topLength,
      indexChecksum: topChecksum,
      filterOffset,
      filterLength,
      filterChecksum: 0n,
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
    reservedEntryCount: statistics.reservedEntryCount,
    footerChecksum: checksumHex(footerChecksum),
  };
}

/** Entries of a synchronous source (a memtable) encoded between two yields to the event loop: a few ms of work. */
export const RUN_WRITE_YIELD_ENTRIES = 2048;

export { FILTER_BUILD_YIELD_KEYS } from './filter-partitions.js';
