/**
 * RunReader: reads one run file (docs/FORMAT.md, "Run file") that the manifest names
 * with a RunDescriptor.
 *
 * open() reads the footer (checked against the descriptor's footerChecksum, runId and
 * generation), then the index and filter blocks (checked against the footer) and keeps
 * them in memory compactly (typed arrays, see RunIndex); data blocks are read on
 * demand, checked against the index's checksum and shared through the BlockCache.
 *
 * Invariants: nothing read from the file is used before its checksum matched the
 * parent's copy; every failed check, short read or wrong address is a CorruptionError
 * naming the file and the offset, never wrong data. `memoryBytes` is what the reader
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
import { bloomMayContain, keyHash } from './bloom-filter.js';
import { decodeDataBlock, type DecodedBlock } from './data-block.js';
import type { RunDescriptor, RunEntry } from './run-descriptor.js';
import { openRunCursor, type RunCursor } from './run-cursor.js';
import {
  BlockKind,
  checkBlock,
  decodeFooter,
  parseChecksumHex,
  RUN_BLOCK_HEADER_BYTES,
  RUN_FILTER_HEADER_BYTES,
  RUN_PAGE_BYTES,
  type RunFooter,
} from './run-format.js';
import { RunIndex } from './run-index.js';

/** Heap bytes of a reader beyond its index and filter contents (the reader, footer, descriptor, handle, filter array). */
export const RUN_READER_OVERHEAD_BYTES = 2500;

export interface RunVerifyResult {
  blocks: number;
  bytes: number;
  problems: Array<{ offset: number; reason: string }>;
}

async function readExactly(handle: FileHandle, file: string, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    let count: number;
    try {
      count = await handle.read(buffer, done, buffer.length - done, position + done);
    } catch (error) {
      throw asTypedError(error, `reading ${file} at offset ${position + done}`);
    }
    if (count === 0) throw new CorruptionError(file, position + done, `short read: ${buffer.length - done} bytes missing`);
    done += count;
  }
}

export class RunReader {
  readonly descriptor: RunDescriptor;
  readonly path: string;
  readonly footer: RunFooter;
  readonly #handle: FileHandle;
  readonly #hash: Hash64;
  readonly #cache: BlockCache;
  readonly #index: RunIndex;
  readonly #filterBits: Uint8Array;
  readonly #filterProbes: number;
  #closed = false;

  private constructor(
    descriptor: RunDescriptor,
    path: string,
    footer: RunFooter,
    handle: FileHandle,
    hash: Hash64,
    cache: BlockCache,
    index: RunIndex,
    filter: { bits: Uint8Array; probes: number },
  ) {
    this.descriptor = descriptor;
    this.path = path;
    this.footer = footer;
    this.#handle = handle;
    this.#hash = hash;
    this.#cache = cache;
    this.#index = index;
    this.#filterBits = filter.bits;
    this.#filterProbes = filter.probes;
  }

  static async open(fileSystem: FileSystem, runsDirectory: string, descriptor: RunDescriptor, hash: Hash64, cache: BlockCache): Promise<RunReader> {
    const path = joinPath(runsDirectory, descriptor.fileName);
    let handle: FileHandle;
    try {
      handle = await fileSystem.open(path, 'read');
    } catch (error) {
      throw asTypedError(error, `opening run ${path}`);
    }
    try {
      const sizeBytes = await handle.size();
      if (sizeBytes !== descriptor.fileBytes || sizeBytes % RUN_PAGE_BYTES !== 0 || sizeBytes < 4 * RUN_PAGE_BYTES) {
        throw new CorruptionError(path, Math.min(sizeBytes, descriptor.fileBytes), `file is ${sizeBytes} bytes, the manifest says ${descriptor.fileBytes}`);
      }
      const footerOffset = sizeBytes - RUN_PAGE_BYTES;
      const page = Buffer.alloc(RUN_PAGE_BYTES);
      await readExactly(handle, path, page, footerOffset);
      const footer = decodeFooter(hash, path, page, footerOffset, {
        runId: descriptor.runId,
        generation: descriptor.generation,
        checksum: parseChecksumHex(descriptor.footerChecksum),
        fileBytes: sizeBytes,
      });
      checkDescriptorAgrees(path, footerOffset, footer, descriptor);
      const index = await readIndex(handle, path, hash, footer);
      const filter = await readFilter(handle, path, hash, footer);
      return new RunReader(descriptor, path, footer, handle, hash, cache, index, filter);
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
    return bloomMayContain(this.#filterBits, this.#filterProbes, keyHash(this.#hash, key));
  }

  /** Every version of `key` in this run, newest first (a tombstone has value undefined). */
  async versions(key: string): Promise<RunEntry[]> {
    const result: RunEntry[] = [];
    if (!this.mayContain(key)) return result;
    for (let blockIndex = this.#index.firstBlockAtOrAfter(key); blockIndex < this.#index.blockCount; blockIndex++) {
      const block = await this.block(blockIndex);
      let position = block.lowerBound(key);
      while (position < block.count && block.keys[position] === key) result.push(block.entry(position++));
      if (position < block.count) break;
    }
    return result;
  }

  /** The newest entry of `key` with version <= `version` (a tombstone included), if any. */
  async entryAsOf(key: string, version: number): Promise<RunEntry | undefined> {
    if (!this.mayContain(key) || version < this.descriptor.minVersion) return undefined;
    for (let blockIndex = this.#index.firstBlockAtOrAfter(key); blockIndex < this.#index.blockCount; blockIndex++) {
      const block = await this.block(blockIndex);
      let position = block.lowerBound(key);
      for (; position < block.count && block.keys[position] === key; position++) {
        if ((block.versions[position] as number) <= version) return block.entry(position);
      }
      if (position < block.count) break;
    }
    return undefined;
  }

  /** A cursor over `range`: forward key asc / version desc, reverse key desc / version desc. */
  cursor(range: KeyRange, reverse: boolean): Promise<RunCursor> {
    this.#checkOpen();
    return openRunCursor(this, range, reverse);
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

  /** Reads, checks and decodes data block `blockIndex`, and offers it to the cache. @internal */
  async readBlock(blockIndex: number): Promise<DecodedBlock> {
    const decoded = await this.readBlockUncached(blockIndex);
    return this.#cache.set(this.runId, this.#index.offset(blockIndex), decoded);
  }

  /** Reads and checks every block; reports problems instead of throwing on the first. */
  async verify(): Promise<RunVerifyResult> {
    this.#checkOpen();
    const problems: RunVerifyResult['problems'] = [];
    const note = (offset: number, error: unknown) => {
      if (!(error instanceof CorruptionError)) throw error;
      problems.push({ offset: error.offset ?? offset, reason: error.message });
    };
    let entryCount = 0;
    let keyCount = 0;
    let previous: RunEntry | undefined;
    for (let blockIndex = 0; blockIndex < this.#index.blockCount; blockIndex++) {
      try {
        const block = await this.readBlockUncached(blockIndex);
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
      } catch (error) {
        note(this.#index.offset(blockIndex), error);
      }
    }
    if (entryCount !== this.footer.entryCount || keyCount !== this.footer.keyCount) {
      problems.push({ offset: this.descriptor.fileBytes - RUN_PAGE_BYTES, reason: `footer counts ${this.footer.entryCount}/${this.footer.keyCount}, blocks hold ${entryCount}/${keyCount}` });
    }
    await readIndex(this.#handle, this.path, this.#hash, this.footer).catch((error: unknown) => note(this.footer.indexOffset, error));
    await readFilter(this.#handle, this.path, this.#hash, this.footer).catch((error: unknown) => note(this.footer.filterOffset, error));
    return { blocks: this.#index.blockCount + 3, bytes: this.descriptor.fileBytes, problems };
  }

  /** Reads, checks and decodes a data block without touching the cache (verify must read the file). */
  private async readBlockUncached(blockIndex: number): Promise<DecodedBlock> {
    this.#checkOpen();
    assert(blockIndex >= 0 && blockIndex < this.#index.blockCount, 'data block index inside the run');
    const offset = this.#index.offset(blockIndex);
    const bytes = Buffer.allocUnsafeSlow(this.#index.lengthBytes(blockIndex));
    await readExactly(this.#handle, this.path, bytes, offset);
    const address = { runId: this.runId, generation: this.descriptor.generation, offset, kind: BlockKind.data };
    const { payloadBytes, entryCount } = checkBlock(this.#hash, this.path, bytes, address, this.#index.checksum(blockIndex));
    const decoded = decodeDataBlock(this.path, offset, bytes, payloadBytes, entryCount);
    if (this.#index.compareLastKey(decoded.keys[decoded.count - 1] as string, blockIndex) !== 0) {
      throw new CorruptionError(this.path, offset, 'data block: last key differs from the index');
    }
    return decoded;
  }

  /** Closes the file; the caller drops the run's cached blocks if the file goes away (BlockCache.dropRun). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }

  #checkOpen(): void {
    assert(!this.#closed, `run reader ${this.path} used after close`);
  }
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

async function readIndex(handle: FileHandle, path: string, hash: Hash64, footer: RunFooter): Promise<RunIndex> {
  const block = Buffer.allocUnsafe(footer.indexLength);
  await readExactly(handle, path, block, footer.indexOffset);
  const address = { runId: footer.runId, generation: footer.generation, offset: footer.indexOffset, kind: BlockKind.index };
  const { payloadBytes, entryCount } = checkBlock(hash, path, block, address, footer.indexChecksum);
  if (entryCount !== footer.dataBlockCount) throw new CorruptionError(path, footer.indexOffset, 'index block count differs from the footer');
  const payload = block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes);
  return RunIndex.decode(path, footer.indexOffset, payload, entryCount, footer.indexOffset);
}

async function readFilter(handle: FileHandle, path: string, hash: Hash64, footer: RunFooter): Promise<{ bits: Uint8Array; probes: number }> {
  const block = Buffer.allocUnsafe(footer.filterLength);
  await readExactly(handle, path, block, footer.filterOffset);
  const address = { runId: footer.runId, generation: footer.generation, offset: footer.filterOffset, kind: BlockKind.filter };
  const { payloadBytes, entryCount } = checkBlock(hash, path, block, address, footer.filterChecksum);
  const bitCount = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES);
  const probes = block.readUInt32LE(RUN_BLOCK_HEADER_BYTES + 4);
  if (entryCount !== footer.keyCount || bitCount === 0 || bitCount % 8 !== 0 || payloadBytes !== RUN_FILTER_HEADER_BYTES + bitCount / 8 || probes === 0 || probes > 32) {
    throw new CorruptionError(path, footer.filterOffset, 'filter block header disagrees with the footer');
  }
  const bits = new Uint8Array(bitCount / 8);
  bits.set(block.subarray(RUN_BLOCK_HEADER_BYTES + RUN_FILTER_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + payloadBytes));
  return { bits, probes };
}
