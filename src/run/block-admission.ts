/**
 * BlockAdmission: which data block a miss reads into the block cache (block-cache.ts
 * `admits`), and the hit credit that keeps a block from being evicted by a new one.
 * The cache owns the slots, their recency lists and the charge; admission reads the
 * charge (AdmissionCharge) and, to refuse a block, turns the data list's oldest slot
 * over (the only change it makes to the cache).
 *
 * Admission: while the cache has room for a block, every block read is cached; once
 * it is full, a block is admitted only when it misses again within the doorkeeper's
 * window (block-doorkeeper.ts): about as many misses as the cache holds entries (two
 * bitmaps of block hashes, the current window's and the previous one's). A block
 * missed twice that close together would have been hit had it been cached; one missed
 * again only after the cache turned over would have been evicted unused. Uniform
 * reads over a store several times the cache then read most blocks without caching
 * them (no block-sized allocation, decode and eviction per miss: on 1M keys over 24
 * runs, with a window of 2^18 misses every block of the store was "seen" and every
 * miss was admitted, 9% of them ever hit); a data set that fits never meets the
 * doorkeeper. The point-read path reads a block it may not cache into a scratch
 * buffer and copies out only the key's entries.
 *
 * Churn (issue 7, read RSS): the doorkeeper says a block would be hit if cached, not
 * that it is worth more than the block it evicts. On uniform reads over a store not
 * much larger than the cache (200k keys, 28 MB, a 21 MiB block cache) every block
 * is missed again within the window, so 76k of 122k misses were admitted, each a
 * fresh block-sized allocation evicting an equally useful block: 300 MiB of
 * ArrayBuffer garbage over 400k gets, which V8 collects only ~64 MiB of external
 * memory later, and malloc keeps the high-water mark (read RSS 320 MiB, 240 with no
 * admission once full, at the same hit count). So an admitted block evicts the
 * oldest data block only when that one has no hit credit left (turns banked by its
 * hits, BLOCK_CACHE_TURNS_PER_HIT each); one with credit spends a turn and goes back
 * to the recent end instead (GCLOCK over the LRU order) and the new block is read
 * uncached. A hot set that moves still gets in: each refused admission spends one
 * turn of an old block, so a block no longer read goes after at most
 * BLOCK_CACHE_HIT_CREDIT_MAX turns.
 *
 * Invariants: a slot's hitCredit stays within [0, BLOCK_CACHE_HIT_CREDIT_MAX]; a
 * refusal moves exactly one data slot (the oldest) to the recent end and changes no
 * charge; a block admitted fits beside the partitions (set() keeps it).
 */
import { assert } from '../util/assert.js';
import { BLOCK_CACHE_BYTES_PER_ENTRY, cacheKey, doorkeeperHash, type Slot } from './block-cache-slot.js';
import { BLOCK_CACHE_DOORKEEPER_BITS, BLOCK_CACHE_DOORKEEPER_WINDOW_MIN, BlockDoorkeeper } from './block-doorkeeper.js';
import type { RecencyList } from './recency-list.js';

/**
 * "Room for a block" means room for this many times its length on disk: set() evicts
 * down to exactly the room its decoded block needs (bytes plus per-entry arrays), so
 * a full cache always has a raw block's length free; the margin keeps that slack
 * from reading as room (a decoded block is rarely above twice its length).
 */
export const BLOCK_CACHE_ROOM_PER_BLOCK_BYTE = 4;

/**
 * A compressed block is asked about as this many times its length on disk (the
 * caller scales it: RunPointLookup), so its room reads in decoded bytes: a packed
 * block of ~625 B decodes to ~4.5 KiB with its arrays (7-12 times), and counted at
 * four times its length a full cache read as having room after every eviction, so
 * every miss was admitted and evicted a block (measured with the compressed tier's
 * smaller decoded room, 1M keys: 91k evictions in 800k gets, CPU per get up).
 */
export const BLOCK_CACHE_LENGTH_PER_COMPRESSED_BYTE = 4;

/**
 * A data block's hit credit, in turns at the old end (see "Churn"): a hit banks
 * BLOCK_CACHE_TURNS_PER_HIT turns, up to BLOCK_CACHE_HIT_CREDIT_MAX; each refused
 * admission spends one turn of the block it would have evicted. A credit of one turn
 * per hit drains as fast as uniform reads refill it (each miss is a refusal, one turn
 * of the list per cache-full of misses, about one hit per block per turn), so half
 * the victims were free: measured on uniform then skewed reads of a 200k-key store
 * (large-load child), full-cache admissions were 76k with no credit, 30k with one
 * turn per hit (cap 3), 2.9k with 4 (cap 8), 1.9k with 8 (cap 16), at 106.4k, 104.7k
 * and 104.9k hits; read RSS 246 -> 199 MiB. A block that went cold leaves after at
 * most BLOCK_CACHE_HIT_CREDIT_MAX turns, so a hot set that moves still gets in.
 */
export const BLOCK_CACHE_TURNS_PER_HIT = 4;
export const BLOCK_CACHE_HIT_CREDIT_MAX = 2 * BLOCK_CACHE_TURNS_PER_HIT;

/** What admission reads of the cache's charge (BlockCache's getters). */
export interface AdmissionCharge {
  readonly maxBytes: number;
  /** Bytes held, partitions included. */
  readonly bytes: number;
  /** Bytes of the held index and filter partitions, which a data block never evicts. */
  readonly partitionBytes: number;
  /** Room for decoded data blocks: what the partitions and the compressed tier's share leave (a data block evicts neither). */
  readonly dataRoomBytes: number;
  /** Bytes of the held decoded data blocks. */
  readonly dataBytes: number;
  /** Entries held (the doorkeeper's window follows it). */
  readonly blocks: number;
}

/** A hit on data slot `slot` banks BLOCK_CACHE_TURNS_PER_HIT turns, up to BLOCK_CACHE_HIT_CREDIT_MAX. */
export function creditHit(slot: Slot): void {
  slot.hitCredit = Math.min(BLOCK_CACHE_HIT_CREDIT_MAX, slot.hitCredit + BLOCK_CACHE_TURNS_PER_HIT);
}

export class BlockAdmission {
  readonly #charge: AdmissionCharge;
  /** The cache's data blocks' list (and retired runs' partitions): the victims, oldest first. */
  readonly #dataList: RecencyList<Slot>;
  readonly #doorkeeper = new BlockDoorkeeper();
  /** Admissions refused because the would-be victim was hit since its last turn (#victimGivesWay). */
  #secondChances = 0;

  constructor(charge: AdmissionCharge, dataList: RecencyList<Slot>) {
    this.#charge = charge;
    this.#dataList = dataList;
  }

  /** Doorkeeper-approved blocks read uncached because the block they would evict was hit since its last turn. */
  get secondChances(): number {
    return this.#secondChances;
  }

  /** First sightings per doorkeeper window: the entries held, within [BLOCK_CACHE_DOORKEEPER_WINDOW_MIN, a quarter of the bits]. */
  get doorkeeperWindow(): number {
    return Math.min(BLOCK_CACHE_DOORKEEPER_BITS / 4, Math.max(BLOCK_CACHE_DOORKEEPER_WINDOW_MIN, this.#charge.blocks));
  }

  /** True when the decoded data blocks have room for a block of `lengthBytes` (admits' first rule: no eviction needed). */
  hasRoomFor(lengthBytes: number): boolean {
    const charge = this.#charge;
    return charge.dataBytes + lengthBytes * BLOCK_CACHE_ROOM_PER_BLOCK_BYTE + BLOCK_CACHE_BYTES_PER_ENTRY <= charge.dataRoomBytes;
  }

  /** BlockCache.admits: see there. REQUIRES: called once per miss of the block. */
  admits(runId: number, offset: number, lengthBytes: number): boolean {
    assert(lengthBytes > 0, 'a block has bytes');
    const charge = this.#charge;
    const room = charge.dataRoomBytes;
    // set() would not keep it (data blocks never evict partitions or compressed blocks; a decoded block is at least its length): read it into scratch.
    if (lengthBytes + BLOCK_CACHE_BYTES_PER_ENTRY > room) return false;
    if (this.hasRoomFor(lengthBytes)) return true;
    if (!this.#doorkeeper.sightedBefore(doorkeeperHash(cacheKey(runId, offset)), this.doorkeeperWindow)) return false;
    return this.#victimGivesWay();
  }

  /**
   * Whether the block a new one would evict (the data list's oldest) may go: yes when
   * its hit credit is spent; else it spends one, gets another turn at the recent end,
   * and the new block is read uncached. See "Churn".
   */
  #victimGivesWay(): boolean {
    const victim = this.#dataList.oldest();
    if (victim === undefined || victim.hitCredit === 0) return true;
    assert(victim.inDataList && victim.hitCredit <= BLOCK_CACHE_HIT_CREDIT_MAX, 'a victim is a data-list slot with bounded credit');
    victim.hitCredit--;
    this.#dataList.remove(victim);
    this.#dataList.pushNewest(victim);
    this.#secondChances++;
    return false;
  }
}
