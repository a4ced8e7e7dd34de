/**
 * writeRun: writes one immutable run file from sorted entries (docs/FORMAT.md, "Run file").
 *
 * Protocol: create `<name>.tmp` (exclusive), write every block in chunks of about
 * RUN_WRITE_CHUNK_BYTES, datasync, close, rename to `<name>`, syncDirectory(runs).
 * Only after all of that resolves does the caller get a RunDescriptor, so a
 * descriptor always names a durable, complete file. On any failure the temporary
 * file (and a renamed but unsynced final name) is removed, best effort, and the
 * error rethrown typed (ENOSPC -> DiskFullError, other I/O -> IoError); a crash
 * leaves at most a `.tmp` file or a complete file nobody references (orphans the
 * store removes at open).
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
import { bloomAdd, bloomBitCount, keyHash, RUN_BLOOM_PROBES } from './bloom-filter.js';
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
  runFileName,
  sealBlock,
} from './run-format.js';
import { IndexBuilder } from './run-index.js';

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
}

/** Suffix of the temporary name a run is written under. */
export const RUN_TEMPORARY_SUFFIX = '.tmp';

/** Sequential writes through one handle, in chunks of RUN_WRITE_CHUNK_BYTES. */
class ChunkedOutput {
  readonly #handle: FileHandle;
  readonly #chunk = Buffer.alloc(RUN_WRITE_CHUNK_BYTES);
  #chunkUsed = 0;
  #chunkStart = 0;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** File offset the next appended byte lands at. */
  get offset(): number {
    return this.#chunkStart + this.#chunkUsed;
  }

  /** Appends a copy of `bytes` (the caller may reuse its buffer when this resolves). */
  async append(bytes: Uint8Array): Promise<void> {
    if (this.#chunkUsed + bytes.length > this.#chunk.length) await this.flush();
    if (bytes.length >= this.#chunk.length) {
      await this.#handle.write(bytes, this.#chunkStart);
      this.#chunkStart += bytes.length;
      return;
    }
    this.#chunk.set(bytes, this.#chunkUsed);
    this.#chunkUsed += bytes.length;
  }

  async flush(): Promise<void> {
    if (this.#chunkUsed === 0) return;
    await this.#handle.write(this.#chunk.subarray(0, this.#chunkUsed), this.#chunkStart);
    this.#chunkStart += this.#chunkUsed;
    this.#chunkUsed = 0;
  }
}

/** Running totals for the footer and the descriptor, and the filter's key hashes. */
class RunStatistics {
  entryCount = 0;
  keyCount = 0;
  minVersion = VERSION_MAX;
  maxVersion = 0;
  smallestKey = '';
  largestKey = '';
  keyHashes = new BigUint64Array(1024);
  lastVersion = 0;

  add(entry: RunEntry, hash: Hash64): void {
    checkEntry(entry);
    if (this.entryCount > 0) {
      assert(
        entry.key > this.largestKey || (entry.key === this.largestKey && entry.version < this.lastVersion),
        `run entries in order (key ascending, version descending, no duplicates): ${JSON.stringify(entry.key)}@${entry.version}`,
      );
    } else {
      this.smallestKey = entry.key;
    }
    if (this.entryCount === 0 || entry.key !== this.largestKey) {
      if (this.keyCount === this.keyHashes.length) {
        const grown = new BigUint64Array(this.keyHashes.length * 2);
        grown.set(this.keyHashes);
        this.keyHashes = grown;
      }
      this.keyHashes[this.keyCount++] = keyHash(hash, entry.key);
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
  assert(Number.isSafeInteger(entry.version) && entry.version >= 0 && entry.version <= VERSION_MAX, `run entry version is a safe integer: ${entry.version}`);
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
  const output = new ChunkedOutput(handle);
  const builder = new DataBlockBuilder();
  const index = new IndexBuilder();
  const statistics = new RunStatistics();
  const shipBlock = async () => {
    const block = builder.block();
    const offset = output.offset;
    const checksum = sealBlock(hash, block, builder.payloadBytes, builder.entryCount, { runId, generation, offset, kind: BlockKind.data });
    index.add(builder.lastKey as string, offset, block.length, checksum);
    await output.append(block);
    builder.reset();
  };
  // Returns a promise only when a block has to be shipped, so a sync iterable costs no microtask per entry.
  const addEntry = (entry: RunEntry): Promise<void> | undefined => {
    statistics.add(entry, hash);
    if (builder.tryAdd(entry)) return undefined;
    return shipBlock().then(() => assert(builder.tryAdd(entry), 'an entry always fits an empty block'));
  };
  const entries = options.entries;
  if (Symbol.asyncIterator in entries) {
    for await (const entry of entries) await addEntry(entry);
  } else {
    for (const entry of entries) {
      const shipping = addEntry(entry);
      if (shipping !== undefined) await shipping;
    }
  }
  assert(statistics.entryCount > 0, 'a run holds at least one entry');
  await shipBlock();

  const indexOffset = output.offset;
  const { block: indexBlock, payloadBytes: indexPayloadBytes } = index.block();
  const indexChecksum = sealBlock(hash, indexBlock, indexPayloadBytes, index.blockCount, { runId, generation, offset: indexOffset, kind: BlockKind.index });
  await output.append(indexBlock);

  const filterOffset = output.offset;
  const { block: filterBlock, payloadBytes: filterPayloadBytes } = filterBlockFor(statistics);
  const filterChecksum = sealBlock(hash, filterBlock, filterPayloadBytes, statistics.keyCount, { runId, generation, offset: filterOffset, kind: BlockKind.filter });
  await output.append(filterBlock);

  const footerOffset = output.offset;
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
    },
    footerOffset,
  );
  await output.append(page);
  await output.flush();
  const fileBytes = output.offset;
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

function filterBlockFor(statistics: RunStatistics): { block: Buffer; payloadBytes: number } {
  const bitCount = bloomBitCount(statistics.keyCount);
  const payloadBytes = RUN_FILTER_HEADER_BYTES + bitCount / 8;
  const block = Buffer.alloc(blockPages(payloadBytes) * RUN_PAGE_BYTES);
  block.writeUInt32LE(bitCount, RUN_BLOCK_HEADER_BYTES);
  block.writeUInt32LE(RUN_BLOOM_PROBES, RUN_BLOCK_HEADER_BYTES + 4);
  const bits = block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  for (let key = 0; key < statistics.keyCount; key++) bloomAdd(bits, RUN_BLOOM_PROBES, statistics.keyHashes[key] as bigint);
  return { block, payloadBytes };
}
