/**
 * The storage engine under the commit path: memtables, runs, the manifest, the
 * block cache and the flusher, composed. The commit pipeline applies acknowledged
 * commits to it (`apply`); readers take a view of it (`view`); the store handle
 * asks it for room before each write (`admit`: the write stall) and for
 * checkpoints.
 *
 * Memory budget (`memoryBudgetBytes`): its shares, the memtables' charge against the
 * caches and the split between the block and point caches are memory-budget.ts;
 * the engine keeps the current charge and sets the caches' bounds (#resizeCache) as
 * the memtables and the runs change.
 *
 * The stats (store.stats().storage) are assembled in engine-stats.ts; the write
 * stall (admit, backpressure) is write-stall.ts; a checkpoint (seal, flush, the WAL
 * start moved and the covered segments deleted) is engine-checkpoint.ts; the shared
 * read view is read-view-cache.ts; blocks rebuilt from parity are counted and logged
 * by block-repairs.ts; what a scrub reads is engine-scrub-targets.ts.
 */
import { commitSlabPool } from '../codec/value-slabs.js';
import type { FileSystem } from '../fs/file-system.js';
import type { Manifest } from '../manifest/manifest.js';
import type { IndexOperation } from '../memory/memory-index.js';
import { BlockCache } from '../run/block-cache.js';
import type { Hash64 } from '../wal/wal-format.js';
import { Compactor } from '../compaction/compactor.js';
import { VersionTimes } from '../compaction/version-times.js';
import { Flusher } from './flusher.js';
import { MemtableHolds } from './memtable-holds.js';
import { Memtables } from './memtables.js';
import { StorageMetrics } from '../metrics/recorders.js';
import { PointCache } from './point-cache.js';
import { ReadView } from './read-view.js';
import { ReadViewCache } from './read-view-cache.js';
import { BlockRepairs } from './block-repairs.js';
import { RunSet } from './run-set.js';
import { engineScrubTargets } from './engine-scrub-targets.js';
import { ScrubCounters, type ScrubTargets } from '../stripe/scrub.js';
import { ColdTierCompressor } from '../run/compression-pool.js';
import { type CheckpointResult, checkpointEngine } from './engine-checkpoint.js';
import { type EngineStats, engineStats } from './engine-stats.js';
import { WriteStall } from './write-stall.js';
import {
  cacheBounds,
  IMMUTABLE_BUDGET_SHARE,
  initialCacheBytes,
  MEMTABLE_BUDGET_SHARE,
  memtableChargeBytes,
  memtableChargeMaxBytes,
  POINT_CACHE_SHARE,
} from './memory-budget.js';

export interface StorageEngineConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  walDirectory: string;
  hash: Hash64;
  manifest: Manifest;
  memoryBudgetBytes: number;
  maxVersionsPerKey: number;
  /** Retention by age in ms (0: off); see src/compaction/version-times.ts. */
  retainVersionsMs?: number;
  /** A memtable is also sealed (a background checkpoint) once the WAL grew this much since the last seal. */
  walCheckpointBytes: number;
  /** False: reads treat the manifest's reserved entry counts as unknown (RunSetConfig.trustReservedEntryCounts). */
  trustReservedEntryCounts?: boolean;
  /** How far the merge and compression threads lower their CPU priority (src/util/thread-priority.ts). Default 5. */
  backgroundThreadNice?: number;
  currentWalSegment: () => number;
  /** Bytes the WAL writer appended since open. */
  walBytesWritten: () => number;
}

export type { CheckpointResult } from './engine-checkpoint.js';
export type { EngineStats, TierStats } from './engine-stats.js';

export class StorageEngine {
  readonly memtables: Memtables;
  /** Retired memtables that long-lived readers still hold, counted until they let go (memtable-holds.ts). */
  readonly memtableHolds = new MemtableHolds();
  readonly runSet: RunSet;
  readonly manifest: Manifest;
  readonly cache: BlockCache;
  /** Hot keys' entries from the runs (see point-cache.ts); a share of the cache budget. */
  readonly pointCache: PointCache;
  /** Flush, compaction and point read histograms (store.metrics()). */
  readonly metrics = new StorageMetrics();
  /** Merges runs in the background once started (startCompaction) and on compact(). */
  readonly compactor: Compactor;
  /** Every scrub pass since open records its report here (src/stripe/scrub.ts). */
  readonly scrubCounters = new ScrubCounters();
  /** Compresses cold-tier runs' blocks in worker threads (started on the first cold block). */
  readonly coldCompressor: ColdTierCompressor;
  readonly #flusher: Flusher;
  readonly #config: StorageEngineConfig;
  readonly #writeStall: WriteStall;
  readonly #memtableBytesMax: number;
  #sealsSeen = 0;
  #closeStarted = false;
  readonly #repairs = new BlockRepairs();
  readonly #views: ReadViewCache;
  #walBytesAtSeal = 0;
  /** Retention by age: commit-time samples (undefined when retainVersionsMs is off). */
  readonly versionTimes: VersionTimes | undefined;
  #lastAppliedVersion = 0;
  /** What the caches leave for the memtables now, and the most they ever leave (the two shares; memory-budget.ts). */
  #memtableChargeBytes = 0;
  readonly #memtableChargeMax: number;

  constructor(config: StorageEngineConfig) {
    this.#config = config;
    this.manifest = config.manifest;
    this.coldCompressor = new ColdTierCompressor(undefined, config.backgroundThreadNice);
    const retainVersionsMs = config.retainVersionsMs ?? 0;
    this.versionTimes = retainVersionsMs > 0 ? new VersionTimes(retainVersionsMs, config.manifest.state.versionTimes) : undefined;
    const budget = config.memoryBudgetBytes;
    this.#memtableChargeMax = memtableChargeMaxBytes(budget);
    const cacheBytes = initialCacheBytes(budget);
    this.pointCache = new PointCache(Math.floor(cacheBytes * POINT_CACHE_SHARE), () => this.runSet.runs);
    this.cache = new BlockCache(cacheBytes - Math.floor(cacheBytes * POINT_CACHE_SHARE));
    this.runSet = new RunSet(
      {
        fileSystem: config.fileSystem, runsDirectory: config.runsDirectory, hash: config.hash, cache: this.cache,
        onRepair: (event) => this.#repairs.record(event), trustReservedEntryCounts: config.trustReservedEntryCounts,
        // A run opened on demand (after a reopen) adds its resident top-level index: the caches give that room back.
        onReaderOpened: () => this.#resizeCache(),
      },
      config.manifest.state.runs,
    );
    this.compactor = new Compactor({
      fileSystem: config.fileSystem, runsDirectory: config.runsDirectory, hash: config.hash, manifest: config.manifest,
      runSet: this.runSet, maxVersionsPerKey: config.maxVersionsPerKey, metrics: this.metrics,
      onChange: () => {
        // A compaction ended: the cached view must not keep the runs it replaced acquired (read-view-cache.ts).
        this.#views.clear();
        this.#resizeCache();
        this.#writeStall.wake();
      },
      versionTimes: this.versionTimes,
      compressor: this.coldCompressor,
      backgroundThreadNice: config.backgroundThreadNice,
      pointCache: this.pointCache,
      // Version GC drops a delete visible at the retention floor only when nothing newer is in memory (version-gc.ts).
      // Any memtable holding a version holds one no live run holds: a flushed memtable leaves
      // the memtables in the step its run is installed, while the manifest's flushedVersion
      // rises at the edit before that (a compaction deciding in between saw nothing newer).
      memoryHoldsNewer: () => this.memtables.appliedVersion !== 0,
      // A key whose delete at the floor such a merge dropped, written since (compaction-protocol.ts checks before installing).
      memoryHoldsAnyKey: (keys) => {
        const indexes = [this.memtables.active, ...this.memtables.immutables.map((sealed) => sealed.index)];
        return keys.some((key) => indexes.some((index) => index.holds(key)));
      },
    });
    this.#memtableBytesMax = Math.floor(budget * MEMTABLE_BUDGET_SHARE);
    this.memtables = new Memtables({
      maxVersionsPerKey: config.maxVersionsPerKey,
      memtableBytesMax: this.#memtableBytesMax,
      currentWalSegment: config.currentWalSegment,
      onSealed: () => this.#flusher.schedule(),
    });
    this.#views = new ReadViewCache(this.memtables, this.runSet, () => {
      const memtables = [this.memtables.active, ...this.memtables.immutables.map((sealed) => sealed.index).reverse()];
      return new ReadView(memtables, this.runSet.newestFirst(), config.maxVersionsPerKey, this.runSet.runs, this.pointCache, this.metrics, this.compactor.retentionFloor, this.memtableHolds);
    });
    // The last reader of a retired memtable let go: the caches get its charge back, stalled writers re-check.
    this.memtableHolds.onReleased = () => {
      this.#resizeCache();
      this.#writeStall.wake();
    };
    this.#resizeCache();
    this.#flusher = new Flusher({
      fileSystem: config.fileSystem,
      runsDirectory: config.runsDirectory,
      walDirectory: config.walDirectory,
      hash: config.hash,
      memtables: this.memtables,
      runSet: this.runSet,
      manifest: config.manifest,
      currentWalSegment: config.currentWalSegment,
      onProgress: () => this.#onFlushProgress(),
      releasing: (memtable, finish) => this.memtableHolds.releasing(memtable, finish),
      metrics: this.metrics,
      pointCache: this.pointCache,
    });
    this.#writeStall = new WriteStall({
      memoryBudgetBytes: budget, immutableBudgetShare: IMMUTABLE_BUDGET_SHARE, runsDirectory: config.runsDirectory,
      memtables: this.memtables, flusher: this.#flusher, compactor: this.compactor,
      retainedMemtableBytes: () => this.memtableHolds.retainedBytes,
    });
  }

  /**
   * The commit pipeline's apply: one acknowledged commit, in version order. Seals
   * happen in recordApplied, at the end of a WAL record, never between its commits.
   */
  apply(version: number, operations: readonly IndexOperation[], pinnedVersion: number): void {
    this.memtables.apply(version, operations, pinnedVersion, false);
    this.#lastAppliedVersion = version;
  }

  /**
   * The end of a WAL record (the commit pipeline's call, under the wal.writer lock):
   * seals the active memtable when it is full, or when the WAL grew past
   * walCheckpointBytes since the last seal (overwrites of a few keys keep the
   * memtable small). The seal cuts the log (`cutWal`), so the flush of the sealed
   * memtable deletes every segment holding its records.
   */
  recordApplied(cutWal: () => number): void {
    this.versionTimes?.record(this.#lastAppliedVersion);
    // The memtables outgrew their charge: the caches give back a step (memory-budget.ts).
    if (this.#memtableHeldBytes() > this.#memtableChargeBytes && this.#memtableChargeBytes < this.#memtableChargeMax) this.#resizeCache();
    const walBytes = this.#config.walBytesWritten();
    if (this.memtables.sealedCount !== this.#sealsSeen) {
      // Sealed elsewhere (a checkpoint): the WAL growth counts from there.
      this.#sealsSeen = this.memtables.sealedCount;
      this.#walBytesAtSeal = walBytes;
    }
    if (!this.memtables.full && walBytes - this.#walBytesAtSeal < this.#config.walCheckpointBytes) return;
    this.memtables.seal(cutWal);
    this.#sealsSeen = this.memtables.sealedCount;
    this.#walBytesAtSeal = walBytes;
  }

  /** Recovery's apply: a commit replayed from the WAL at open (nothing is sealed until the replay ends). */
  replay(version: number, operations: readonly IndexOperation[]): void {
    this.memtables.apply(version, operations, Infinity, false);
  }

  /**
   * Ends the replay: a memtable that grew past its share is sealed and flushed in the
   * background, its flush starting one event-loop turn later (after open returned).
   */
  finishReplay(): void {
    if (this.memtables.active.memoryBytes >= this.#memtableBytesMax) this.memtables.seal(undefined, () => this.#flusher.schedule(true));
    this.#sealsSeen = this.memtables.sealedCount;
    this.#resizeCache();
  }

  /**
   * The sources a reader reads from now on (see read-view.ts). A view is immutable,
   * so one is shared by every reader until the sources change (a seal, an install):
   * a hot get allocates nothing (read-view-cache.ts).
   */
  view(): ReadView {
    return this.#views.current();
  }

  get failure(): Error | undefined {
    return this.#flusher.failure;
  }

  /** Flusher#onFailure: `listener` hears once of a flush that failed for good. */
  onFailure(listener: (failure: Error) => void): void {
    this.#flusher.onFailure(listener);
  }

  /**
   * True while sealed memtables exceed their share, or while compaction is behind
   * (too many runs, Compactor#backlogged; COMPACTION_STALL_RUNS), or while stalled writers
   * are still queued or being let through: writes wait (the write stall, FIFO).
   */
  get stalled(): boolean {
    return this.#writeStall.stalled;
  }

  /** The commit pipeline's count of admitted, unapplied commit bytes (CommitTarget#watchUnapplied). */
  watchUnapplied(unappliedBytes: () => number): void {
    this.#writeStall.watchUnapplied(unappliedBytes);
  }

  /** Commits left the unapplied count: writers stalled on it may go on. */
  unappliedFell(): void {
    this.#writeStall.unappliedFell();
  }

  /** A commit was counted as unapplied: a writer let through the stall may have enqueued (WriteStall#enqueued). */
  unappliedRose(): void {
    this.#writeStall.enqueued();
  }

  /** Resolves when a write may proceed (the write stall, write-stall.ts WriteStall#admit; `rejoin` keeps a returning writer's place). */
  admit(rejoin = false): Promise<void> {
    return this.#writeStall.admit(rejoin);
  }

  /** Starts background compaction; `pinFloor` is the store's oldest pinned version. */
  startCompaction(pinFloor: () => number): void {
    this.compactor.start(pinFloor);
  }

  #onFlushProgress(): void {
    // A run was installed and its memtable retired: the cached view must not keep that
    // memtable reachable until the next read (read-view-cache.ts).
    this.#views.clear();
    // The retired memtable stays counted while a reader's view holds it (memtable-holds.ts).
    const live = new Set([this.memtables.active, ...this.memtables.immutables.map((sealed) => sealed.index)]);
    this.memtableHolds.retireMissing((memtable) => live.has(memtable));
    this.#resizeCache();
    this.compactor.schedule();
    this.#writeStall.wake();
  }

  /**
   * What the memtables' charge covers: their estimate, the retired memtables readers
   * still hold (memtable-holds.ts; retainedMemtableBytes) and the commit value slabs
   * held for reuse (live memory no memtable counts, codec/slab-pool.ts; in
   * stats().storage as valueSlabPoolBytes).
   */
  #memtableHeldBytes(): number {
    return this.memtables.memoryBytes + this.memtableHolds.retainedBytes + commitSlabPool.heldBytes;
  }

  /**
   * The caches get what the memtables and the runs' resident top-level indexes leave;
   * the block cache first takes room for the partitions (memory-budget.ts).
   */
  #resizeCache(): void {
    const budget = this.#config.memoryBudgetBytes;
    this.#memtableChargeBytes = memtableChargeBytes(budget, this.#memtableHeldBytes(), this.#memtableChargeMax);
    const bounds = cacheBounds(budget, this.#memtableChargeBytes, this.runSet.memoryBytes, this.runSet.runs);
    // Each setter evicts at once, in this one synchronous step: no read sees the two in between.
    this.cache.maxBytes = bounds.blockCacheBytes;
    this.pointCache.maxBytes = bounds.pointCacheBytes;
  }

  /** Seals, flushes everything applied so far and deletes the WAL the runs cover (engine-checkpoint.ts). */
  checkpoint(): Promise<CheckpointResult> {
    const { fileSystem, walDirectory, currentWalSegment } = this.#config;
    return checkpointEngine({
      memtables: this.memtables, flusher: this.#flusher, manifest: this.manifest, versionTimes: this.versionTimes,
      fileSystem, walDirectory, currentWalSegment,
    });
  }

  /**
   * What a scrub reads: the live runs, the manifest, and the sealed WAL segments (from
   * the manifest's WAL start, below the writer's segment: every record in them was
   * acknowledged, and none is being written; engine-scrub-targets.ts).
   */
  scrubTargets(): ScrubTargets {
    const { fileSystem, walDirectory, hash, currentWalSegment } = this.#config;
    return engineScrubTargets({ fileSystem, walDirectory, hash, manifest: this.manifest, runSet: this.runSet, currentWalSegment });
  }

  /** Key and version counts over every memtable (the active one and those waiting for flush). */
  memtableCounts(): { keys: number; liveKeys: number; versions: number; reclaimedVersions: number } {
    const totals = { keys: 0, liveKeys: 0, versions: 0, reclaimedVersions: this.memtables.reclaimedInRetired };
    for (const index of [this.memtables.active, ...this.memtables.immutables.map((sealed) => sealed.index)]) {
      const counts = index.stats();
      totals.keys += counts.keys;
      totals.liveKeys += counts.liveKeys;
      totals.versions += counts.versions;
      totals.reclaimedVersions += counts.reclaimedVersions;
    }
    return totals;
  }

  stats(): EngineStats {
    return engineStats({
      memoryBudgetBytes: this.#config.memoryBudgetBytes,
      memtableChargeBytes: this.#memtableChargeBytes,
      flush: this.#flusher.stats(),
      memtables: this.memtables,
      memtableHolds: this.memtableHolds,
      cache: this.cache,
      pointCache: this.pointCache,
      runSet: this.runSet,
      manifest: this.manifest,
      compactor: this.compactor,
      scrubCounters: this.scrubCounters,
      coldCompressor: this.coldCompressor,
      writeStalls: this.#writeStall.writeStalls,
      writeStallMs: this.#writeStall.writeStallMs,
      repairedBlocks: this.#repairs.blocks,
      repairedParityPages: this.#repairs.parityPages,
    });
  }

  /** True once close() began: its steps may be retried, but nothing is flushed or checkpointed any more. */
  get closeStarted(): boolean {
    return this.#closeStarted;
  }

  /** `compactManifestChain`: false for a failed store, which rewrites no manifest at close (Manifest#close). */
  async close(options: { compactManifestChain?: boolean } = {}): Promise<void> {
    this.#closeStarted = true;
    // Cancel a running compaction first (it stops at its next merge yield and installs
    // nothing), so close never waits for a long merge (Compactor#cancel).
    this.compactor.cancel();
    await this.#flusher.close();
    // The free list's held slabs are reserved by open stores' memtable shares: a closed
    // store takes back its bounds; another open store's stay, with the slabs it reuses.
    commitSlabPool.forget(this.memtables);
    await this.compactor.close();
    await this.coldCompressor.close();
    await this.runSet.close();
    await this.manifest.close({ compactChain: options.compactManifestChain ?? true });
    // The cached view's runs are the FinalizationRegistry's held value (read-view.ts), which
    // reaches this engine and so the view: kept, it kept the closed store and its caches alive for good.
    this.#views.clear();
  }

  /** The store was dropped as a dead process: the flush thread ends at once (Flusher#abandon). */
  abandonFlushes(): void {
    this.#flusher.abandon();
  }
}

