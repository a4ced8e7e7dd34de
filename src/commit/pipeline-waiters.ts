/**
 * Who waits on the commit pipeline (src/commit/commit-pipeline.ts) without a commit of
 * their own: a transaction that lost to a version waits until that version is settled
 * (CommitPipeline#whenSettled), and close() waits until the pipeline is idle.
 *
 * Invariants:
 * - A settle waiter is resolved exactly once: when the visible version reaches its
 *   version, or when the pipeline goes idle (every assigned version is then settled
 *   one way or another); until then it stays queued.
 * - An idle waiter is resolved at the next idle notification, exactly once; the
 *   waiter re-checks what it waits for (close loops while anything is queued).
 */

interface SettleWaiter {
  version: number;
  resolve: () => void;
}

export class PipelineWaiters {
  #idleWaiters: Array<() => void> = [];
  #settleWaiters: SettleWaiter[] = [];

  /** Resolves at the first wakeSettled whose visible version reaches `version`, or at the next idle. */
  settled(version: number): Promise<void> {
    return new Promise((resolve) => this.#settleWaiters.push({ version, resolve }));
  }

  /** Resolves at the next notifyIdle. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Wakes the settle waiters at or below `visibleVersion` (all of them when `all`). */
  wakeSettled(visibleVersion: number, all: boolean): void {
    if (this.#settleWaiters.length === 0) return;
    const waiting: SettleWaiter[] = [];
    for (const waiter of this.#settleWaiters) {
      if (all || waiter.version <= visibleVersion) waiter.resolve();
      else waiting.push(waiter);
    }
    this.#settleWaiters = waiting;
  }

  /** Nothing is queued or in flight: every assigned version is settled one way or another. */
  notifyIdle(visibleVersion: number): void {
    this.wakeSettled(visibleVersion, true);
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
