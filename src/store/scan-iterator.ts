/**
 * The iterator behind store.scan(): reads as of one version, in chunks merged from
 * the memtables and runs of one read view (src/engine/merged-scan.ts).
 *
 * The version is pinned when scan() is called, not at the first next(), so a scan
 * created now and iterated later still reads what was visible when it was created.
 * The pin is released when the iteration ends, breaks (`return()`), throws, or,
 * for an iterator dropped without any of those, when it is garbage-collected
 * (a FinalizationRegistry), so an abandoned scan cannot hold back reclamation forever.
 * With the pin the scan lets go of its read view (and the merged scan over it): an
 * ended iterator the application keeps holds no memtable or run the view held.
 * A snapshot's scans are stopped by the snapshot's release or expiry (stopScans): the
 * pin, the view and the merged scan go at once, not at the scan's next step, and that
 * step throws the snapshot's error (SnapshotReleasedError, SnapshotExpiredError).
 */
import { externalKey, externalKeyForError, type KeyEncoding } from '../codec/keys.js';
import { VersionNotRetainedError } from '../errors.js';
import { readStored, type StoredValue } from '../codec/values.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { ReadPins } from '../memory/read-pins.js';
import { MergedScan } from '../engine/merged-scan.js';
import type { ReadView } from '../engine/read-view.js';
import { nextEventLoopTurn } from './event-loop-turns.js';

/** Keys fetched per synchronous step of a scan. */
const SCAN_CHUNK_KEYS = 256;

/** The scan's pin, its hold on its view (engine/memtable-holds.ts) and its merged scan, let go together, once. */
export interface PinHandle {
  pins: ReadPins;
  version: number;
  /** The pin protects (ReadPins#protects), or only holds what the scan reads. */
  protects: boolean;
  /** Undefined once released: the handle is kept by the iterator, the view must not be. */
  view: ReadView | undefined;
  /** Undefined once released: it holds the view too. */
  merged: MergedScan | undefined;
  released: boolean;
  /** Released by stopScans, not by the scan: its next step throws what checkOpen throws (once). */
  stopped: boolean;
  /** The set of open scans the handle is listed in (ScanPlan#openScans), left at release. */
  openScans: Set<PinHandle> | undefined;
}

function releasePin(handle: PinHandle): void {
  if (handle.released) return;
  handle.released = true;
  handle.openScans?.delete(handle);
  handle.pins.unpin(handle.version, handle.protects);
  handle.view!.unhold();
  handle.view = undefined;
  handle.merged?.close();
  handle.merged = undefined;
}

/**
 * Ends every scan listed in `openScans` now (a snapshot released or expired): a paused
 * scan of it held the version pinned, and its view's memtables and replaced runs, until
 * its next step. Each one's next step throws what its checkOpen throws.
 */
export function stopScans(openScans: Set<PinHandle>): void {
  for (const handle of [...openScans]) {
    handle.stopped = true;
    releasePin(handle);
  }
}

const abandonedScans = new FinalizationRegistry<PinHandle>(releasePin);

export interface ScanPlan {
  /** The sources the scan reads, captured when it was created. */
  view: ReadView;
  /** The newest version when the scan was created (retention is judged as of it). */
  referenceVersion: number;
  pins: ReadPins;
  range: KeyRange;
  limit: number;
  reverse: boolean;
  version: number;
  keyEncoding: KeyEncoding;
  /** Throws when the store is closed (a snapshot's scan: also when the snapshot was released or expired). */
  checkOpen: () => void;
  /** Where the scan is listed while open, for its owner to stop it (stopScans: a snapshot's release or expiry). */
  openScans?: Set<PinHandle>;
  /**
   * Counts one step (a next() that answers); true when it should wait for one
   * event-loop turn before answering (src/store/event-loop-turns.ts). The answer is
   * taken and decoded before the wait, from the view captured at scan(): what
   * installs during the turn (a flush, a compaction) changes no answer. The store's
   * scans and a snapshot's pass the handle's check; absent, the scan never waits.
   */
  turnDue?: () => boolean;
}

export type ScanEntry = [string | Uint8Array, unknown];

/** A VersionNotRetainedError of a scan names its key (in the scan's key encoding; bytes for a key with no UTF-8 form). */
function namedKey(error: unknown, failedKey: string | undefined, encoding: KeyEncoding): unknown {
  if (!(error instanceof VersionNotRetainedError) || error.key !== undefined || failedKey === undefined) return error;
  return new VersionNotRetainedError(error.version, error.oldestRetained, externalKeyForError(failedKey, encoding));
}

export class ScanIterator implements AsyncIterableIterator<ScanEntry> {
  /** The plan's fields a step reads (not the plan itself: it holds the view, let go at the end). */
  readonly #checkOpen: () => void;
  readonly #turnDue: (() => boolean) | undefined;
  readonly #keyEncoding: KeyEncoding;
  readonly #limit: number;
  readonly #pin: PinHandle;
  #chunk: Array<[string, StoredValue]> = [];
  #position = 0;
  #produced = 0;
  #exhausted = false;
  /**
   * Steps run one at a time, in call order, as an async generator's: a next() called
   * while a step runs (#stepping) or others wait (#waiting) is chained after #last.
   * Two steps at once both found the chunk used up and read the next one into it, so
   * the first one's keys were skipped. A sequential loop allocates nothing for this.
   */
  #stepping = false;
  #waiting = 0;
  #last: Promise<IteratorResult<ScanEntry, undefined>> | undefined;

  constructor(plan: ScanPlan) {
    this.#checkOpen = plan.checkOpen;
    this.#turnDue = plan.turnDue;
    this.#keyEncoding = plan.keyEncoding;
    this.#limit = plan.limit;
    // Other readers' pins protect what they read; the scan's own pin only keeps what
    // it reads from being trimmed while it runs (an as-of scan below retention fails).
    // A pin below what reads retain now only holds: it re-exposed, to other reads,
    // versions per-key retention had refused (read-pins.ts).
    const pinFloor = plan.pins.readFloor();
    const merged = new MergedScan({
      view: plan.view, range: plan.range, reverse: plan.reverse, version: plan.version, referenceVersion: plan.referenceVersion, pinFloor,
    });
    this.#pin = {
      pins: plan.pins, version: plan.version, protects: plan.pins.protects(plan.version, plan.referenceVersion), view: plan.view, merged,
      released: false, stopped: false, openScans: plan.openScans,
    };
    plan.pins.pin(plan.version, this.#pin.protects);
    plan.view.hold();
    plan.openScans?.add(this.#pin);
    abandonedScans.register(this, this.#pin, this.#pin);
  }

  next(): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.#stepping || this.#waiting > 0) {
      this.#waiting++;
      const run = (): Promise<IteratorResult<ScanEntry, undefined>> => {
        this.#waiting--;
        return this.#step();
      };
      return (this.#last = this.#last!.then(run, run));
    }
    // An entry of the chunk in hand is answered without an async function: most steps
    // are these, and #step's frame, try/finally and promise cost as much as the entry.
    if (this.#position < this.#chunk.length && !this.#pin.released) return (this.#last = this.#nextInChunk());
    return (this.#last = this.#step());
  }

  /** next() for an entry of the chunk in hand: #step's answer, with no wait unless a turn is due. */
  #nextInChunk(): Promise<IteratorResult<ScanEntry, undefined>> {
    let entry: ScanEntry;
    try {
      entry = this.#take();
    } catch (error) {
      // #take has ended the scan for a failure of its own (a closed store, a key with no form in the key encoding, a value that fails to decode: passed as they are, as #step's).
      return Promise.reject(error);
    }
    if (this.#turnDue?.() === true) return this.#afterTurn(entry);
    return Promise.resolve({ done: false, value: entry });
  }

  async #afterTurn(entry: ScanEntry): Promise<IteratorResult<ScanEntry, undefined>> {
    this.#stepping = true;
    try {
      await nextEventLoopTurn();
      return { done: false, value: entry };
    } finally {
      this.#stepping = false;
    }
  }

  async #step(): Promise<IteratorResult<ScanEntry, undefined>> {
    this.#stepping = true;
    try {
      if (this.#pin.released) {
        // Stopped by its owner (a snapshot released or expired): that is the answer, once; then done, as after any failure.
        if (this.#pin.stopped) {
          this.#pin.stopped = false;
          this.#chunk = [];
          this.#checkOpen();
        }
        return { done: true, value: undefined };
      }
      let more: boolean;
      try {
        this.#checkOpen();
        more = this.#position < this.#chunk.length || (await this.#fill());
        if (!more) {
          this.#finish();
          if (this.#turnDue?.() === true) await nextEventLoopTurn();
          return { done: true, value: undefined };
        }
      } catch (error) {
        throw this.#failed(error);
      }
      const entry = this.#take();
      if (this.#turnDue?.() === true) await nextEventLoopTurn();
      return { done: false, value: entry };
    } finally {
      this.#stepping = false;
    }
  }

  /** The chunk's next entry, decoded; REQUIRES: one is left. Throws what #failed makes of a failure. */
  #take(): ScanEntry {
    let entry: ScanEntry;
    try {
      this.#checkOpen();
      const [internal, stored] = this.#chunk[this.#position++]!;
      // A key with no form in the key encoding (KeyEncodingError), or a value that fails to decode, ends the scan too.
      entry = [externalKey(internal, this.#keyEncoding), readStored(stored)];
    } catch (error) {
      throw this.#failed(error);
    }
    this.#produced++;
    return entry;
  }

  /**
   * A scan that fails (closed store, version not retained) ends and lets go of its pin;
   * returns what the step throws. Closed during the read: StoreClosedError, not what the
   * read met (close() closes the readers of replaced runs a view still held:
   * AssertionFailedError 'used after close').
   */
  #failed(error: unknown): unknown {
    const failedKey = this.#pin.merged?.failedKey;
    this.#finish();
    try {
      this.#checkOpen();
    } catch (closed) {
      return closed;
    }
    return namedKey(error, failedKey, this.#keyEncoding);
  }

  /**
   * Ends the scan once the steps asked before it have answered (as an async generator
   * queues return() behind its pending next() calls): they answer their entries, this and
   * every later step answer done.
   */
  return(): Promise<IteratorResult<ScanEntry, undefined>> {
    const end = (): IteratorResult<ScanEntry, undefined> => {
      this.#finish();
      return { done: true, value: undefined };
    };
    if (this.#stepping || this.#waiting > 0) {
      this.#waiting++;
      const run = (): IteratorResult<ScanEntry, undefined> => {
        this.#waiting--;
        return end();
      };
      return (this.#last = this.#last!.then(run, run));
    }
    return Promise.resolve(end());
  }

  async throw(error?: unknown): Promise<IteratorResult<ScanEntry, undefined>> {
    this.#finish();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Loads the next chunk; false when the scan has nothing more. */
  async #fill(): Promise<boolean> {
    const merged = this.#pin.merged;
    if (merged === undefined || this.#exhausted || this.#produced >= this.#limit) return false;
    const wanted = Math.min(SCAN_CHUNK_KEYS, this.#limit - this.#produced);
    const chunk = await merged.nextChunk(wanted);
    if (this.#pin.merged !== merged) {
      // Stopped meanwhile by its owner: its error (a scan cut short must not look complete).
      if (this.#pin.stopped) this.#checkOpen();
      // Ended meanwhile (throw(), which does not wait for the step in flight): nothing more.
      return false;
    }
    this.#chunk = chunk;
    this.#position = 0;
    if (chunk.length < wanted && !merged.failurePending) this.#exhausted = true;
    return chunk.length > 0;
  }

  /** Ends the scan: the pin and the view's hold let go, the merged scan closed and dropped with the chunk. */
  #finish(): void {
    abandonedScans.unregister(this.#pin);
    releasePin(this.#pin);
    this.#pin.stopped = false;
    this.#chunk = [];
  }
}
