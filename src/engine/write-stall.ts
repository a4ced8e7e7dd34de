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
 * - Stalled writers leave in FIFO order, one at a time: only the head of the queue
 *   re-checks, and once it is let through (#admitting) the next re-checks only after
 *   it has enqueued its commit (`enqueued`, from the commit pipeline's unapplied
 *   count), so every re-check sees the true unapplied bytes and a big batch still
 *   stalls the writers behind it. A let-through writer that never enqueues (a
 *   refused transaction, an error before submit, a read-only transactionSync) is
 *   covered by a setImmediate fallback that ends #admitting a turn later. Each step
 *   of the wake chain needs an enqueue or a macrotask: no microtask loop
 *   (test/review3-stall-admit-livelock.test.ts), and a drain of N writers takes
 *   one turn, not N (test/write-stall-fair-drain.test.ts).
 * - A new writer does not overtake queued ones: `stalled` holds while writers are
 *   queued or one is being let through, so the store's fast path (admitWrite) sends
 *   it to the back of the queue (still no allocation when nothing is queued).
 * - A writer that comes back for the same write (`rejoin`: a transactionSync's next
 *   round after a read miss) queues at the front, behind the writers that rejoined
 *   before it: every writer queued then called after it (it was let through as the
 *   head, or found nothing queued), so it keeps its place instead of waiting again
 *   behind them at each round (test/write-stall-rejoin.test.ts, serial-stall-rejoin).
 * - The queue is a doubly linked list: joining and leaving are O(1) wherever the
 *   writer stands (it was an array: each leaving writer's indexOf and splice, even at
 *   the head, moved the whole queue, so 40,000 stalled writers took seconds of one
 *   event-loop turn to leave; test/write-stall-queue-work.test.ts).
 * - Once flushing failed for good every admit rejects with StoreFailedError; a full
 *   disk behind a memory stall rejects with DiskFullError (nothing is lost: the WAL
 *   holds every acknowledged write, and flushing retries).
 */
import { performance } from 'node:perf_hooks';
import type { Compactor } from '../compaction/compactor.js';
import { DiskFullError, StoreFailedError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { Flusher } from './flusher.js';
import type { Memtables } from './memtables.js';

export interface WriteStallConfig {
  memoryBudgetBytes: number;
  /** The fraction of the budget sealed memtables (and unapplied commits) may fill. */
  immutableBudgetShare: number;
  /** Named in DiskFullError. */
  runsDirectory: string;
  memtables: Memtables;
  /** Retired memtables that readers still hold (memtable-holds.ts): they fill the sealed memtables' share too. */
  retainedMemtableBytes?: () => number;
  flusher: Flusher;
  compactor: Compactor;
}

/**
 * A writer waiting in admit(), a link of the queue: `resume` continues it while it is
 * asleep (NOTHING once resumed: WriteStall#resume).
 */
interface StallWaiter {
  resume: () => void;
  /** The writer ahead of it (undefined: the head), and the one behind it (undefined: the tail). */
  ahead: StallWaiter | undefined;
  behind: StallWaiter | undefined;
}

const NOTHING = (): void => undefined;

export class WriteStall {
  readonly #config: WriteStallConfig;
  /** The writers waiting in admit(), a linked list from #head to #tail; each unlinks itself when it leaves. */
  #head: StallWaiter | undefined;
  #tail: StallWaiter | undefined;
  /** The last of the writers that rejoined (admit's `rejoin`) still queued: they are a prefix of the queue. */
  #lastRejoined: StallWaiter | undefined;
  #writeStalls = 0;
  #writeStallMs = 0;
  /** Reads the commit pipeline's admitted, unapplied bytes (0 until a pipeline watches: recovery). */
  #unappliedBytes: () => number = () => 0;
  /** True from a stalled writer's let-through until a commit is enqueued or its fallback turn ran (see admit). */
  #admitting = false;
  /** Counts let-throughs: the setImmediate fallback of an older one leaves a newer one alone. */
  #letThroughs = 0;
  /** Queued writers asleep (not yet resumed): a failure's wake of every writer has none to wake once it ran. */
  #asleep = 0;

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

  /**
   * True while a write must go through admit() (see the module header): a stall holds,
   * or writers are queued or one is being let through (a new writer must not overtake them).
   */
  get stalled(): boolean {
    return this.#head !== undefined || this.#admitting || this.#stallHolds;
  }

  /** The flushes or compaction fell behind (the stall proper, whatever is queued). */
  get #stallHolds(): boolean {
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

  /**
   * Retired memtables that readers still hold fill the share too, so while readers
   * hold memory the writers get less far ahead of the flusher; but only a second sealed
   * memtable stalls (the count), which the flusher removes whatever the readers do: a
   * writer never waits for a reader to let go (a reader awaiting its own writes never would).
   */
  get #immutablesStalled(): boolean {
    const { memtables, memoryBudgetBytes, immutableBudgetShare } = this.#config;
    return memtables.immutableCount > 1 && memtables.immutableBytes + (this.#config.retainedMemtableBytes?.() ?? 0) > memoryBudgetBytes * immutableBudgetShare;
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
    if (this.#head !== undefined) this.wake();
  }

  /**
   * A commit was enqueued and counted as unapplied (CommitTarget#unappliedRose): the
   * writer let through last has enqueued (or another commit went first, counted all the
   * same), so the next one may re-check now rather than a turn later. Runs on every
   * commit: one field read while nobody is being let through.
   */
  enqueued(): void {
    if (!this.#admitting) return;
    this.#admitting = false;
    this.wake();
  }

  /**
   * Resolves when a write may proceed: at once unless the flushes fell behind or
   * writers are queued, in which case it waits its turn (FIFO). Rejects with
   * DiskFullError when the flushes fall behind because the disk is full (nothing is
   * lost: the WAL holds every acknowledged write, and flushing retries), and with
   * StoreFailedError when flushing failed for good. `rejoin`: the caller comes back
   * for a write it was admitted for before (see the module header): it queues at the
   * front, behind the writers that rejoined before it.
   */
  async admit(rejoin = false): Promise<void> {
    if (!this.stalled) return this.#checkFailure();
    const { flusher, compactor } = this.#config;
    this.#writeStalls++;
    const started = performance.now();
    const waiter = this.#join(rejoin);
    try {
      // Only the head goes on, and only once the writer let through before it has enqueued
      // its commit (#admitting): FIFO, and each re-check sees the true unapplied bytes.
      while ((this.#head !== waiter || this.#admitting || this.#stallHolds) && flusher.failure === undefined) {
        const diskFull = flusher.lastDiskFull;
        if (diskFull !== undefined && this.#immutablesStalled) throw new DiskFullError(this.#config.runsDirectory, 'the commit was rejected (it waits for flushes the full disk stops)', { cause: diskFull });
        // A backlog with no compaction under way (none was scheduled since the last flush): start one.
        // Only for a backlog: a writer here because another was just let through (#admitting) must
        // not start merges, whose end wakes it; failing at once, they woke it before the setImmediate
        // ending #admitting could run, a microtask loop (test/review3-stall-admit-livelock.test.ts).
        if (!this.#memoryStalled && compactor.backlogged) compactor.schedule();
        await new Promise<void>((resolve) => {
          waiter.resume = resolve;
          this.#asleep++;
        });
      }
    } catch (error) {
      this.#leave(waiter, started);
      this.wake(); // the next head re-checks (it goes on, waits, or fails as this one did)
      throw error;
    }
    this.#leave(waiter, started);
    this.#checkFailure();
    this.#admitting = true;
    setImmediate(this.#fallback, ++this.#letThroughs);
  }

  /** Links a new waiter in: at the tail, or (rejoin) after the last rejoined writer still queued, else at the head. O(1). */
  #join(rejoin: boolean): StallWaiter {
    const ahead = rejoin ? this.#lastRejoined : this.#tail;
    const behind = ahead === undefined ? this.#head : ahead.behind;
    const waiter: StallWaiter = { resume: NOTHING, ahead, behind };
    if (ahead === undefined) this.#head = waiter;
    else ahead.behind = waiter;
    if (behind === undefined) this.#tail = waiter;
    else behind.ahead = waiter;
    if (rejoin) this.#lastRejoined = waiter;
    return waiter;
  }

  /** Unlinks a waiter, wherever it stands. O(1). */
  #leave(waiter: StallWaiter, started: number): void {
    const { ahead, behind } = waiter;
    assert(ahead !== undefined ? ahead.behind === waiter : this.#head === waiter, 'a stalled writer leaves the queue once');
    if (ahead === undefined) this.#head = behind;
    else ahead.behind = behind;
    if (behind === undefined) this.#tail = ahead;
    else behind.ahead = ahead;
    // The rejoined writers are a prefix of the queue: the one ahead of the last is one of them, or none is left.
    if (this.#lastRejoined === waiter) this.#lastRejoined = ahead;
    waiter.ahead = undefined;
    waiter.behind = undefined;
    this.#writeStallMs += performance.now() - started;
  }

  /**
   * A turn after a let-through: a writer that never enqueued (a refused transaction, an
   * error before submit, a read-only transactionSync) must not hold the queue.
   */
  readonly #fallback = (letThrough: number): void => {
    if (!this.#admitting || letThrough !== this.#letThroughs) return;
    this.#admitting = false;
    this.wake();
  };

  #checkFailure(): void {
    const failure = this.#config.flusher.failure;
    if (failure !== undefined) throw new StoreFailedError(`flushing a memtable to a run failed (${failure.message})`, { cause: failure });
  }

  /**
   * Wakes the head of the queue when it may go on (it re-checks anyway); nobody while
   * the stall holds or a let-through has not enqueued yet. A failure wakes every writer,
   * and so does a flush that found the disk full behind a memory stall: they leave with
   * StoreFailedError or DiskFullError (a writer that waited for a flush which then hit
   * ENOSPC used to wait for as long as the disk stayed full).
   */
  wake(): void {
    const head = this.#head;
    if (head === undefined) return;
    const { flusher } = this.#config;
    if (flusher.failure !== undefined || (flusher.lastDiskFull !== undefined && this.#immutablesStalled)) {
      // Each writer leaving with DiskFullError wakes again (admit's catch): once every writer was
      // resumed there is nobody to wake, and a scan per leaving writer was quadratic in the queue.
      // Resuming only schedules each writer's continuation: nobody leaves during this walk.
      if (this.#asleep > 0) for (let waiter: StallWaiter | undefined = head; waiter !== undefined; waiter = waiter.behind) this.#resume(waiter);
      return;
    }
    if (this.#admitting || this.#stallHolds) return;
    this.#resume(head);
  }

  /** Continues a writer asleep in admit() (nothing for one already resumed). */
  #resume(waiter: StallWaiter): void {
    const resume = waiter.resume;
    if (resume === NOTHING) return;
    waiter.resume = NOTHING;
    this.#asleep--;
    resume();
  }
}
