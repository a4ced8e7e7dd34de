/**
 * The write stall (backpressure): the store handle asks the storage engine for room
 * before each write (`admit`), and a write waits while the flushes or compaction fall
 * behind, so memory and the run count never grow without bound.
 *
 * A write waits while sealed memtables exceed IMMUTABLE_BUDGET_SHARE of the memory
 * budget (more than one: the one being flushed alone never stalls; the share holds
 * two, one flushing and one sealed meanwhile, so only a third stalls: memory-budget.ts),
 * while sealed
 * memtables plus the commits admitted and not yet applied exceed it, or while
 * compaction is behind (Compactor#backlogged, COMPACTION_STALL_RUNS).
 *
 * Invariants:
 * - admit() resolves at once when nothing stalls and the flusher has not failed
 *   (no allocation, no await on the common path).
 * - A stalled writer is woken by every change that may end the stall (a flush
 *   installed, a compaction change, commits leaving the unapplied count, a failure)
 *   and re-checks; `wake` wakes nobody while the stall still holds and nothing failed.
 * - One stalled writer is let through per event-loop turn (#admitting), so it has
 *   enqueued its commit (counted as unapplied) before the next one re-checks.
 * - Once flushing failed for good every admit rejects with StoreFailedError; a full
 *   disk behind a memory stall rejects with DiskFullError (nothing is lost: the WAL
 *   holds every acknowledged write, and flushing retries).
 */
import { performance } from 'node:perf_hooks';
import type { Compactor } from '../compaction/compactor.js';
import { DiskFullError, StoreFailedError } from '../errors.js';
import type { Flusher } from './flusher.js';
import type { Memtables } from './memtables.js';

export interface WriteStallConfig {
  memoryBudgetBytes: number;
  /** The fraction of the budget sealed memtables (and unapplied commits) may fill. */
  immutableBudgetShare: number;
  /** Named in DiskFullError. */
  runsDirectory: string;
  memtables: Memtables;
  flusher: Flusher;
  compactor: Compactor;
}

export class WriteStall {
  readonly #config: WriteStallConfig;
  #stallWaiters: Array<() => void> = [];
  #writeStalls = 0;
  #writeStallMs = 0;
  /** Reads the commit pipeline's admitted, unapplied bytes (0 until a pipeline watches: recovery). */
  #unappliedBytes: () => number = () => 0;
  /** True for one event-loop turn after a stalled writer was let through (see admit). */
  #admitting = false;

  constructor(config: WriteStallConfig) {
    this.#config = config;
  }

  /** Writes that had to wait, and the time they waited in total, since open. */
  get writeStalls(): number {
    return this.#writeStalls;
  }

  get writeStallMs(): number {
    return this.#writeStallMs;
  }

  /** True while writes must wait (see the module header). */
  get stalled(): boolean {
    return this.#memoryStalled || this.#config.compactor.backlogged;
  }

  /**
   * Sealed memtables over their share (more than one: the one being flushed alone never
   * stalls), or sealed memtables plus the commits admitted and not yet applied over it
   * (a batch larger than the share is admitted alone, whole, and later writers wait until
   * it is applied: it cannot be split, but nothing else may pile up behind it).
   */
  get #memoryStalled(): boolean {
    return this.#immutablesStalled || this.#unappliedStalled;
  }

  get #immutablesStalled(): boolean {
    const { memtables, memoryBudgetBytes, immutableBudgetShare } = this.#config;
    return memtables.immutableBytes > memoryBudgetBytes * immutableBudgetShare && memtables.immutableCount > 1;
  }

  get #unappliedStalled(): boolean {
    const { memtables, memoryBudgetBytes, immutableBudgetShare } = this.#config;
    const unapplied = this.#unappliedBytes();
    return unapplied > 0 && memtables.immutableBytes + unapplied > memoryBudgetBytes * immutableBudgetShare;
  }

  /** The commit pipeline's count of admitted, unapplied commit bytes (CommitTarget#watchUnapplied). */
  watchUnapplied(unappliedBytes: () => number): void {
    this.#unappliedBytes = unappliedBytes;
  }

  /** Commits left the unapplied count: writers stalled on it may go on. */
  unappliedFell(): void {
    if (this.#stallWaiters.length > 0) this.wake();
  }

  /**
   * Resolves when a write may proceed: at once unless the flushes fell behind, in
   * which case it waits for them. Rejects with DiskFullError when the flushes fall
   * behind because the disk is full (nothing is lost: the WAL holds every
   * acknowledged write, and flushing retries), and with StoreFailedError when
   * flushing failed for good.
   */
  async admit(): Promise<void> {
    if (!this.stalled) return this.#checkFailure();
    const { flusher, compactor } = this.#config;
    this.#writeStalls++;
    const started = performance.now();
    try {
      // #admitting: one stalled writer is let through per event-loop turn, so it has
      // enqueued its commit (counted as unapplied) before the next one re-checks.
      while ((this.stalled || this.#admitting) && flusher.failure === undefined) {
        const diskFull = flusher.lastDiskFull;
        if (diskFull !== undefined && this.#immutablesStalled) throw new DiskFullError(this.#config.runsDirectory, { cause: diskFull });
        // A backlog with no compaction under way (none was scheduled since the last flush): start one.
        // Only for a backlog: a writer here because another was just let through (#admitting) must
        // not start merges, whose end wakes it; failing at once, they woke it before the setImmediate
        // ending #admitting could run, a microtask loop (test/review3-stall-admit-livelock.test.ts).
        if (!this.#memoryStalled && compactor.backlogged) compactor.schedule();
        await new Promise<void>((resolve) => this.#stallWaiters.push(resolve));
      }
    } finally {
      this.#writeStallMs += performance.now() - started;
    }
    this.#admitting = true;
    setImmediate(() => {
      this.#admitting = false;
      this.wake();
    });
    this.#checkFailure();
  }

  #checkFailure(): void {
    const failure = this.#config.flusher.failure;
    if (failure !== undefined) throw new StoreFailedError(`flushing a memtable to a run failed (${failure.message})`, { cause: failure });
  }

  /**
   * Wakes the writers waiting in admit() unless they would still wait (each re-checks
   * anyway). A flush that found the disk full wakes them too: they leave with
   * DiskFullError (a writer that waited for a flush which then hit ENOSPC used to wait
   * for as long as the disk stayed full).
   */
  wake(): void {
    if (this.stalled && this.#config.flusher.failure === undefined && this.#config.flusher.lastDiskFull === undefined) return;
    const waiters = this.#stallWaiters;
    this.#stallWaiters = [];
    for (const wake of waiters) wake();
  }
}
