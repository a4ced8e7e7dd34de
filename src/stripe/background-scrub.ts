/**
 * The background scrub: every `scrubIntervalMs` (an option, off by default) the
 * store runs the same scrub as store.scrub(), paced at `scrubBytesPerSecond`, so a
 * damaged block is found and rebuilt from parity before any read needs it, and
 * before a second fault in the same stripe makes it unrecoverable.
 *
 * Invariants
 * - Never overlaps itself: the next pass is scheduled only after the previous one
 *   settled (a one-shot timer re-armed at the end of a pass, not setInterval).
 * - Never keeps the process alive: the timer is unref'd.
 * - stop() (called by close() before it takes store.lifecycle) clears the timer,
 *   aborts the pass under way through its AbortSignal and awaits it; after stop()
 *   no pass starts.
 * - A pass that fails (the store closing under it, an I/O error) is counted and the
 *   schedule goes on; its error is never unhandled.
 * Results are counted in ScrubCounters (stats().storage.scrub) by the scrub itself.
 */
import { StoreClosedError } from '../errors.js';
import { assert } from '../util/assert.js';
import type { ScrubReport } from './scrub.js';

export interface BackgroundScrubConfig {
  intervalMs: number;
  bytesPerSecond: number;
  /** One scrub pass (store.scrub), stopped early by `signal`. */
  scrub: (options: { signal: AbortSignal; bytesPerSecond: number; background: true }) => Promise<ScrubReport>;
  /** A pass that failed for another reason than the store closing. */
  onFailure: (error: unknown) => void;
}

export class BackgroundScrub {
  readonly #config: BackgroundScrubConfig;
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(config: BackgroundScrubConfig) {
    assert(Number.isInteger(config.intervalMs) && config.intervalMs > 0, 'a positive scrub interval');
    assert(config.bytesPerSecond > 0, 'a positive scrub rate');
    this.#config = config;
  }

  /** Arms the first pass, `intervalMs` from now. */
  start(): void {
    assert(this.#timer === undefined && this.#running === undefined, 'the background scrub starts once');
    this.#arm();
  }

  /** True while a pass runs (tests). */
  get running(): boolean {
    return this.#running !== undefined;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#pass(), this.#config.intervalMs);
    this.#timer.unref();
  }

  #pass(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    assert(this.#running === undefined, 'background scrub passes never overlap');
    const signal = this.#controller.signal;
    this.#running = this.#config.scrub({ signal, bytesPerSecond: this.#config.bytesPerSecond, background: true })
      .then(() => undefined, (error: unknown) => {
        if (!(error instanceof StoreClosedError) && !signal.aborted) this.#config.onFailure(error);
      })
      .finally(() => {
        this.#running = undefined;
        this.#arm();
      });
  }

  /** Stops the schedule and the pass under way; resolves once no pass runs. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller.abort();
    await this.#running;
    assert(this.#running === undefined && this.#timer === undefined, 'nothing runs after stop');
  }
}
