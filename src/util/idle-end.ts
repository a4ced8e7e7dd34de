/**
 * IdleEnd: ends a store's worker thread (the flush thread, a merge thread, the cold-tier
 * compression pool's threads: src/run/compression-pool.ts) once it has
 * had no job for a while, so a store that stopped writing gives back what the thread
 * holds: its isolate (the modules it loaded, its heap) and its malloc arena, ~25 MiB of
 * RSS for the flush thread and ~15 for a merge thread after a 200k-key load
 * (bench/large/memory-probe.ts). The next job starts a new thread, as after a crash; a
 * start costs the new thread tens of milliseconds of module loading, not the main thread.
 *
 * The owner arms it when a job settles and cancels it when the next job begins; the end
 * runs only if the owner still finds the thread idle then (its `end` checks). close()
 * cancels it and awaits an end already under way (`settled`), so every thread listed
 * as live has exited when close() returns.
 *
 * Invariant: the timer never keeps the process alive (unref); at most one is armed.
 */
export class IdleEnd {
  #timer: NodeJS.Timeout | undefined;
  #ending: Promise<void> | undefined;

  /** Calls `end` after `idleMs` unless cancel() or arm() comes first. */
  arm(idleMs: number, end: () => Promise<void>): void {
    this.cancel();
    const timer = setTimeout(() => {
      if (this.#timer !== timer) return;
      this.#timer = undefined;
      // `end` reports nothing: a thread that did not end is still listed and ends with close().
      const ending = end().catch(() => undefined).finally(() => {
        if (this.#ending === ending) this.#ending = undefined;
      });
      this.#ending = ending;
    }, idleMs);
    timer.unref();
    this.#timer = timer;
  }

  /** The thread has a job again (or is closing): no end. An end under way goes on (see settled). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves once an end under way has finished (at once when none is). */
  async settled(): Promise<void> {
    await this.#ending;
  }
}
