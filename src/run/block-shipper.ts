/**
 * The run writer's data block shipper (src/run/run-writer.ts): seals each data block
 * the builder fills and appends it to the striped output in builder order. Plain
 * blocks ship at once; the blocks of a compressed run (format 4, packed) wait for
 * their compression, several in flight, and ship in order once it resolves (a block's
 * offset and checksum depend on its compressed size).
 *
 * Invariants: blocks reach the output and the partition index in builder order; at
 * most `compressor.parallelism` compressions (or batches) in flight plus the batch
 * being gathered, and past COMPRESSION_IN_FLIGHT_BYTES_MAX payload bytes only one; a rejected compression is never unhandled (it is awaited in order).
 */
import { Buffer } from 'node:buffer';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import type { StripedOutput } from '../stripe/striped-output.js';
import { COMPRESSION_BATCH_BLOCKS_MAX, COMPRESSION_BATCH_BYTES_MAX, type BlockCompressor } from './compression-pool.js';
import type { DataBlockBuilder } from './data-block.js';
import { BlockKind, RUN_BLOCK_HEADER_BYTES, RunCompression, type RunCompressionName, sealBlock } from './run-format.js';
import type { PartitionBuilder } from './run-top-index.js';
import type { SealedBlock } from './run-writer.js';

/**
 * Payload bytes a compressed run keeps in flight at most, beyond the oldest compression:
 * past it the writer waits for the oldest before going on. Blocks of a few KiB never
 * reach it (parallelism x COMPRESSION_BATCH_BYTES_MAX is 256 KiB with two threads); a
 * block holding a large value does, so one such block is compressed at a time. Before,
 * `parallelism` 16 MiB blocks were in flight, each with its payload copy, its compressed
 * copy and the pool threads' share: an in-process cold merge of three runs of eight
 * 16 MiB values reached +533 MiB of RSS.
 */
export const COMPRESSION_IN_FLIGHT_BYTES_MAX = 2 * 1024 * 1024;

export interface ShipperConfig {
  runId: number;
  generation: number;
  hash: Hash64;
  compression: (typeof RunCompression)[RunCompressionName];
  compressor: BlockCompressor;
  onBlockSealed: ((block: SealedBlock) => void) | undefined;
}

/** A data block waiting for its compressed payload (what #append needs besides the bytes). */
interface PendingBlock {
  firstKey: string;
  lastKey: string;
  newKeyCount: number;
  entryCount: number;
}

/**
 * Seals data blocks and appends them in order. Plain blocks ship at once; a
 * compressed run keeps up to `compressor.parallelism` compressions in flight and
 * ships each block, in builder order, once its compression resolves (the offset
 * and the checksum depend on the compressed size, so sealing waits for it).
 *
 * With a compressor that batches (compressBatch: the thread pool), blocks gather
 * into batches of up to COMPRESSION_BATCH_BLOCKS_MAX blocks or
 * COMPRESSION_BATCH_BYTES_MAX payload bytes, one task each, and `parallelism`
 * bounds the batches in flight. Memory: at most parallelism + 1 batches of
 * payloads (the gathering one included), whatever the compressor.
 */
export class BlockShipper {
  readonly #output: StripedOutput;
  readonly #index: PartitionBuilder;
  readonly #config: ShipperConfig;
  /** Compressions in flight, oldest first: each resolves to its blocks' compressed payloads, in order. */
  readonly #inFlight: Array<{ compressed: Promise<Uint8Array[]>; blocks: PendingBlock[]; payloadBytes: number }> = [];
  /** Payload bytes of the compressions in flight. */
  #inFlightBytes = 0;
  /** The batch being gathered (only with a batching compressor). */
  #gathering: { payloads: Uint8Array[]; blocks: PendingBlock[]; payloadBytes: number } = { payloads: [], blocks: [], payloadBytes: 0 };

  constructor(output: StripedOutput, index: PartitionBuilder, config: ShipperConfig) {
    this.#output = output;
    this.#index = index;
    this.#config = config;
  }

  /**
   * Ships the builder's block. A plain block is sealed and appended at once, and the
   * answer is a promise only when the output has to write its chunk first (the builder
   * may be reset once this returns undefined or its promise resolves): a flush of 4 KiB
   * values ships a block per entry, and the async frames of ship, #append and the
   * writer's shipBlock were three promises and about 2 KB of garbage per entry.
   */
  ship(builder: DataBlockBuilder, firstKey: string, newKeyCount: number): Promise<void> | undefined {
    const lastKey = builder.lastKey;
    assert(lastKey !== undefined, 'a shipped block holds entries');
    const block = builder.block();
    if (this.#config.compression === RunCompression.none) return this.#append(block, builder.payloadBytes, builder.entryCount, firstKey, lastKey, newKeyCount);
    return this.#shipCompressed(block, builder, firstKey, lastKey, newKeyCount);
  }

  async #shipCompressed(block: Buffer, builder: DataBlockBuilder, firstKey: string, lastKey: string, newKeyCount: number): Promise<void> {
    const payload = Buffer.from(block.subarray(RUN_BLOCK_HEADER_BYTES, RUN_BLOCK_HEADER_BYTES + builder.payloadBytes));
    const pending: PendingBlock = { firstKey, lastKey, newKeyCount, entryCount: builder.entryCount };
    const { compressor, compression } = this.#config;
    if (compressor.compressBatch === undefined) {
      this.#launch(compressor.compress(compression, payload).then((compressed) => [compressed]), [pending], payload.length);
    } else {
      const gathering = this.#gathering;
      gathering.payloads.push(payload);
      gathering.blocks.push(pending);
      gathering.payloadBytes += payload.length;
      if (gathering.blocks.length < COMPRESSION_BATCH_BLOCKS_MAX && gathering.payloadBytes < COMPRESSION_BATCH_BYTES_MAX) return;
      this.#launchGathered();
    }
    if (this.#inFlight.length >= compressor.parallelism) await this.#shipOldest();
    while (this.#inFlightBytes > COMPRESSION_IN_FLIGHT_BYTES_MAX && this.#inFlight.length > 0) await this.#shipOldest();
  }

  async drain(): Promise<void> {
    if (this.#gathering.blocks.length > 0) this.#launchGathered();
    while (this.#inFlight.length > 0) await this.#shipOldest();
  }

  /** Forgets compressions still in flight or gathering (after a failure; their results are unused). */
  abandon(): void {
    this.#inFlight.length = 0;
    this.#inFlightBytes = 0;
    this.#gathering = { payloads: [], blocks: [], payloadBytes: 0 };
  }

  #launchGathered(): void {
    const { payloads, blocks, payloadBytes } = this.#gathering;
    const compressBatch = this.#config.compressor.compressBatch;
    assert(compressBatch !== undefined && blocks.length > 0, 'a gathered batch for a batching compressor');
    this.#gathering = { payloads: [], blocks: [], payloadBytes: 0 };
    this.#launch(compressBatch.call(this.#config.compressor, this.#config.compression, payloads), blocks, payloadBytes);
  }

  #launch(compressed: Promise<Uint8Array[]>, blocks: PendingBlock[], payloadBytes: number): void {
    compressed.catch(() => undefined); // awaited in order by #shipOldest; never an unhandled rejection meanwhile
    this.#inFlight.push({ compressed, blocks, payloadBytes });
    this.#inFlightBytes += payloadBytes;
  }

  async #shipOldest(): Promise<void> {
    const oldest = this.#inFlight.shift();
    assert(oldest !== undefined, 'a compression in flight');
    this.#inFlightBytes -= oldest.payloadBytes;
    const compressed = await oldest.compressed;
    assert(compressed.length === oldest.blocks.length, 'one compressed payload per block of the batch');
    for (let position = 0; position < compressed.length; position++) {
      const payload = compressed[position]!;
      const pending = oldest.blocks[position]!;
      // Packed (format 4): the block is its header and the compressed bytes, not padded to pages.
      const block = Buffer.alloc(RUN_BLOCK_HEADER_BYTES + payload.length);
      block.set(payload, RUN_BLOCK_HEADER_BYTES);
      await this.#append(block, payload.length, pending.entryCount, pending.firstKey, pending.lastKey, pending.newKeyCount);
    }
    // A batch's results are often ready when asked for (the threads keep ahead), so the
    // writer would encode on without ever leaving the microtask queue: give the event
    // loop a turn per batch (every ~32 KiB of entries; with one task per block, waiting
    // on each result did this).
    if (oldest.blocks.length > 1) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Seals `block` at the output's offset, indexes it and appends it (a promise only when the output writes first). */
  #append(block: Buffer, payloadBytes: number, entryCount: number, firstKey: string, lastKey: string, newKeyCount: number): Promise<void> | undefined {
    const { runId, generation, hash } = this.#config;
    const offset = this.#output.offset;
    const packed = this.#config.compression !== RunCompression.none;
    const checksum = sealBlock(hash, block, payloadBytes, entryCount, { runId, generation, offset, kind: BlockKind.data }, packed);
    this.#index.add(firstKey, lastKey, offset, block.length, checksum, newKeyCount);
    this.#config.onBlockSealed?.({ kind: 'data', offset, bytes: block, payloadBytes, entryCount });
    return this.#output.append(block);
  }
}
