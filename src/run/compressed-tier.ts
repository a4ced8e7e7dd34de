/**
 * CompressedTier: the block cache's compressed tier (block-cache.ts), its policy over
 * the FIFO ring of records (compressed-block-ring.ts): what it takes, its share of the
 * cache, the coverage rule, the registry of compressed runs and its counters.
 *
 * What it takes: every data block of a compressed run a point read takes from the
 * file is offered as its checked compressed bytes (hold, from run-block-decode.ts), up
 * to BLOCK_CACHE_COMPRESSED_SHARE of the room the partitions leave; a miss in the
 * decoded blocks that finds them here inflates them instead of reading the file. A block is held at most once: a second offer never replaces it.
 *
 * Coverage: the open compressed runs register their file bytes (registerRun, from
 * RunPointLookup) until the run is retired or dropped; the tier takes blocks only
 * while its share is at least BLOCK_CACHE_COMPRESSED_COVER_MIN of them (takesBlocks).
 *
 * Rank: the tier ranks between the cache's two other kinds. What it has held at most
 * since a run was dropped (within its share) is kept for it (reservedBytes: data
 * blocks get the rest of the room the partitions leave, so the tier's segments coming
 * and going never reads as room for decoded blocks: that churned, a decoded block
 * admitted into a freed segment's room and evicted when the segment refilled); data
 * blocks never evict it; partitions evict it after data blocks; a held block evicts
 * data blocks first, then the tier's own oldest segment.
 *
 * Charge: the tier's bytes are part of the cache's `bytes`. The cache hands the tier
 * two callbacks: one to evict decoded data blocks, one to count a change of the
 * tier's bytes; every change of the ring's bytes is counted at once, so the cache's
 * charge is exact between any two steps of an offer.
 *
 * Synchronous: lookup, hold, evictions and drops never await, so each is part of one
 * `blockCache` section (seed race 3, src/lock/lock-table.ts), as the decoded blocks'.
 *
 * Invariants: the cache's `bytes` counts the ring's bytes exactly; a key is held at
 * most once; an offer first frees the ring down to its share less the block's
 * growth and holds the block only within the cache's bound; `#runBytes` is the sum of the
 * registered runs' file bytes; the high-water mark is at least the ring's bytes
 * (reset to them by dropRun, to 0 by clear).
 */
import { assert } from '../util/assert.js';
import { cacheKey, TWO_TO_32 } from './block-cache-slot.js';
import { CompressedBlockRing } from './compressed-block-ring.js';
import { RUN_BLOCK_HEADER_BYTES } from './run-format.js';
import type { CheckedBlock } from './run-file.js';

/** Share of the room the partitions leave that the compressed tier may fill (see "What it takes"). */
export const BLOCK_CACHE_COMPRESSED_SHARE = 3 / 4;
/**
 * The tier takes blocks only while its share is at least this part of the open
 * compressed runs' file bytes: holding a block costs about 1 us once the tier is full,
 * and a tier that holds a small part of the cold data answers few misses (see
 * "Coverage").
 */
export const BLOCK_CACHE_COMPRESSED_COVER_MIN = 1 / 2;

assert(BLOCK_CACHE_COMPRESSED_SHARE > 0 && BLOCK_CACHE_COMPRESSED_SHARE < 1, 'the compressed tier leaves decoded blocks some room');
assert(BLOCK_CACHE_COMPRESSED_COVER_MIN > 0 && BLOCK_CACHE_COMPRESSED_COVER_MIN <= 1, 'the coverage rule is a part of the runs');

/** What the tier reads of the cache's charge (BlockCache's getters). */
export interface CompressedTierCharge {
  readonly maxBytes: number;
  /** Bytes held by the cache, the tier's included. */
  readonly bytes: number;
  /** Bytes of the held index and filter partitions. */
  readonly partitionBytes: number;
}

/** The tier as the cache's users see it (BlockCache.compressed); eviction, drops and clear stay with the cache. */
export interface CompressedTierAccess {
  /** The tier's bound: its share of the room the partitions leave. */
  readonly maxBytes: number;
  /** Bytes held (part of the cache's `bytes`). */
  readonly bytes: number;
  readonly blocks: number;
  readonly hits: number;
  readonly misses: number;
  /** Whether the tier's share covers enough of the open compressed runs to take blocks (BLOCK_CACHE_COMPRESSED_COVER_MIN). */
  readonly takesBlocks: boolean;
  /**
   * The checked compressed bytes of data block (runId, offset) if the tier holds them,
   * as a CheckedBlock valid until the cache changes (use it synchronously); counts a
   * compressed hit or miss.
   */
  lookup(runId: number, offset: number): CheckedBlock | undefined;
  /** A compressed run was opened for point reads: its file bytes weigh against the tier's share until retireRun or dropRun. */
  registerRun(runId: number, fileBytes: number): void;
  /**
   * Offers a compressed data block just read from the file and checked: held (copied)
   * when the tier takes blocks and has or can make room within its share, evicting
   * data blocks first, then its own oldest segment; kept once.
   */
  hold(runId: number, offset: number, checked: CheckedBlock): void;
}

export class CompressedTier implements CompressedTierAccess {
  readonly #charge: CompressedTierCharge;
  /** Evicts decoded data blocks, least recently used first, until the cache's bytes <= targetBytes or none is left. */
  readonly #evictDataDownTo: (targetBytes: number) => void;
  /** Counts a change of the ring's bytes in the cache's bytes. */
  readonly #count: (deltaBytes: number) => void;
  readonly #ring = new CompressedBlockRing();
  /** The most the tier held since the last dropRun or clear (reservedBytes). */
  #highWaterBytes = 0;
  /** File bytes of the open compressed runs not retired (registerRun), and their sum. */
  readonly #runs = new Map<number, number>();
  #runBytes = 0;

  constructor(charge: CompressedTierCharge, evictDataDownTo: (targetBytes: number) => void, count: (deltaBytes: number) => void) {
    this.#charge = charge;
    this.#evictDataDownTo = evictDataDownTo;
    this.#count = count;
  }

  /** The tier's bound: its share of the room the partitions leave. */
  get maxBytes(): number {
    return Math.floor((this.#charge.maxBytes - this.#charge.partitionBytes) * BLOCK_CACHE_COMPRESSED_SHARE);
  }
  /** Bytes of the ring (part of the cache's `bytes`). */
  get bytes(): number {
    return this.#ring.bytes;
  }
  get blocks(): number {
    return this.#ring.blocks;
  }
  get hits(): number {
    return this.#ring.hits;
  }
  get misses(): number {
    return this.#ring.misses;
  }

  /**
   * Room kept for the tier out of what the partitions leave (BlockCache.dataRoomBytes):
   * what it has held at most since a run was dropped (within its share), so that its
   * oldest segment going and the next one filling do not flip admission between "room"
   * and "full"; 0 while it holds nothing.
   */
  get reservedBytes(): number {
    const ring = this.#ring.bytes;
    return ring === 0 ? 0 : Math.max(ring, Math.min(this.#highWaterBytes, this.maxBytes));
  }

  /** Whether the tier's share covers enough of the open compressed runs to take blocks. */
  get takesBlocks(): boolean {
    return this.maxBytes >= this.#runBytes * BLOCK_CACHE_COMPRESSED_COVER_MIN;
  }

  /** CompressedTierAccess.lookup: see there. */
  lookup(runId: number, offset: number): CheckedBlock | undefined {
    return this.#ring.lookup(cacheKey(runId, offset));
  }

  /** CompressedTierAccess.registerRun: see there. */
  registerRun(runId: number, fileBytes: number): void {
    if (this.#runs.has(runId)) return;
    this.#runs.set(runId, fileBytes);
    this.#runBytes += fileBytes;
  }

  /** A run retired or dropped: its file bytes no longer weigh against the share. */
  forgetRun(runId: number): void {
    const fileBytes = this.#runs.get(runId);
    if (fileBytes === undefined) return;
    this.#runs.delete(runId);
    this.#runBytes -= fileBytes;
    assert(this.#runBytes >= 0, 'the registered file bytes are the sum of the runs registered');
  }

  /** CompressedTierAccess.hold: see there. */
  hold(runId: number, offset: number, checked: CheckedBlock): void {
    const key = cacheKey(runId, offset);
    const ring = this.#ring;
    if (!CompressedBlockRing.fits(key, checked.payloadBytes) || ring.has(key) || !this.takesBlocks) return;
    const growth = ring.growthFor(checked.payloadBytes);
    const bound = this.maxBytes;
    if (growth > bound) return;
    this.evictFreeing(ring.bytes + growth - bound);
    this.#evictDataDownTo(this.#charge.maxBytes - growth);
    this.evictFreeing(this.#charge.bytes + growth - this.#charge.maxBytes);
    if (this.#charge.bytes + ring.growthFor(checked.payloadBytes) > this.#charge.maxBytes) return;
    const before = ring.bytes;
    ring.append(key, checked.bytes, RUN_BLOCK_HEADER_BYTES, checked.payloadBytes, checked.entryCount);
    this.#count(ring.bytes - before);
    this.#highWaterBytes = Math.max(this.#highWaterBytes, ring.bytes);
    assert(this.#charge.bytes <= this.#charge.maxBytes, 'cache bytes within maxBytes');
  }

  /** Evicts the ring's oldest segments until they freed `bytes` or none is held. */
  evictFreeing(bytes: number): void {
    let freed = 0;
    while (freed < bytes && this.#ring.segments > 0) freed += this.#ring.evictOldest();
    this.#count(-freed);
  }

  /** Forgets every block of run `runId` (its file is going away); a tier left with no live block, or one that takes no more, gives its segments back. */
  dropRun(runId: number): void {
    this.#count(-this.#ring.dropKeys((key) => Math.floor(key / TWO_TO_32) === runId));
    this.forgetRun(runId);
    if (this.#ring.blocks === 0 || !this.takesBlocks) this.evictFreeing(this.#ring.bytes);
    this.#highWaterBytes = this.#ring.bytes;
  }

  /** Lets go of every block; the cache resets its charge. The registry stays (it follows the runs, not the cache). */
  clear(): void {
    this.#ring.clear();
    this.#highWaterBytes = 0;
  }

  /** Debug mode (BlockCache's recount): the registry's sum. O(runs). */
  check(): void {
    let total = 0;
    for (const fileBytes of this.#runs.values()) total += fileBytes;
    assert(total === this.#runBytes, 'the registered file bytes are the sum of the runs registered');
    assert(this.#highWaterBytes >= this.#ring.bytes, 'the high-water mark is at least the ring');
  }
}
