/**
 * store.watch(): the durable change feed. One hub per store listens to the commit
 * pipeline (a commit is reported only after the fdatasync covering it and after it
 * is applied: durable and visible) and fans each commit out to the watchers.
 *
 * A watcher first catches up from history (catch-up.ts, in bounded batches) over
 * (sinceVersion, startVersion], where startVersion is the visible version read in the same
 * synchronous step as the subscription: every commit at or below it is in the
 * history, every commit above it reaches the live buffer. So each change is
 * delivered once, in (version, key) order, none skipped.
 *
 * Invariants:
 * - A watcher's live buffer holds at most WATCH_BUFFER_CHANGES_MAX changes, and at most
 *   WATCH_BUFFER_BYTES_MAX bytes of values (memory estimate) beyond its oldest buffered
 *   commit (one commit is bounded by the WAL segment); past either, the watch ends
 *   with WatchOverflowError naming the version to resume from (the last
 *   delivered, or the one before when that commit was delivered only in part), never unbounded memory. Nothing is delivered after the overflow, in
 *   the catch-up either, so resuming from that version repeats nothing. The values of
 *   buffered changes are outside the store's memory budget: a count alone let a slow
 *   watcher of 1 MiB values hold 10 GiB.
 * - Keys under the reserved prefix (lease records) are not delivered unless asked.
 * - A feed without sinceVersion starts at the version visible at watch(); every feed pins its
 *   start (sinceVersion, at most that visible version) from the call (FeedHold#pinStart): per-key
 *   retention trimmed the commits made before its first step (VersionNotRetainedError) while
 *   nothing was pinned. The default start's pin lasts until the catch-up ends, an explicit
 *   start's until the first step has pinned the catch-up. A start trimmed before the call is
 *   refused at the first step (telling needs the per-key history the catch-up reads).
 * - A feed's pin, subscription and abort listener are one FeedHold, released once: by
 *   its finally, or when a feed dropped unended is collected (dropped-feeds.ts).
 * - Delivered versions strictly increase across commits (asserted).
 * - A catch-up delivers no change while its position (the version a new watch would
 *   resume from: the last delivered, or the one before when that commit was delivered
 *   in part) is below the store-wide retention floor: compact({ retainFrom }) may raise
 *   the floor past a feed still catching up (its pin is at its start version), and the
 *   feed then fails with VersionNotRetainedError at its next change, as a watch from its
 *   position would (etcd cancels a watcher whose revision was compacted). Live changes,
 *   held in the feed's buffer, are delivered whatever the floor.
 * - Once its signal is aborted a feed delivers nothing more (catch-up or buffered
 *   changes included): the next step throws the AbortError. Once the store is closed,
 *   likewise: the next step throws StoreClosedError (the catch-up went on reading the
 *   closed store's history to the end), except that a feed delivering live commits
 *   part-way through one delivers the rest of it first (buffered whole at its commit), so
 *   a consumer tailing the store that resumes from the last version it saw misses nothing.
 *   A catch-up is cut where it is (its batches may split a commit; resume from the
 *   version before the last delivered, as after an overflow). A feed waiting for a commit is woken by close()
 *   itself (storeClosing) and throws it at once. A feed with an untilVersion is no
 *   exception, whether or not it delivered its last change: every step after close()
 *   that does not find the generator finished throws StoreClosedError (return() ends it).
 * - Once the store failed (StoreFailedError, whatever the cause: src/store/store-failure.ts;
 *   no commit can come any more) a feed delivers what it has (catch-up, buffered
 *   changes: all of them durable and visible), then, where it would wait for a commit,
 *   throws the failure; a feed waiting then is woken by the store's failure listener.
 *   One whose untilVersion was reached ends.
 */
import { externalKey, externalKeyForError, type KeyEncoding } from '../codec/keys.js';
import { readStored } from '../codec/values.js';
import type { CommitPipeline } from '../commit/commit-pipeline.js';
import type { ReadView } from '../engine/read-view.js';
import { describeValue, InvalidOptionError, refuseOtherObjectKind } from '../errors.js';
import { WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT, WATCH_CATCH_UP_BATCH_CHANGES_MAX } from '../limits.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { ReadPins } from '../memory/read-pins.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import { keyRange } from '../store/read-options.js';
import type { StoreFailure } from '../store/store-failure.js';
import { assert } from '../util/assert.js';
import { CatchUp, type RawChange } from './catch-up.js';
import { droppedFeeds, FeedHold, unstartedEndsRelease } from './dropped-feeds.js';
import { ownedSlots, Subscriber } from './subscriber.js';

export interface WatchOptions {
  gte?: string | Uint8Array;
  lt?: string | Uint8Array;
  /** Deliver every change with a version above this one (catching up from history first). Default: only new commits. */
  sinceVersion?: number;
  signal?: AbortSignal;
  /** End the feed after the last change at or below this version (default: follow forever). */
  untilVersion?: number;
  /** Also deliver lease records (keys under "\u0000ladybug/"). Default false. */
  includeReserved?: boolean;
  /**
   * Changes read from history per catch-up batch (memory: at most this many held with
   * their values at once, beside the catch-up's index: catch-up.ts). Default WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT, 1..WATCH_CATCH_UP_BATCH_CHANGES_MAX.
   */
  catchUpBatchChanges?: number;
}

export interface Change {
  version: number;
  key: string | Uint8Array;
  value?: unknown;
  deleted: boolean;
}

export interface WatchSource {
  pipeline: CommitPipeline;
  /** The store's failure, whatever its cause (src/store/store-failure.ts). */
  failure: StoreFailure;
  view: () => ReadView;
  pins: ReadPins;
  keyEncoding: KeyEncoding;
  checkOpen: () => void;
}

/** How often a watcher waiting for commits re-checks that the store is open (close() wakes it at once: storeClosing). */
const CLOSED_CHECK_INTERVAL_MS = 1000;

export class WatchHub {
  readonly #source: WatchSource;
  readonly #subscribers = new Set<Subscriber>();
  /** Subscribers waiting for a commit (their wake is set). */
  readonly #waiting = new Set<Subscriber>();
  /** While anyone waits: checks every CLOSED_CHECK_INTERVAL_MS that the store is open, and wakes the waiters if not. */
  #closedCheckTimer: NodeJS.Timeout | undefined;

  constructor(source: WatchSource) {
    this.#source = source;
    source.pipeline.setVisibleListener((version, operations) => {
      if (this.#subscribers.size === 0) return;
      const slotAt = ownedSlots(operations);
      for (const subscriber of this.#subscribers) subscriber.offer(version, operations, slotAt);
    });
    // A failed store commits nothing again: the feeds waiting for a commit wake and end with its failure.
    source.failure.onFailure(() => {
      for (const waiting of [...this.#waiting]) waiting.wake?.();
    });
  }

  /**
   * A feed of the changes after `sinceVersion`, by default after the version visible
   * now, at the call: a generator's body first runs at the first next(), and commits
   * made in between must not be missed (they are caught up from history). Options are
   * checked here, at the call.
   */
  watch(options: WatchOptions = {}): AsyncGenerator<Change, void, undefined> {
    const resolved = watchOptions(options);
    // What the feed holds is released by its finally, or when a feed dropped unended is collected (dropped-feeds.ts).
    const hold = new FeedHold();
    // The start is pinned from the call, given or not: under per-key retention the commits made
    // before the first next() were trimmed before the catch-up pinned anything (VersionNotRetainedError).
    // A start below what reads retain only holds (read-pins.ts); one already trimmed is refused at the first next().
    // The default start keeps its pin through the catch-up (b45b8aa); an explicit one, as before the
    // call pinned it, has the catch-up's own pin from the first step on.
    const visible = this.#source.pipeline.visibleVersion;
    const throughCatchUp = resolved.sinceVersion === undefined;
    resolved.sinceVersion ??= visible;
    const start = Math.min(resolved.sinceVersion, visible);
    hold.pinStart(this.#source.pins, start, this.#source.pins.protects(start, visible), throughCatchUp);
    const feed = this.#feed(resolved, hold);
    droppedFeeds.register(feed, hold, hold);
    return unstartedEndsRelease(feed, hold);
  }

  /** Takes `subscriber` out of the hub (no reference to its feed: see dropped-feeds.ts). */
  #unsubscriber(subscriber: Subscriber): () => void {
    return () => {
      this.#subscribers.delete(subscriber);
      this.#waiting.delete(subscriber);
      subscriber.clear();
    };
  }

  async *#feed(resolved: ResolvedWatchOptions, hold: FeedHold): AsyncGenerator<Change, void, undefined> {
    const { range, sinceVersion, signal, includeReserved, untilVersion, catchUpBatchChanges } = resolved;
    const source = this.#source;
    hold.started = true;
    // A feed first stepped after close() (or abandonment) reads nothing of the closed store:
    // with nothing due up to its untilVersion it ended as if caught up.
    try {
      source.checkOpen();
    } catch (error) {
      droppedFeeds.unregister(hold);
      hold.release();
      throw error;
    }
    // One synchronous step: subscribe, read the start version, take the view and pin it.
    const subscriber = new Subscriber(range, includeReserved, untilVersion);
    this.#subscribers.add(subscriber);
    hold.subscribed(this.#unsubscriber(subscriber));
    if (signal !== undefined) hold.listen(signal, () => subscriber.wake?.());
    hold.onReturn(() => subscriber.wake?.());
    // Before each catch-up batch, at each turn a pass gives the event loop, and after each wait:
    // return() asked for during the step ends the feed (done), else aborted or closed throws.
    const stop = (): void => {
      if (hold.returnRequested) throw new FeedReturned();
      signal?.throwIfAborted();
      source.checkOpen();
    };
    const startVersion = source.pipeline.visibleVersion;
    const catchUp = sinceVersion !== undefined && sinceVersion < startVersion;
    const view = catchUp ? source.view() : undefined;
    if (catchUp) hold.pin(source.pins, startVersion, view!);
    else hold.unpin(); // the start pin, if any: nothing to catch up
    hold.catchUpPinned(); // an explicit start's pin has bridged the call and the first step
    let lastVersion = sinceVersion ?? startVersion;
    subscriber.lastDeliveredVersion = lastVersion;
    try {
      if (catchUp) {
        try {
          // Batch by batch, each the smallest changes after the last delivered one;
          // startVersion stays pinned until the last batch is read.
          const catchUpTo = Math.min(startVersion, untilVersion ?? startVersion);
          const history = catchUpTo > sinceVersion ? new CatchUp({
            view: view!, range, sinceVersion, upToVersion: catchUpTo, batchChanges: catchUpBatchChanges,
            accepts: (key) => subscriber.accepts(key),
            nameKey: (key) => externalKeyForError(key, source.keyEncoding),
            stop,
          }) : undefined;
          while (history !== undefined) {
            // Closed before or during the read: StoreClosedError, not what reading a closed
            // store gave (close() closes the readers of replaced runs a view still held: their
            // files are gone, CorruptionError 'run file missing').
            source.checkOpen();
            const { changes: batch, more } = await history.next().catch((error: unknown) => {
              if (!(error instanceof FeedReturned)) source.checkOpen();
              throw error;
            });
            for (const change of batch) {
              // An aborted feed delivers nothing more, history included; nor does a feed of a
              // closed store, as a scan's next() refuses, or one returned during the step.
              stop();
              // Overflowed meanwhile: stop here, so the error's lastDeliveredVersion is the last delivered.
              if (subscriber.failure !== undefined) throw subscriber.overflowBefore(change);
              // The retention floor rose past the feed's position (see the header): refused
              // as a watch from there is, not a delivery of versions get({ asOf }) refuses.
              const position = change.version === subscriber.lastDeliveredVersion ? change.version - 1 : subscriber.lastDeliveredVersion;
              if (position < view!.retentionFloor) await view!.floorRefusal(position);
              yield this.#deliver(subscriber, change);
            }
            if (!more || batch.length === 0) break;
          }
        } finally {
          hold.unpin();
        }
      }
      lastVersion = Math.max(lastVersion, startVersion);
      // Closed: StoreClosedError here too, not the end of a feed whose catch-up reached its
      // untilVersion (or read an empty last batch while close() ran), as everywhere else;
      // aborted: the signal's reason, likewise.
      signal?.throwIfAborted();
      source.checkOpen();
      if (untilVersion !== undefined && untilVersion <= startVersion) return;
      for (;;) {
        signal?.throwIfAborted();
        // Closed: the rest of the commit part-way through (buffered whole) first, then StoreClosedError.
        if (subscriber.nextVersion() !== subscriber.lastDeliveredVersion || subscriber.lastDeliveredVersion <= lastVersion) source.checkOpen();
        const change = subscriber.take();
        if (change === undefined) {
          if (subscriber.failure !== undefined) throw subscriber.failure;
          // Every commit up to the visible version was offered when it became visible:
          // nothing at or below untilVersion can still come.
          if (untilVersion !== undefined && source.pipeline.visibleVersion >= untilVersion) return;
          // Every commit made before the failure was delivered; none can come after it.
          const failure = source.failure.current;
          if (failure !== undefined) throw failure;
          await this.#waitForCommit(subscriber, stop);
          continue;
        }
        if (change.version <= lastVersion) continue;
        if (untilVersion !== undefined && change.version > untilVersion) return;
        assert(change.version >= subscriber.lastDeliveredVersion, 'changes delivered in version order');
        yield this.#deliver(subscriber, change);
      }
    } catch (error) {
      // return() called during the step: the step ends done, and so does the return() queued behind it.
      if (!(error instanceof FeedReturned)) throw error;
    } finally {
      droppedFeeds.unregister(hold);
      hold.release();
    }
  }

  #deliver(subscriber: Subscriber, change: RawChange): Change {
    subscriber.lastDeliveredVersion = change.version;
    const key = externalKey(change.key, this.#source.keyEncoding);
    return change.slot === TOMBSTONE
      ? { version: change.version, key, deleted: true }
      : { version: change.version, key, value: readStored(change.slot), deleted: false };
  }

  /**
   * Waits until the subscriber is offered a change (or its feed is aborted or returned, or the
   * store closes or fails); `stop` throws for the feed's end, before and after. Costs no timer and no listener per wait: one hub-wide interval
   * checks that the store is open while anyone waits (ref'd only then), and the
   * abort listener is added once per watch.
   */
  async #waitForCommit(subscriber: Subscriber, stop: () => void): Promise<void> {
    stop();
    await new Promise<void>((resolve) => {
      subscriber.wake = () => {
        subscriber.wake = undefined;
        this.#waiting.delete(subscriber);
        if (this.#waiting.size === 0) this.#closedCheckTimer?.unref();
        resolve();
      };
      this.#waiting.add(subscriber);
      this.#watchClosed();
    });
    stop();
  }

  /**
   * The store is closing (Store#close's first step) or was abandoned: every feed waiting for
   * a commit wakes and throws StoreClosedError now, not at the closed check's next tick (up
   * to CLOSED_CHECK_INTERVAL_MS later); the check stops, leaving no timer.
   */
  storeClosing(): void {
    for (const waiting of [...this.#waiting]) waiting.wake?.();
    clearInterval(this.#closedCheckTimer);
    this.#closedCheckTimer = undefined;
  }

  /** REQUIRES: a subscriber waiting. Keeps the closed check running (and the process alive) while one does. */
  #watchClosed(): void {
    assert(this.#waiting.size > 0, 'the closed check runs for waiting subscribers');
    if (this.#closedCheckTimer !== undefined) {
      this.#closedCheckTimer.ref();
      return;
    }
    this.#closedCheckTimer = setInterval(() => {
      let open = true;
      try {
        this.#source.checkOpen();
      } catch {
        open = false;
      }
      if (!open) for (const waiting of [...this.#waiting]) waiting.wake?.();
      if (this.#waiting.size === 0) {
        clearInterval(this.#closedCheckTimer);
        this.#closedCheckTimer = undefined;
      }
    }, CLOSED_CHECK_INTERVAL_MS);
  }
}

/** Thrown by a feed's stop check when return() was called during its step: the feed ends, done. */
class FeedReturned extends Error {}

interface ResolvedWatchOptions {
  range: KeyRange;
  sinceVersion: number | undefined;
  untilVersion: number | undefined;
  signal: AbortSignal | undefined;
  includeReserved: boolean;
  catchUpBatchChanges: number;
}

function versionOption(name: string, value: unknown): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)) {
    throw new InvalidOptionError(name, `must be a non-negative integer, got ${describeValue(value)}`);
  }
  return value;
}

function watchOptions(options: WatchOptions): ResolvedWatchOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'watch options must be an object');
  refuseOtherObjectKind('watch()', options);
  for (const name of Object.keys(options)) {
    if (!['gte', 'lt', 'sinceVersion', 'untilVersion', 'signal', 'includeReserved', 'catchUpBatchChanges'].includes(name)) throw new InvalidOptionError(name, 'is not a watch option');
  }
  const sinceVersion = versionOption('sinceVersion', options.sinceVersion);
  const untilVersion = versionOption('untilVersion', options.untilVersion);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal');
  const { includeReserved } = options as { includeReserved?: unknown };
  if (includeReserved !== undefined && typeof includeReserved !== 'boolean') {
    throw new InvalidOptionError('includeReserved', `must be a boolean, got ${describeValue(includeReserved)}`);
  }
  // undefined only: null is a wrong type, refused below (`??` took it for the default).
  const catchUpBatchChanges = options.catchUpBatchChanges === undefined ? WATCH_CATCH_UP_BATCH_CHANGES_DEFAULT : options.catchUpBatchChanges;
  if (!Number.isSafeInteger(catchUpBatchChanges) || catchUpBatchChanges < 1 || catchUpBatchChanges > WATCH_CATCH_UP_BATCH_CHANGES_MAX) {
    throw new InvalidOptionError('catchUpBatchChanges', `must be an integer between 1 and ${WATCH_CATCH_UP_BATCH_CHANGES_MAX}, got ${describeValue(options.catchUpBatchChanges)}`);
  }
  return {
    range: keyRange({ gte: options.gte, lt: options.lt }), sinceVersion, untilVersion, signal, includeReserved: options.includeReserved === true, catchUpBatchChanges,
  };
}
