/**
 * The memory budget (`memoryBudgetBytes`) and how the storage engine divides it
 * (storage-engine.ts keeps the current charge and applies the bounds computed here).
 *
 * A memtable is sealed at MEMTABLE_BUDGET_SHARE of the budget; writes stall while
 * sealed memtables exceed IMMUTABLE_BUDGET_SHARE (room for two: one flushing, one
 * waiting); the caches get what is left after
 * the memtables' charge and the runs' resident top-level indexes (never less than
 * BLOCK_CACHE_BYTES_MIN). The memtables are charged what they hold, rounded up to the
 * next MEMTABLE_CHARGE_STEP_SHARE of the budget plus one step of headroom, at most
 * their two shares (RocksDB charges its write buffers to the block cache the same
 * way): a store that is only read gives the caches nearly the whole budget (a 28 MB
 * store read at 64 MiB hit its blocks 46% of the time with the shares held back for
 * memtables that held nothing), and as a write load fills the memtables the caches
 * shrink back, evicting at most a step at a time, at the end of a WAL record. Of
 * that, the block cache takes room for the runs' index and filter partitions
 * (estimated from the run descriptors, see partitionBytesEstimate) plus
 * BLOCK_CACHE_DATA_SHARE for data blocks, at least 1 - POINT_CACHE_SHARE and at most
 * 1 - POINT_CACHE_SHARE_MIN of it; the point cache gets the rest. Every point read
 * needs a filter partition per run and an index partition: on a 10M-key store (29 MB
 * of partitions) a 50/50 split left them 21 MiB, and each get read and decoded an
 * index partition.
 *
 * Invariants: the memtables' two shares leave room for the caches (asserted at load);
 * a charge is a whole number of steps, at most memtableChargeMaxBytes; the two cache
 * bounds add up to what is left, the block cache's within its two shares of it.
 */
import { RUN_BLOOM_BITS_PER_KEY } from '../run/bloom-filter.js';
import { assert } from '../util/assert.js';
import type { RunHandle } from './run-set.js';

/**
 * Shares of the memory budget (see the module header). The sealed memtables' share
 * holds two memtables, each sealed at MEMTABLE_BUDGET_SHARE or one WAL record past it:
 * one being flushed and one sealed meanwhile, so a seal during a flush does not stall
 * writes; a third one does (the flushes fell behind). With the active memtable at 1/8,
 * two sealed memtables exceeded the quarter: every seal during a flush stalled all
 * writers until that flush was installed (~100-250 ms; issues 7 and 12). The memtables
 * together still hold about a quarter of the budget at most, as they did at 1/8: three
 * of 1/12 (two sealed and the active one, or three sealed and writes stalled) where
 * there were two of 1/8.
 */
export const MEMTABLE_BUDGET_SHARE = 1 / 12;
export const IMMUTABLE_BUDGET_SHARE = 1 / 4;
export const BLOCK_CACHE_BYTES_MIN = 1024 * 1024;
/** The memtables' charge against the caches moves in steps of this share of the budget (module header). */
export const MEMTABLE_CHARGE_STEP_SHARE = 1 / 32;
/** Share of the cache budget that holds hot keys' entries rather than whole blocks, while the runs' partitions leave room for it... */
export const POINT_CACHE_SHARE = 1 / 2;
/** ...and the least it keeps when they do not. */
export const POINT_CACHE_SHARE_MIN = 1 / 8;
/** Share of the cache budget the block cache keeps for data blocks beside the partitions. */
export const BLOCK_CACHE_DATA_SHARE = 1 / 8;
/**
 * Decoded index partition bytes per run entry, for the estimate: an index entry of
 * about 48 B (key, offset, length, checksum) per 4 KiB data block of about 28
 * entries of 100 B values (measured: 16.2 MB of decoded index partitions for 10M
 * entries). Larger values mean fewer entries per block, smaller ones more; the
 * estimate only steers the split between the two caches.
 */
export const INDEX_PARTITION_BYTES_PER_ENTRY = 2;
/** Slack over the estimate (the cache's per-slot cost, rounding). */
const PARTITION_ESTIMATE_SLACK = 1.1;

assert(MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE < 1, 'memtables leave room for the cache');
assert(2 * MEMTABLE_BUDGET_SHARE < IMMUTABLE_BUDGET_SHARE && 3 * MEMTABLE_BUDGET_SHARE >= IMMUTABLE_BUDGET_SHARE, 'the sealed share holds a flushing and a waiting memtable, not a third');

/** The most the memtables are charged: their two shares of the budget. */
export function memtableChargeMaxBytes(budgetBytes: number): number {
  return Math.floor(budgetBytes * (MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE));
}

/** The caches' bytes before anything is charged against them: what the memtables' two shares leave. */
export function initialCacheBytes(budgetBytes: number): number {
  return Math.max(BLOCK_CACHE_BYTES_MIN, Math.floor(budgetBytes * (1 - MEMTABLE_BUDGET_SHARE - IMMUTABLE_BUDGET_SHARE)));
}

/** The memtables' charge for `memtableBytes` held: rounded up to the next step, plus a step, at most `chargeMaxBytes`. */
export function memtableChargeBytes(budgetBytes: number, memtableBytes: number, chargeMaxBytes: number): number {
  const step = Math.max(1, Math.floor(budgetBytes * MEMTABLE_CHARGE_STEP_SHARE));
  return Math.min(chargeMaxBytes, (Math.floor(memtableBytes / step) + 1) * step);
}

/** The two caches' bounds: what the memtables' charge and the runs' resident indexes leave, split (module header). */
export interface CacheBounds {
  blockCacheBytes: number;
  pointCacheBytes: number;
}

/**
 * The caches' bounds given the memtables' charge and the runs' resident top-level
 * index bytes: the block cache first takes room for the partitions (module header).
 */
export function cacheBounds(budgetBytes: number, chargeBytes: number, runsMemoryBytes: number, runs: readonly RunHandle[]): CacheBounds {
  const left = Math.max(BLOCK_CACHE_BYTES_MIN, budgetBytes - chargeBytes - runsMemoryBytes);
  const wanted = Math.ceil(partitionBytesEstimate(runs) * PARTITION_ESTIMATE_SLACK) + Math.floor(left * BLOCK_CACHE_DATA_SHARE);
  const blockCacheBytes = Math.min(Math.floor(left * (1 - POINT_CACHE_SHARE_MIN)), Math.max(left - Math.floor(left * POINT_CACHE_SHARE), wanted));
  return { blockCacheBytes, pointCacheBytes: left - blockCacheBytes };
}

/** Decoded bytes of the runs' index and filter partitions, estimated from their descriptors (the filter's bits per key; INDEX_PARTITION_BYTES_PER_ENTRY). */
export function partitionBytesEstimate(runs: readonly RunHandle[]): number {
  let total = 0;
  for (const run of runs) total += (run.descriptor.keyCount * RUN_BLOOM_BITS_PER_KEY) / 8 + run.descriptor.entryCount * INDEX_PARTITION_BYTES_PER_ENTRY;
  return total;
}
