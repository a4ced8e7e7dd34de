/**
 * BlockCache: an LRU of decoded data blocks keyed by (runId, block offset), bounded
 * in bytes.
 *
 * A Map finds a block's slot; the slots also form two recency lists
 * (recency-list.ts), one of data blocks and one of partitions (a hit moves a data
 * block to the recent end, eviction takes from the old end), so a hit and an
 * eviction are O(1). get and set are synchronous, so each is one
 * critical section on the event loop (seed race 3): two readers that missed the same
 * block may both read it, but set() keeps the first copy and hands it back, so the
 * cache never holds two copies of one block.
 *
 * Admission (`admits`, block-admission.ts): while the cache has room every block
 * read is cached; once it is full, a block is admitted only when it misses again
 * within the doorkeeper's window, and only in place of an oldest data block with no
 * hit credit left (one with credit gets another turn instead). The cache keeps the
 * slots, the recency lists and the charge; admission reads the charge and turns the
 * data list's oldest slot over when it refuses.
 *
 * Partitions: a format-3 run's index and filter partitions (run format 3,
 * src/run/run-top-index.ts) are held here too, by the same (runId, offset) key (their
 * offsets never meet a data block's), against the same bound, so the budget counts
 * them; they skip the doorkeeper (a point read needs them every time) and have their
 * own hit and miss counters.
 *
 * Partitions come first (RocksDB's high-priority pool for index and filter blocks):
 * a data block only ever evicts data blocks, and is not cached when the partitions
 * leave it no room; a partition evicts data blocks first, then partitions. Every
 * point read needs one filter partition per run and one index partition, while a
 * data block is needed again only by a read of a nearby key: on a 10M-key store
 * whose partitions overflowed the cache, data blocks evicting partitions made each
 * get read and decode an index partition (38% of its CPU). The engine sizes the
 * cache so that the runs' partitions fit (memory-budget.ts cacheBounds).
 *
 * A point read asks one filter partition per run, so a
 * partition hit must be cheap: a reader keeps the PartitionSlot it was given and
 * touches it (a flag, no Map reordering); eviction gives a touched partition a
 * second chance (moved to the recent end, flag cleared: CLOCK for partitions, exact
 * LRU for data blocks). An evicted or dropped slot reads `held` false and lets go
 * of its partition, so a reader's stale slot holds no partition memory.
 *
 * Prepopulation (insertIfRoom, insertPartitionIfRoom): a memtable flush offers the
 * blocks and partitions it just wrote, decoded as a read would decode them (RocksDB's
 * prepopulate_block_cache = kFlushOnly). They are held only while there is free room:
 * an offered block never evicts another (hot blocks of other runs stay), and one
 * already held is kept. They count against the bound like any held block.
 *
 * The slots, their keys and the doorkeeper's hash of a key are in block-cache-slot.ts.
 *
 * Compressed tier (compressed-tier.ts, over compressed-block-ring.ts): the checked
 * compressed bytes of compressed runs' data blocks, within its share of the room the
 * partitions leave. It ranks between the two others: what it has held at most is kept
 * for it (dataRoomBytes), data blocks never evict it, partitions evict it after data
 * blocks. A block may be held once decoded and once compressed (two kinds, each held
 * at most once); `bytes` counts both. Its users reach it as `compressed`; the cache
 * has it evict (resizes, partitions), forget retired runs, drop and clear.
 *
 * Invariants: `bytes` is the sum of the held blocks' sizeBytes (plus
 * BLOCK_CACHE_BYTES_PER_ENTRY each) and the compressed tier's bytes, and never
 * exceeds `maxBytes` after a call returns; a block larger than maxBytes is never held;
 * the compressed tier is within its share after a call returns (a smaller bound, or a
 * partition a read holds, which shrinks the room the partitions leave, evicts it down to
 * it; a flush's offered partition that would is not held).
 */
import { assert } from '../util/assert.js';
import { debugEnabled } from '../util/debug.js';
import type { DecodedBlock } from './data-block.js';
import { RecencyList } from './recency-list.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, cacheKey, newSlot, releaseSlot, type PartitionSlot, type Slot } from './block-cache-slot.js';
import { BlockAdmission, creditHit } from './block-admission.js';
import { BLOCK_CACHE_COMPRESSED_SHARE, CompressedTier, type CompressedTierAccess } from './compressed-tier.js';

export { BLOCK_CACHE_COMPRESSED_COVER_MIN, BLOCK_CACHE_COMPRESSED_SHARE } from './compressed-tier.js';
export { BLOCK_CACHE_DOORKEEPER_BITS, BLOCK_CACHE_DOORKEEPER_WINDOW_MIN } from './block-doorkeeper.js';
export { BLOCK_CACHE_HIT_CREDIT_MAX, BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE, BLOCK_CACHE_ROOM_PER_BLOCK_BYTE, BLOCK_CACHE_TURNS_PER_HIT } from './block-admission.js';
export { BLOCK_CACHE_BYTES_PER_ENTRY } from './block-cache-slot.js';
export type { PartitionSlot } from './block-cache-slot.js';
export type { CompressedTierAccess } from './compressed-tier.js';

export interface BlockCacheStats {
  maxBytes: number;
  bytes: number;
  blocks: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class BlockCache {
  readonly #slots = new Map<number | string, Slot>();
  /** The recency lists: data blocks (and retired runs' partitions), and partitions. */
  readonly #dataList = new RecencyList<Slot>();
  readonly #partitionList = new RecencyList<Slot>();
  /** Bytes of the held partition slots (part of `bytes`). */
  #partitionBytes = 0;
  #maxBytes: number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  /** Which missed data block is read into the cache (block-admission.ts). */
  readonly #admission = new BlockAdmission(this, this.#dataList);
  #evictions = 0;
  #partitionHits = 0;
  #partitionMisses = 0;
  /** The compressed tier; its bytes are part of #bytes (it counts each change at once). */
  readonly #tier = new CompressedTier(this, (targetBytes) => this.#evictDataDownTo(targetBytes), (deltaBytes) => {
    this.#bytes += deltaBytes;
  });

  constructor(maxBytes: number) {
    BlockCache.#checkMaxBytes(maxBytes);
    this.#maxBytes = maxBytes;
  }

  #listOf(slot: Slot): RecencyList<Slot> {
    return slot.inDataList ? this.#dataList : this.#partitionList;
  }

  /** Puts `slot` (not in a list) at the recent end of its list. */
  #linkNewest(slot: Slot): void {
    this.#listOf(slot).pushNewest(slot);
  }

  #unlink(slot: Slot): void {
    this.#listOf(slot).remove(slot);
  }

  /** Adds a new slot to the Map and the list's recent end, and counts its bytes. */
  #insert(slot: Slot): void {
    this.#slots.set(slot.key, slot);
    this.#linkNewest(slot);
    this.#bytes += slot.sizeBytes;
    if (!slot.inDataList) this.#partitionBytes += slot.sizeBytes;
    assert(this.#bytes <= this.#maxBytes, 'cache bytes within maxBytes');
  }

  static #checkMaxBytes(maxBytes: number): void {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Changing the bound evicts at once down to it. */
  set maxBytes(maxBytes: number) {
    BlockCache.#checkMaxBytes(maxBytes);
    this.#maxBytes = maxBytes;
    this.#evictDataDownTo(maxBytes);
    this.#tier.evictFreeing(this.#tier.bytes - this.#tier.maxBytes);
    this.#tier.evictFreeing(this.#bytes - maxBytes);
    this.#evictPartitionsDownTo(maxBytes);
  }

  /** Room for decoded data blocks: what the partitions leave, less the room kept for the compressed tier (CompressedTier.reservedBytes). */
  get dataRoomBytes(): number {
    return this.#maxBytes - this.#partitionBytes - this.#tier.reservedBytes;
  }
  /** Bytes of the held decoded data blocks (and retired runs' partitions). */
  get dataBytes(): number {
    return this.#bytes - this.#partitionBytes - this.#tier.bytes;
  }

  /** The compressed tier (compressed-tier.ts): its bound, counters, reads, offers and registry of compressed runs. */
  get compressed(): CompressedTierAccess {
    return this.#tier;
  }

  /** Bytes of the held index and filter partitions (part of `bytes`). */
  get partitionBytes(): number {
    return this.#partitionBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }
  get blocks(): number {
    return this.#slots.size;
  }
  get hits(): number {
    return this.#hits;
  }
  get misses(): number {
    return this.#misses;
  }
  get evictions(): number {
    return this.#evictions;
  }
  /** Doorkeeper-approved blocks read uncached because the block they would evict was hit since its last turn. */
  get secondChances(): number {
    return this.#admission.secondChances;
  }

  stats(): BlockCacheStats {
    return { maxBytes: this.#maxBytes, bytes: this.#bytes, blocks: this.#slots.size, hits: this.#hits, misses: this.#misses, evictions: this.#evictions };
  }

  /**
   * True when a block of `lengthBytes` just missed should be read into the cache:
   * always while there is room (BLOCK_CACHE_ROOM_PER_BLOCK_BYTE); once full, only on
   * a miss within the doorkeeper's window of its previous one (the doorkeeper
   * remembers it for this window and the next); never when the partitions leave it
   * no room (set() would not keep it). REQUIRES: called once per miss of the block.
   */
  admits(runId: number, offset: number, lengthBytes: number): boolean {
    return this.#admission.admits(runId, offset, lengthBytes);
  }

  /** True when a decoded block read from `lengthBytes` on disk fits without evicting anything (BlockAdmission.hasRoomFor). */
  hasRoomFor(lengthBytes: number): boolean {
    return this.#admission.hasRoomFor(lengthBytes);
  }

  /** First sightings per doorkeeper window: the entries held, within [BLOCK_CACHE_DOORKEEPER_WINDOW_MIN, a quarter of the bits]. */
  get doorkeeperWindow(): number {
    return this.#admission.doorkeeperWindow;
  }

  /** The cached block, made most recently used; counts a hit or a miss. */
  get(runId: number, offset: number): DecodedBlock | undefined {
    const key = cacheKey(runId, offset);
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    assert(slot.block !== undefined, 'a data block offset never holds a partition');
    this.#hits++;
    creditHit(slot);
    if (!this.#dataList.isNewest(slot)) {
      this.#unlink(slot);
      this.#linkNewest(slot);
    }
    return slot.block;
  }

  get partitionHits(): number {
    return this.#partitionHits;
  }
  get partitionMisses(): number {
    return this.#partitionMisses;
  }

  /** The cached partition at (runId, offset), touched; counts a partition hit or miss. */
  getPartition<T extends object>(runId: number, offset: number): T | undefined {
    return this.lookupPartition<T>(runId, offset)?.partition;
  }

  /** The slot of the cached partition at (runId, offset), touched; counts a partition hit or miss. */
  lookupPartition<T extends object>(runId: number, offset: number): PartitionSlot<T> | undefined {
    const slot = this.#slots.get(cacheKey(runId, offset));
    if (slot === undefined) {
      this.#partitionMisses++;
      return undefined;
    }
    assert(slot.partition !== undefined && slot.held, 'a partition offset never holds a data block');
    this.#partitionHits++;
    slot.referenced = true;
    return slot as PartitionSlot<T>;
  }

  /** A hit on a slot its reader kept. REQUIRES: slot.held. */
  touchPartition(slot: PartitionSlot<object>): void {
    assert(slot.held, 'a touched partition slot is held');
    this.#partitionHits++;
    (slot as Slot).referenced = true;
  }

  /**
   * Offers a partition just read and checked (always admitted while it fits); returns
   * the slot to keep: the one already cached if another read got there first, else a
   * new one (not held if the partition is larger than the whole cache).
   */
  setPartition<T extends object>(runId: number, offset: number, partition: T, partitionSizeBytes: number): PartitionSlot<T> {
    const key = cacheKey(runId, offset);
    const existing = this.#slots.get(key);
    if (existing !== undefined) {
      assert(existing.partition !== undefined && existing.held, 'a partition offset never holds a data block');
      return existing as PartitionSlot<T>;
    }
    const sizeBytes = partitionSizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const slot = newSlot(key, runId, undefined, partition, sizeBytes);
    if (sizeBytes > this.#maxBytes) {
      slot.held = false;
      return slot as PartitionSlot<T>;
    }
    this.#evictDataDownTo(this.#maxBytes - sizeBytes);
    this.#tier.evictFreeing(this.#bytes + sizeBytes - this.#maxBytes);
    this.#evictPartitionsDownTo(this.#maxBytes - sizeBytes);
    this.#insert(slot);
    this.#tierWithinShare();
    return slot as PartitionSlot<T>;
  }

  /**
   * Offers a block just read. Returns the copy to use: the one already cached if
   * another reader got there first (no duplicates), else `block` (cached if it fits).
   */
  set(runId: number, offset: number, block: DecodedBlock): DecodedBlock {
    const key = cacheKey(runId, offset);
    const existing = this.#slots.get(key);
    if (existing !== undefined) {
      assert(existing.block !== undefined, 'a data block offset never holds a partition');
      return existing.block;
    }
    const sizeBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    // Data blocks never evict partitions or the compressed tier: the block is read uncached when they leave no room.
    const room = this.dataRoomBytes;
    if (sizeBytes > room) return block;
    this.#evictDataDownTo(this.#maxBytes - sizeBytes);
    this.#evictDataDownTo(this.#bytes - this.dataBytes + room - sizeBytes);
    this.#insert(newSlot(key, runId, block, undefined, sizeBytes));
    return block;
  }

  /** Bytes the cache can take without evicting anything. */
  get freeBytes(): number {
    return this.#maxBytes - this.#bytes;
  }

  /**
   * Holds a decoded data block written by a flush if it fits in the free room
   * (never evicts) and (runId, offset) holds nothing yet; true when held. Counts no
   * hit or miss.
   */
  insertIfRoom(runId: number, offset: number, block: DecodedBlock): boolean {
    const sizeBytes = block.sizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const key = cacheKey(runId, offset);
    if (sizeBytes > this.freeBytes || sizeBytes > this.dataRoomBytes - this.dataBytes || this.#slots.has(key)) return false;
    this.#insert(newSlot(key, runId, block, undefined, sizeBytes));
    return true;
  }

  /** As insertIfRoom, for an index or filter partition written by a flush. */
  insertPartitionIfRoom(runId: number, offset: number, partition: object, partitionSizeBytes: number): boolean {
    const sizeBytes = partitionSizeBytes + BLOCK_CACHE_BYTES_PER_ENTRY;
    const key = cacheKey(runId, offset);
    if (sizeBytes > this.freeBytes || this.#slots.has(key)) return false;
    // Never evicts: not held when it would leave the compressed tier over its (smaller) share.
    if (this.#tier.bytes > Math.floor((this.#maxBytes - this.#partitionBytes - sizeBytes) * BLOCK_CACHE_COMPRESSED_SHARE)) return false;
    this.#insert(newSlot(key, runId, undefined, partition, sizeBytes));
    return true;
  }

  /**
   * A partition a read holds shrinks the room the partitions leave, and with it the
   * compressed tier's share: the tier's oldest segments go at once (it ranks below
   * partitions), not at its next hold, so the tier is within its share after every call.
   */
  #tierWithinShare(): void {
    this.#tier.evictFreeing(this.#tier.bytes - this.#tier.maxBytes);
  }

  /**
   * A compaction replaced run `runId`: readers of older views may still ask its blocks
   * and partitions, so they stay (until dropRun at its close, which waits for those
   * views), but go to the old end of the data blocks' list, first to be evicted by
   * anything, and its partitions stop counting as partitions (a data block may evict
   * them). Without this a replaced run's partitions kept their priority until every
   * view holding the run was collected. O(slots); once per compaction.
   */
  retireRun(runId: number): void {
    this.#tier.forgetRun(runId);
    const retired: Slot[] = [];
    for (const slot of this.#slots.values()) if (slot.runId === runId) retired.push(slot);
    for (const slot of retired) {
      this.#unlink(slot);
      if (!slot.inDataList) this.#partitionBytes -= slot.sizeBytes;
      slot.inDataList = true;
      slot.referenced = false;
      slot.hitCredit = 0; // first to go, also for an admitted block
      this.#dataList.pushOldest(slot);
    }
    this.#check();
  }

  /** Drops every block of a run (its file is going away). */
  dropRun(runId: number): void {
    for (const [key, slot] of this.#slots) {
      if (slot.runId !== runId) continue;
      this.#slots.delete(key);
      this.#unlink(slot);
      this.#bytes -= slot.sizeBytes;
      if (!slot.inDataList) this.#partitionBytes -= slot.sizeBytes;
      releaseSlot(slot);
    }
    this.#tier.dropRun(runId);
    this.#check();
  }

  clear(): void {
    for (const slot of this.#slots.values()) {
      slot.older = undefined;
      slot.newer = undefined;
      releaseSlot(slot);
    }
    this.#slots.clear();
    this.#dataList.clear();
    this.#partitionList.clear();
    this.#tier.clear();
    this.#bytes = 0;
    this.#partitionBytes = 0;
  }

  /** Evicts data blocks, least recently used first, until `bytes` <= targetBytes or none is left. */
  #evictDataDownTo(targetBytes: number): void {
    while (this.#bytes > targetBytes) {
      const slot = this.#dataList.oldest();
      if (slot === undefined) return;
      this.#unlink(slot);
      this.#slots.delete(slot.key);
      this.#bytes -= slot.sizeBytes;
      releaseSlot(slot);
      this.#evictions++;
    }
  }

  /** Evicts partitions (CLOCK: a touched one gets a second turn) until `bytes` <= targetBytes. REQUIRES: no data block is held. */
  #evictPartitionsDownTo(targetBytes: number): void {
    while (this.#bytes > targetBytes) {
      const slot = this.#partitionList.oldest();
      assert(slot !== undefined, 'bytes > 0 with no data block held means a partition is held');
      this.#unlink(slot);
      if (slot.referenced) {
        // Touched since its last turn: second chance at the recent end (each pass clears a flag, so the loop ends).
        slot.referenced = false;
        this.#linkNewest(slot);
        continue;
      }
      this.#slots.delete(slot.key);
      this.#bytes -= slot.sizeBytes;
      this.#partitionBytes -= slot.sizeBytes;
      releaseSlot(slot);
      this.#evictions++;
    }
  }

  /** Debug mode: recounts the held bytes (O(blocks), so only after the rare dropRun). */
  #check(): void {
    assert(this.#bytes <= this.#maxBytes && this.#bytes >= 0, 'cache bytes within bounds');
    if (!debugEnabled()) return;
    this.#tier.check();
    let total = this.#tier.bytes;
    for (const slot of this.#slots.values()) total += slot.sizeBytes;
    assert(total === this.#bytes, 'cache bytes equal the sum of held blocks');
    let listed = 0;
    let partitionTotal = 0;
    for (const _slot of this.#dataList.nodes()) listed++;
    for (const slot of this.#partitionList.nodes()) {
      listed++;
      partitionTotal += slot.sizeBytes;
    }
    assert(listed === this.#slots.size, 'the recency lists hold exactly the held slots');
    assert(partitionTotal === this.#partitionBytes, 'partitionBytes is the sum of held partitions');
  }
}
