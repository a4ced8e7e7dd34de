/**
 * Watch catch-up: the changes with a version in (sinceVersion, upToVersion] inside a
 * key range, read from the store's retained history through one read view: a
 * version-filtered merged scan of the memtables (every chain, deleted keys too) and
 * of the runs (immutable sorted files, read through cursors over the range), in
 * bounded batches.
 *
 * Why this and not the WAL: the WAL is deleted up to each checkpoint (and a clean
 * close checkpoints), so it cannot answer "since version N" after a reopen; the
 * memtables and runs hold every version retention keeps, which is exactly what the
 * store promises to return, so "retained" means the same here as for history().
 *
 * Index passes, then batches: the sources are in key order, the feed is in (version,
 * key) order. An index pass goes once over the range's whole history and keeps the
 * smallest changes after a cursor (the last change delivered) WITHOUT their values:
 * (version, key, source, estimated size), WATCH_CATCH_UP_INDEX_BYTES_MAX of them by
 * estimate (CATCH_UP_INDEX_ENTRY_BYTES and the key's length each: about 320,000 changes of
 * 16-byte keys), about twice that before a cut (smallest-changes.ts). Batches of
 * `batchChanges` changes are then delivered from that index, each change's value read
 * again at its exact version from the source that held it (catch-up-read.ts: the slot the
 * pass saw, or VersionNotRetainedError), one run read per key and run a batch. So a
 * catch-up over C changes reads each entry once per index pass, and about one more
 * per change (in a run, its key's entries in the blocks the read goes through: bounded
 * by a block, not by C), with C / (what the index holds) index passes. Each batch used
 * to be a pass of its own (values included), C / batchChanges passes over C entries: a
 * consumer resuming from far behind (a reconnect after downtime) paid time quadratic in
 * its distance, 28 entries read per change over 200,000 changes (6.6 now). Beyond what
 * one index holds the passes still grow with C (sources in key order, a feed in version
 * order and bounded memory allow no fewer without spilling to disk), by C / 320,000
 * instead of C / 4,096.
 *
 * Invariants:
 * - The caller pins upToVersion for the whole catch-up (every pass and point read) and
 *   takes the view in the same synchronous step; everything reads that one view.
 * - A batch is in (version, key) order, strictly after the last change delivered, with
 *   no duplicates (a version present in a sealed memtable and in the run it was flushed
 *   to is indexed once), so consecutive batches deliver each change once.
 * - Held at once: at most 2 x WATCH_CATCH_UP_INDEX_BYTES_MAX of index (estimate), and one
 *   batch: at most batchChanges changes and about WATCH_CATCH_UP_BATCH_BYTES_MAX bytes of
 *   values (at least one change). catchUpMemory counts all of it.
 * - A pass, and the point reads of a batch, give the event loop a turn every
 *   CATCH_UP_ENTRIES_PER_TURN history entries read (in a memtable, at the end of a chunk of
 *   CHUNK_KEYS keys: each key's chain is read in one step, so a turn never falls inside a
 *   chain), then run the caller's stop check (abort, close, return()), which throws to end
 *   it: a pass over history in memory or in cached blocks never yields otherwise, so a pass
 *   over 1M versions held the process for seconds, and a stop asked for meanwhile waited
 *   for its end.
 * - A trimmed history that may have held a change not yet delivered (after the
 *   cursor, at or above sinceVersion's successor) is VersionNotRetainedError, never a
 *   silent gap: an index pass checks every chain and retention marker as each batch's
 *   pass did, and a version trimmed from the active memtable after the pass indexed it
 *   fails its point read; versions trimmed after they were delivered, or of keys the feed
 *   does not deliver (lease records it hides), fail nothing.
 * - A catch-up from below the store-wide retention floor (src/compaction/
 *   retention-floor.ts) is VersionNotRetainedError at its first batch: compaction
 *   may have dropped changes at or below the floor. The floor rising later past the
 *   feed's position fails it too, at its next change (change-feed.ts), though its view
 *   still holds the runs it started with: it delivers nothing get({ asOf }) refuses.
 */
import { storedSizeBytes } from '../codec/value-memory-size.js';
import { WATCH_CATCH_UP_BATCH_BYTES_MAX, WATCH_CATCH_UP_INDEX_BYTES_MAX } from '../limits.js';
import { VersionNotRetainedError } from '../errors.js';
import { isNotRetainedMarker } from '../engine/resolve.js';
import type { ReadView } from '../engine/read-view.js';
import type { KeyRange } from '../memory/memory-index.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';
import { type ChangeSource, readBatch } from './catch-up-read.js';
import { type ChangePosition, SmallestChanges } from './smallest-changes.js';

export { compareChanges } from './smallest-changes.js';

/** One change in internal form: the key as a byte string, the slot (TOMBSTONE for a delete). */
export interface RawChange {
  version: number;
  key: string;
  slot: VersionSlot;
}

/** A change an index pass found, without its value: where to read it (catch-up-read.ts). */
interface IndexedChange extends ChangePosition {
  source: ChangeSource;
  /** Bytes its value will be counted for (changeBytes), estimated from its encoding for a run's. */
  size: number;
}

const CHUNK_KEYS = 256;

/**
 * Bytes an indexed change is counted for beside its key's length: its object of four
 * fields with its slot in the index array (66 B measured on Node 20, growth included)
 * and the header of a key string of its own (24 B; a key's versions in one source
 * share one string, so this counts high for them).
 */
export const CATCH_UP_INDEX_ENTRY_BYTES = 88;

/** Where the next index pass starts: strictly after (version, key); key undefined = after every key of `version`. */
interface CatchUpCursor {
  version: number;
  key: string | undefined;
}

/**
 * True when a chain whose versions below `trimmedBelow` were reclaimed may have lost a
 * change of `key` not yet delivered (strictly after the cursor). The active memtable
 * is trimmed by commits made during the catch-up: versions already delivered may go.
 */
function mayHaveLostUndelivered(trimmedBelow: number, key: string, cursor: CatchUpCursor): boolean {
  if (trimmedBelow === 0 || trimmedBelow <= cursor.version) return false;
  if (trimmedBelow > cursor.version + 1) return true;
  // Only version cursor.version itself may be lost: delivered for keys up to the cursor's.
  return cursor.key !== undefined && key > cursor.key;
}

function afterCursor(version: number, key: string, cursor: CatchUpCursor): boolean {
  if (version !== cursor.version) return version > cursor.version;
  return cursor.key !== undefined && key > cursor.key;
}

/**
 * Internal (tests): since the counters were last reset, the most changes (with values) and
 * value bytes one batch held at once, and the most indexed changes and index bytes
 * (estimate) an index pass held at once.
 */
export const catchUpMemory = { changesHeldMax: 0, bytesHeldMax: 0, indexHeldMax: 0, indexBytesHeldMax: 0 };

/** Internal (tests): history entries (memtable versions, run entries) catch-up passes and point reads have read, and index passes made. */
export const catchUpReads = { entries: 0, indexPasses: 0 };

/** Internal (tests): the index bytes a pass keeps (WATCH_CATCH_UP_INDEX_BYTES_MAX), lowered to force several index passes. */
export const catchUpIndexLimit = { bytes: WATCH_CATCH_UP_INDEX_BYTES_MAX };

/** History entries a pass reads between two turns of the event loop (each turn followed by the stop check). */
export const CATCH_UP_ENTRIES_PER_TURN = 4096;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Counts the entries one pass reads; every CATCH_UP_ENTRIES_PER_TURN of them, gives the event
 * loop a turn and then runs `stop`, which throws to end the pass.
 */
class PassPace {
  #sinceTurn = 0;
  readonly #stop: () => void;

  constructor(stop: () => void) {
    this.#stop = stop;
  }

  /** Counts `entries` read: a promise to await when a turn is due, else undefined. */
  read(entries: number): Promise<void> | undefined {
    catchUpReads.entries += entries;
    this.#sinceTurn += entries;
    if (this.#sinceTurn < CATCH_UP_ENTRIES_PER_TURN) return undefined;
    this.#sinceTurn = 0;
    return nextTurn().then(this.#stop);
  }
}

/** Bytes a held change is counted for: its value's memory estimate and its key. */
function slotBytes(key: string, slot: VersionSlot): number {
  return key.length + (slot === TOMBSTONE ? 0 : storedSizeBytes(slot));
}

function changeBytes(change: RawChange): number {
  return slotBytes(change.key, change.slot);
}

/** A run value's estimate beside its encoding's length (the object it is read into). */
const RUN_VALUE_BYTES = 16;

function indexedBytes(change: IndexedChange): number {
  return CATCH_UP_INDEX_ENTRY_BYTES + change.key.length;
}

function countIndexHeld(count: number, bytes: number): void {
  catchUpMemory.indexHeldMax = Math.max(catchUpMemory.indexHeldMax, count);
  catchUpMemory.indexBytesHeldMax = Math.max(catchUpMemory.indexBytesHeldMax, bytes);
}

/** What a catch-up reads: the view, the range, the bounds and the feed's filters. */
export interface CatchUpSource {
  view: ReadView;
  range: KeyRange;
  sinceVersion: number;
  upToVersion: number;
  batchChanges: number;
  accepts: (key: string) => boolean;
  nameKey: (key: string) => string | Uint8Array;
  /** Runs before each pass and batch and after each turn of the event loop they give (PassPace); throws to end them. */
  stop: () => void;
}

/**
 * One feed's catch-up: next() gives the batches in order, each at most `batchChanges`
 * changes and WATCH_CATCH_UP_BATCH_BYTES_MAX bytes of values (at least one change).
 * (The bytes bound: with a count alone, a catch-up of 300 values of 1 MiB held 311 MiB
 * under a 16 MiB budget, 8 GiB at the default batch.)
 */
export class CatchUp {
  readonly #source: CatchUpSource;
  /** The last change delivered (sinceVersion, no key, before the first). */
  #cursor: CatchUpCursor;
  #index: IndexedChange[] = [];
  #position = 0;
  /** The last index pass left changes out: another is needed once its index is delivered. */
  #indexMore = true;

  constructor(source: CatchUpSource) {
    assert(source.sinceVersion <= source.upToVersion, 'catch-up runs forward, inside its bounds');
    assert(Number.isSafeInteger(source.batchChanges) && source.batchChanges >= 1, 'a catch-up batch holds at least one change');
    this.#source = source;
    this.#cursor = { version: source.sinceVersion, key: undefined };
  }

  /** The next batch in (version, key) order; `more` false: the catch-up is complete. */
  async next(): Promise<{ changes: RawChange[]; more: boolean }> {
    const { view, batchChanges, nameKey, stop } = this.#source;
    if (this.#position === this.#index.length) {
      if (!this.#indexMore) return { changes: [], more: false };
      await this.#indexPass();
    }
    stop();
    // The batch: its count, and its values' bytes as the pass estimated them (at least one change).
    let end = this.#position;
    let estimate = 0;
    while (end < this.#index.length && end - this.#position < batchChanges) {
      const size = (this.#index[end] as IndexedChange).size;
      if (end > this.#position && estimate + size > WATCH_CATCH_UP_BATCH_BYTES_MAX) break;
      estimate += size;
      end++;
    }
    const batch = this.#index.slice(this.#position, end);
    const pace = new PassPace(stop);
    // A change trimmed since the pass fails the batch: the feed delivered up to the last batch.
    const slots = await readBatch(view, batch, this.#cursor.version, nameKey, (entries) => pace.read(entries));
    const changes: RawChange[] = [];
    let bytes = 0;
    for (let index = 0; index < batch.length; index++) {
      const { version, key } = batch[index] as IndexedChange;
      const change: RawChange = { version, key, slot: slots[index] as VersionSlot };
      const size = changeBytes(change);
      // Over the bytes bound after all (the estimate is of the encoding): the rest waits for the next batch.
      if (changes.length > 0 && bytes + size > WATCH_CATCH_UP_BATCH_BYTES_MAX) break;
      changes.push(change);
      bytes += size;
      catchUpMemory.changesHeldMax = Math.max(catchUpMemory.changesHeldMax, changes.length);
      catchUpMemory.bytesHeldMax = Math.max(catchUpMemory.bytesHeldMax, bytes);
    }
    this.#position += changes.length;
    // Empty only when the pass found nothing (nothing more either: SmallestChanges).
    const last = changes.at(-1);
    if (last !== undefined) this.#cursor = { version: last.version, key: last.key };
    // Delivered whole: the index is let go before the next pass builds another.
    if (this.#position === this.#index.length) {
      this.#index = [];
      this.#position = 0;
    }
    return { changes, more: this.#position < this.#index.length || this.#indexMore };
  }

  /** One pass over the range's history: the next changes after the cursor, without values, into the index. */
  async #indexPass(): Promise<void> {
    const { view, range, sinceVersion, upToVersion, accepts, nameKey, stop } = this.#source;
    const cursor = this.#cursor;
    // Below the retention floor: refused once the floor is durable (retention-floor.ts).
    if (cursor.version === sinceVersion && cursor.key === undefined && sinceVersion < view.retentionFloor) await view.floorRefusal(sinceVersion);
    stop();
    catchUpReads.indexPasses++;
    const pace = new PassPace(stop);
    const index = new SmallestChanges<IndexedChange>(Number.MAX_SAFE_INTEGER, catchUpIndexLimit.bytes, indexedBytes, countIndexHeld);
    // A change the feed delivers, not yet delivered (`accepts` asked by the caller).
    const wanted = (version: number, key: string): boolean => version <= upToVersion && afterCursor(version, key, cursor);
    for (let source = 0; source < view.memtables.length; source++) {
      const memtable = view.memtables[source]!;
      let from: string | undefined;
      for (;;) {
        const chunk = memtable.chainsChunk(range, from, false, CHUNK_KEYS);
        for (const [key, chain] of chunk) {
          // A key the feed never delivers (a lease record it hides) fails nothing by its trimmed versions.
          if (!accepts(key)) continue;
          if (mayHaveLostUndelivered(chain.trimmedBelow, key, cursor)) throw new VersionNotRetainedError(cursor.version, chain.trimmedBelow, nameKey(key));
          for (let position = 0; position < chain.length; position++) {
            const version = chain.versionAt(position);
            if (wanted(version, key)) index.offer({ version, key, source, size: slotBytes(key, chain.slotAt(position)) });
          }
        }
        const turn = pace.read(chunk.reduce((entries, [, chain]) => entries + chain.length, 0));
        if (turn !== undefined) await turn;
        if (chunk.length < CHUNK_KEYS) break;
        from = chunk.at(-1)![0];
      }
    }
    for (let runIndex = 0; runIndex < view.runs.length; runIndex++) {
      const run = view.runs[runIndex]!;
      if (run.descriptor.maxVersion < cursor.version || run.descriptor.maxVersion <= sinceVersion || run.descriptor.minVersion > upToVersion) continue;
      const add = (version: number, key: string, size: number): void => {
        if (wanted(version, key) && accepts(key)) index.offer({ version, key, source: view.memtables.length + runIndex, size });
      };
      await collectRun(await run.cursor(range, false), add, accepts, sinceVersion, upToVersion, nameKey, pace);
    }
    const { items, more } = index.take();
    this.#index = items;
    this.#position = 0;
    this.#indexMore = more;
  }
}

/**
 * Adds a run's changes in the range. Per-key retention leaves a NOT_RETAINED marker in a
 * run wherever it dropped versions of a key (at the oldest dropped version, below the
 * key's oldest kept entry there: resolve.ts, version-gc.ts), so the dropped versions of
 * a key lie in [marker, entry above it): VersionNotRetainedError when that span reaches
 * into (afterVersion, upToVersion]. (It refused on the entry count alone: with
 * maxVersionsPerKey 1, any key written after afterVersion + 1, nothing dropped.) Versions
 * dropped below the store-wide floor leave no marker; the first batch refuses a catch-up
 * from below the floor. A key's entries share one key string in the index.
 */
async function collectRun(
  cursor: Awaited<ReturnType<ReadView['runs'][number]['cursor']>>,
  add: (version: number, key: string, size: number) => void,
  accepts: (key: string) => boolean,
  afterVersion: number,
  upToVersion: number,
  nameKey: (key: string) => string | Uint8Array,
  pace: PassPace,
): Promise<void> {
  try {
    let key: string | undefined;
    let aboveVersion = Infinity;
    while (cursor.current !== undefined) {
      const entry = cursor.current;
      if (entry.key !== key) {
        aboveVersion = Infinity;
        key = entry.key;
      }
      if (isNotRetainedMarker(entry.value)) {
        // The newest dropped version is at most aboveVersion - 1: one may be undelivered.
        if (entry.version <= upToVersion && aboveVersion - 1 > afterVersion && accepts(key)) throw new VersionNotRetainedError(afterVersion, aboveVersion, nameKey(key));
      } else {
        add(entry.version, key, key.length + (entry.value === undefined ? 0 : RUN_VALUE_BYTES + entry.value.length));
      }
      aboveVersion = entry.version;
      const pending = cursor.advance();
      if (pending !== undefined) await pending;
      const turn = pace.read(1);
      if (turn !== undefined) await turn;
    }
  } finally {
    cursor.close();
  }
}
