/**
 * The storage engine's stats (store.stats().storage): assembled from its parts'
 * counters on each call, nothing cached.
 *
 * Invariants: reading stats changes nothing (no run file is opened, no cache entry
 * touched: an unopened run is classed by its tier, see runCompressed); every count is
 * since open except the run and manifest figures, which describe the live state.
 */
import { commitSlabPool } from '../codec/value-slabs.js';
import type { CompactionStats } from '../compaction/compaction-stats.js';
import type { Compactor } from '../compaction/compactor.js';
import { compressionForTier } from '../compaction/compaction-policy.js';
import type { Manifest } from '../manifest/manifest.js';
import type { BlockCache } from '../run/block-cache.js';
import type { ColdTierCompressor } from '../run/compression-pool.js';
import { RunCompression } from '../run/run-format.js';
import type { ScrubCounters, ScrubStats } from '../stripe/scrub.js';
import type { FlushStats } from './flusher.js';
import type { MemtableHolds } from './memtable-holds.js';
import type { Memtables } from './memtables.js';
import type { PointCache } from './point-cache.js';
import type { RunHandle, RunSet } from './run-set.js';

export interface EngineStats {
  memoryBudgetBytes: number;
  memtableBytes: number;
  immutableMemtables: number;
  immutableMemtableBytes: number;
  /**
   * Memtables flushed and installed that long-lived readers (snapshots, scans and
   * transactions left open, watch feeds catching up) began before and still hold: live
   * memory until the last such reader lets go (memtable-holds.ts). Counted in
   * memoryBytes, tiers.hotBytes, the memtables' charge and the write stall's share.
   */
  retainedMemtables: number;
  retainedMemtableBytes: number;
  /**
   * Commit value slabs released by dropped memtables and held strongly on the free list
   * for reuse (src/codec/slab-pool.ts SlabPool#heldBytes): live memory that no memtable
   * counts, at most the memtable share less the active memtable at the last drop (slabs
   * past it are only weakly referenced, garbage to V8, and not counted). The pool is one
   * per process, shared by every open store: each store's stats report all of it.
   */
  valueSlabPoolBytes: number;
  /**
   * The two caches, each against its own bound: the block cache (decoded blocks,
   * src/run/block-cache.ts) and the point cache (hot keys' run entries,
   * point-cache.ts). `cacheBytes`/`cacheMaxBytes` are the two together (what the
   * memory budget gives the caches). Each bytes figure is at or below its max
   * (each cache evicts before an insert or a resize returns). blockCacheBytes
   * used to count both caches (so it exceeded blockCacheMaxBytes once the point
   * cache held anything); it means the block cache alone since 2026-11-30.
   */
  blockCacheBytes: number;
  blockCacheMaxBytes: number;
  pointCacheBytes: number;
  pointCacheMaxBytes: number;
  cacheBytes: number;
  cacheMaxBytes: number;
  /**
   * What the caches leave of the budget for the memtables now: their bytes (with the
   * value slabs held for reuse, valueSlabPoolBytes) rounded up a step, plus a step, at
   * most their two shares (memory-budget.ts; retained memtables count with them). Budget =
   * memtableChargeBytes + cacheMaxBytes + runIndexBytes (the caches' floor aside).
   */
  memtableChargeBytes: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  /**
   * Data blocks and partitions the block cache let go to make room, and missed blocks
   * it read uncached because the oldest block still had hit credit (block-cache.ts
   * "Churn"): each eviction of a data block frees an allocation a new block made.
   */
  blockCacheEvictions: number;
  blockCacheAdmissionsRefused: number;
  /** The block cache's compressed tier (compressed-tier.ts): bytes held (part of blockCacheBytes), and misses of the decoded blocks it answered or not. */
  blockCacheCompressedBytes: number;
  blockCacheCompressedHits: number;
  blockCacheCompressedMisses: number;
  runIndexBytes: number;
  runs: number;
  runBytes: number;
  /** Distinct keys and entries over all runs (a key in several runs counts in each). */
  runKeys: number;
  runEntries: number;
  flushes: number;
  flushedBytes: number;
  /**
   * Flushes whose flush thread died under them (a crash, its heap exhausted, ended):
   * each memtable was written again in process, nothing lost (flusher.ts). Growing:
   * the thread keeps dying (docs/ARCHITECTURE.md, flush thread).
   */
  flushThreadExits: number;
  /**
   * Cold-tier block batches whose compression pool thread died under them (a crash, its
   * heap exhausted): compressed again on the main thread, the same bytes
   * (compression-pool.ts).
   */
  compressionThreadExits: number;
  walSegmentsDeleted: number;
  writeStalls: number;
  writeStallMs: number;
  flushedVersion: number;
  /** Runs per level, bytes on disk, live bytes, write amplification, debt (src/compaction/). */
  compaction: CompactionStats;
  /** Blocks and parity pages rebuilt from parity since open. */
  repairedBlocks: number;
  repairedParityPages: number;
  /** A gauge: blocks of the live runs whose last read could not rebuild them (a later good read takes a block out). */
  unrecoverableBlocks: number;
  /** What store.scrub() calls and background scrub passes checked and found since open. */
  scrub: ScrubStats;
  /** Bytes per tier: hot in memory, warm and cold on disk (see TierStats). */
  tiers: TierStats;
}

/**
 * Where the data is (docs/ARCHITECTURE.md, "The cold tier"): hot = memtables and the
 * caches (decompressed blocks and entries); warm = runs with uncompressed blocks;
 * cold = runs with compressed blocks (compaction writes them from tier COLD_TIER_MIN
 * on). A run counts by its footer's compression, not its tier: a deep run written
 * before the cold tier existed is warm. The ratio covers blocks compressed since open
 * (run files do not record their blocks' uncompressed size, so it is undefined after
 * a reopen until compaction compresses again).
 */
export interface TierStats {
  hotBytes: number;
  warmBytes: number;
  warmRuns: number;
  coldBytes: number;
  coldRuns: number;
  /** Cold data blocks compressed since open: bytes in and out, and in / out (undefined before the first). */
  compressedInputBytes: number;
  compressedOutputBytes: number;
  compressionRatio: number | undefined;
}

/** What the stats are read from: the engine's parts and the counters it keeps itself. */
export interface EngineStatsSources {
  memoryBudgetBytes: number;
  memtableChargeBytes: number;
  flush: FlushStats;
  memtables: Memtables;
  memtableHolds: MemtableHolds;
  cache: BlockCache;
  pointCache: PointCache;
  runSet: RunSet;
  manifest: Manifest;
  compactor: Compactor;
  scrubCounters: ScrubCounters;
  coldCompressor: ColdTierCompressor;
  writeStalls: number;
  writeStallMs: number;
  repairedBlocks: number;
  repairedParityPages: number;
}

export function engineStats(sources: EngineStatsSources): EngineStats {
  const { flush, memtables, pointCache, runSet } = sources;
  const cache = sources.cache.stats();
  return {
    memoryBudgetBytes: sources.memoryBudgetBytes,
    memtableBytes: memtables.active.memoryBytes,
    immutableMemtables: memtables.immutableCount,
    immutableMemtableBytes: memtables.immutableBytes,
    retainedMemtables: sources.memtableHolds.inMemoryCount,
    retainedMemtableBytes: sources.memtableHolds.inMemoryBytes,
    valueSlabPoolBytes: commitSlabPool.heldBytes,
    blockCacheBytes: cache.bytes,
    blockCacheMaxBytes: sources.cache.maxBytes,
    pointCacheBytes: pointCache.bytes,
    pointCacheMaxBytes: pointCache.maxBytes,
    cacheBytes: cache.bytes + pointCache.bytes,
    cacheMaxBytes: sources.cache.maxBytes + pointCache.maxBytes,
    memtableChargeBytes: sources.memtableChargeBytes,
    blockCacheHits: cache.hits,
    blockCacheMisses: cache.misses,
    blockCacheEvictions: cache.evictions,
    blockCacheAdmissionsRefused: sources.cache.secondChances,
    blockCacheCompressedBytes: sources.cache.compressed.bytes,
    blockCacheCompressedHits: sources.cache.compressed.hits,
    blockCacheCompressedMisses: sources.cache.compressed.misses,
    runIndexBytes: runSet.memoryBytes,
    runs: runSet.runs.length,
    runBytes: runSet.fileBytes,
    runKeys: runSet.runs.reduce((total, run) => total + run.descriptor.keyCount, 0),
    runEntries: runSet.runs.reduce((total, run) => total + run.descriptor.entryCount, 0),
    flushes: flush.flushes,
    flushedBytes: flush.flushedBytes,
    flushThreadExits: flush.flushThreadExits,
    compressionThreadExits: sources.coldCompressor.threadExits,
    walSegmentsDeleted: flush.walSegmentsDeleted,
    writeStalls: sources.writeStalls,
    writeStallMs: sources.writeStallMs,
    flushedVersion: sources.manifest.state.flushedVersion,
    compaction: sources.compactor.stats(flush.flushedBytes),
    repairedBlocks: sources.repairedBlocks,
    repairedParityPages: sources.repairedParityPages,
    unrecoverableBlocks: runSet.runs.reduce((total, run) => total + (run.repairCounters?.unrecoverableBlocks ?? 0), 0),
    scrub: sources.scrubCounters.snapshot(),
    tiers: tierStats(sources, cache.bytes + pointCache.bytes),
  };
}

function tierStats(sources: EngineStatsSources, cacheBytes: number): TierStats {
  const { memtables } = sources;
  const tiers: TierStats = {
    hotBytes: memtables.active.memoryBytes + memtables.immutableBytes + sources.memtableHolds.inMemoryBytes + cacheBytes,
    warmBytes: 0, warmRuns: 0, coldBytes: 0, coldRuns: 0, compressedInputBytes: 0, compressedOutputBytes: 0, compressionRatio: undefined,
  };
  for (const run of sources.runSet.runs) {
    if (!runCompressed(run)) {
      tiers.warmRuns++;
      tiers.warmBytes += run.descriptor.fileBytes;
    } else {
      tiers.coldRuns++;
      tiers.coldBytes += run.descriptor.fileBytes;
    }
  }
  const compressed = sources.coldCompressor.counters();
  tiers.compressedInputBytes = compressed.inputBytes;
  tiers.compressedOutputBytes = compressed.outputBytes;
  if (compressed.outputBytes > 0) tiers.compressionRatio = compressed.inputBytes / compressed.outputBytes;
  return tiers;
}

/**
 * True when the run's data blocks are compressed, as its footer says. An unopened run
 * is classed by its tier (open reads no run file, and the manifest does not record
 * compression): exact for every run written since the cold tier exists, as compaction
 * compresses by tier; a deep run written uncompressed before it is seen as it is once
 * a read opens it (test/cold-tier-stats.test.ts).
 */
function runCompressed(run: RunHandle): boolean {
  const reader = run.opened ? run.reader() : undefined;
  if (reader !== undefined && !(reader instanceof Promise)) return reader.footer.compression !== RunCompression.none;
  return compressionForTier(run.descriptor.level) !== 'none';
}
