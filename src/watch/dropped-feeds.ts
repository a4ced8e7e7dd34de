/**
 * What a watch feed holds in the store (its read pin and read view while it catches up, its place
 * among the hub's subscribers, its abort listener), released once: by the feed's own
 * `finally` when it ends (done, break, return(), throw), or, for a feed the caller
 * dropped without ending it, when its generator object is garbage-collected.
 *
 * Why: an async generator collected while suspended at a `yield` never runs its
 * `finally`, so a feed dropped in its catch-up kept its pin for the life of the store
 * (version GC spared everything above it) and every dropped feed stayed subscribed,
 * offered each commit. A scan dropped the same way is released by its collector
 * (src/store/scan-iterator.ts); a feed is too.
 *
 * A feed pins its start (sinceVersion, or the version visible at watch() when it is later
 * or not given) from the call (pinStart), so the commits made before its first step are still
 * there to catch up from (the default start until its catch-up ends, an explicit one until
 * its first step pinned the catch-up: catchUpPinned); return() or throw() on a feed never stepped (whose body, and so
 * its finally, never runs) lets go of it too (change-feed.ts).
 *
 * Invariants: each part is let go exactly once (release() and unpin() are
 * idempotent); the registry holds a FeedHold, never the generator (the hold keeps no
 * reference to it), so the generator can be collected; a feed that ended unregisters
 * its hold, so the collector never releases it again.
 */
import type { ReadView } from '../engine/read-view.js';
import type { ReadPins } from '../memory/read-pins.js';

export class FeedHold {
  #pin: { pins: ReadPins; version: number; view: ReadView } | undefined;
  /** True once the feed's body ran (its first next()): its own finally releases the hold from then on. */
  started = false;
  /** A feed's start (at most the version visible at watch()), pinned from the call (`protects` as read-pins.ts). */
  #startPin: { pins: ReadPins; version: number; protects: boolean; throughCatchUp: boolean } | undefined;
  #unsubscribe: (() => void) | undefined;
  #abort: { signal: AbortSignal; listener: () => void } | undefined;
  /**
   * True once return() was called on the started feed. A generator queues return() behind a
   * step in flight, so the step (a catch-up pass, a wait for a commit) ends itself, done, at its
   * next stop check; `#onReturn` wakes a wait.
   */
  returnRequested = false;
  #onReturn: (() => void) | undefined;

  /** Pins `version`, and holds the catch-up's `view` (engine/memtable-holds.ts), until unpin() or release(). */
  pin(pins: ReadPins, version: number, view: ReadView): void {
    pins.pin(version);
    view.hold();
    this.#pin = { pins, version, view };
  }

  /**
   * Pins `version` from watch() itself (the feed's start, at most the version visible then):
   * the commits made before its first step are caught up from history, which retention
   * (maxVersionsPerKey) would otherwise trim before the catch-up pins anything.
   */
  pinStart(pins: ReadPins, version: number, protects: boolean, throughCatchUp: boolean): void {
    pins.pin(version, protects);
    this.#startPin = { pins, version, protects, throughCatchUp };
  }

  /** The feed's first step pinned its catch-up (or had none): a start pin not kept through the catch-up is let go. */
  catchUpPinned(): void {
    const start = this.#startPin;
    if (start === undefined || start.throughCatchUp) return;
    this.#startPin = undefined;
    start.pins.unpin(start.version, start.protects);
  }

  /** Lets go of the pins and the view, if held (the catch-up's end). */
  unpin(): void {
    const start = this.#startPin;
    this.#startPin = undefined;
    start?.pins.unpin(start.version, start.protects);
    const pin = this.#pin;
    if (pin === undefined) return;
    this.#pin = undefined;
    pin.pins.unpin(pin.version);
    pin.view.unhold();
  }

  /** Adds `listener` to `signal`'s abort, until release(). */
  listen(signal: AbortSignal, listener: () => void): void {
    signal.addEventListener('abort', listener, { once: true });
    this.#abort = { signal, listener };
  }

  /** `wake` ends the feed's wait for a commit when return() is called (until release()). */
  onReturn(wake: () => void): void {
    this.#onReturn = wake;
  }

  /** return() was called on the started feed: its step in flight ends at its next stop check. */
  requestReturn(): void {
    this.returnRequested = true;
    this.#onReturn?.();
  }

  /** `unsubscribe` takes the feed out of the hub; called by release(). */
  subscribed(unsubscribe: () => void): void {
    this.#unsubscribe = unsubscribe;
  }

  /** Lets go of everything still held. */
  release(): void {
    this.unpin();
    const abort = this.#abort;
    this.#abort = undefined;
    abort?.signal.removeEventListener('abort', abort.listener);
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    this.#onReturn = undefined;
    unsubscribe?.();
  }
}

/** Releases the hold of a feed collected before it ended. */
export const droppedFeeds = new FinalizationRegistry<FeedHold>((hold) => hold.release());

/**
 * `feed` whose return() and throw() also let go of `hold` when the feed was never stepped:
 * a generator ended before its first next() never runs its body, so its finally (which
 * releases the hold) never runs, and its start pin stayed until the feed was collected.
 * return() on a started feed also ends a step in flight (FeedHold#requestReturn): queued
 * behind it, return() waited for a whole catch-up pass, or for the next commit in range.
 */
export function unstartedEndsRelease<T>(feed: AsyncGenerator<T, void, undefined>, hold: FeedHold): AsyncGenerator<T, void, undefined> {
  const end = (finish: () => Promise<IteratorResult<T, void>>): Promise<IteratorResult<T, void>> => {
    if (!hold.started) {
      droppedFeeds.unregister(hold);
      hold.release();
    }
    return finish();
  };
  const { return: returnFeed, throw: throwIntoFeed } = feed;
  feed.return = (value) => {
    if (hold.started) hold.requestReturn();
    return end(() => returnFeed.call(feed, value));
  };
  feed.throw = (error: unknown) => end(() => throwIntoFeed.call(feed, error));
  return feed;
}
