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
 * Batches: the sources are in key order, the feed is in (version, key) order, so one
 * batch is the `batchChanges` smallest changes after a cursor (the last change of the
 * previous batch), gathered in one pass over the sources while holding at most
 * 2 x batchChanges of them (sort and cut in half when full). A catch-up over C
 * changes makes about C / batchChanges passes: memory is bounded, time grows with
 * C^2 / batchChanges (a consumer that far behind should resume from a nearer version).
 *
 * Invariants:
 * - The caller pins upToVersion for the whole catch-up (every pass) and takes the
 *   view in the same synchronous step; every pass reads that one view.
 * - A batch is in (version, key) order, strictly after the cursor, with no
 *   duplicates (a version present in a sealed memtable and in the run it was
 *   flushed to is reported once), so consecutive batches deliver each change once.
 * - At most 2 x batchChanges changes, and about 2 x WATCH_CATCH_UP_BATCH_BYTES_MAX bytes
 *   of values, are held at once (catchUpMemory counts both).
 * - A trimmed history that may have held a change not yet delivered (after the
 *   cursor, at or above sinceVersion's successor) is VersionNotRetainedError, never a
 *   silent gap; versions trimmed after they were delivered, or of keys the feed does not
 *   deliver (lease records it hides), fail nothing.
 * - A catch-up from below the store-wide retention floor (src/compaction/
 *   retention-floor.ts) is VersionNotRetainedError at its first batch: compaction
 *   may have dropped changes at or below the floor. The floor rising later past the
 *   feed's position fails it too, at its next change (change-feed.ts), though its view
 *   still holds the runs it started with: it delivers nothing get({ asOf }) refuses.
 */
import { storedFromEncoded, type StoredValue } from '../codec/values.js';
import { storedSizeBytes } from '../codec/value-memory-size.js';
import { WATCH_CATCH_UP_BATCH_BYTES_MAX } from '../limits.js';
import { VersionNotRetainedError } from '../errors.js';
import { isNotRetainedMarker } from '../engine/resolve.js';
import type { ReadView } from '../engine/read-view.js';
import type { KeyRange } from '../memory/memory-index.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';

/** One change in internal form: the key as a byte string, the slot (TOMBSTONE for a delete). */
export interface RawChange {
  version: number;
  key: string;
  slot: StoredValue | typeof TOMBSTONE;
}

const CHUNK_KEYS = 256;

export function compareChanges(left: RawChange, right: RawChange): number {
  if (left.version !== right.version) return left.version - right.version;
  return left.key < right.key ? -1 : left.key > right.key ? 1 : 0;
}

/** Where the next batch starts: strictly after (version, key); key undefined = after every key of `version`. */
export interface CatchUpCursor {
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

function afterCursor(change: RawChange, cursor: CatchUpCursor): boolean {
  if (change.version !== cursor.version) return change.version > cursor.version;
  return cursor.key !== undefined && change.key > cursor.key;
}

/** Internal (tests): the most changes one catch-up pass held at once, since the counter was last reset. */
export const catchUpMemory = { changesHeldMax: 0, bytesHeldMax: 0 };

/** Bytes a held change is counted for: its value's memory estimate and its key. */
function changeBytes(change: RawChange): number {
  return change.key.length + (change.slot === TOMBSTONE ? 0 : storedSizeBytes(change.slot));
}

/**
 * The `limit` smallest distinct changes offered whose bytes stay within `bytesLimit`
 * (at least one change), holding at most 2 x limit changes and about 2 x bytesLimit
 * bytes at a time. `more`: a change was left out, so the catch-up needs another batch.
 */
class SmallestChanges {
  #held: RawChange[] = [];
  #heldBytes = 0;
  /** Once a cut happened: every change at or above this one is out. */
  #ceiling: RawChange | undefined;
  readonly #limit: number;
  readonly #bytesLimit: number;

  constructor(limit: number, bytesLimit: number) {
    assert(Number.isSafeInteger(limit) && limit >= 1, 'a catch-up batch holds at least one change');
    this.#limit = limit;
    this.#bytesLimit = bytesLimit;
  }

  offer(change: RawChange): void {
    if (this.#ceiling !== undefined && compareChanges(change, this.#ceiling) >= 0) return;
    this.#held.push(change);
    this.#heldBytes += changeBytes(change);
    catchUpMemory.changesHeldMax = Math.max(catchUpMemory.changesHeldMax, this.#held.length);
    catchUpMemory.bytesHeldMax = Math.max(catchUpMemory.bytesHeldMax, this.#heldBytes);
    if (this.#held.length >= 2 * this.#limit || this.#heldBytes >= 2 * this.#bytesLimit) this.#cut();
  }

  #cut(): void {
    const sorted = this.#held.sort(compareChanges);
    const distinct: RawChange[] = [];
    let bytes = 0;
    let cutShort = false;
    for (const change of sorted) {
      const previous = distinct.at(-1);
      if (previous !== undefined && compareChanges(previous, change) === 0) continue;
      const size = changeBytes(change);
      if (distinct.length === this.#limit || (distinct.length > 0 && bytes + size > this.#bytesLimit)) {
        cutShort = true;
        break;
      }
      distinct.push(change);
      bytes += size;
    }
    this.#held = distinct;
    this.#heldBytes = bytes;
    // A full batch (by count, as before, or by bytes): every change after its last waits for the next batch.
    if (cutShort || distinct.length === this.#limit) this.#ceiling = distinct.at(-1);
  }

  /** The batch, and whether changes may remain after it (another batch is needed). */
  take(): { changes: RawChange[]; more: boolean } {
    this.#cut();
    assert(this.#held.length <= this.#limit, 'a batch holds at most its limit');
    return { changes: this.#held, more: this.#ceiling !== undefined };
  }
}

/**
 * The next batch: at most `batchChanges` changes strictly after `cursor`, and values of
 * at most WATCH_CATCH_UP_BATCH_BYTES_MAX bytes (at least one change), with a version at
 * or below upToVersion and a key `accepts` takes, in (version, key) order. `more` false
 * means the catch-up is complete. (The bytes bound: with a count alone, a catch-up of
 * 300 values of 1 MiB held 311 MiB under a 16 MiB budget, 8 GiB at the default batch.)
 */
export async function nextChanges(
  view: ReadView,
  range: KeyRange,
  sinceVersion: number,
  cursor: CatchUpCursor,
  upToVersion: number,
  batchChanges: number,
  accepts: (key: string) => boolean,
  nameKey: (key: string) => string | Uint8Array,
): Promise<{ changes: RawChange[]; more: boolean }> {
  assert(sinceVersion <= cursor.version && cursor.version <= upToVersion, 'catch-up runs forward, inside its bounds');
  const firstBatch = cursor.version === sinceVersion && cursor.key === undefined;
  // Below the retention floor: refused once the floor is durable (retention-floor.ts).
  if (firstBatch && sinceVersion < view.retentionFloor) await view.floorRefusal(sinceVersion);
  const batch = new SmallestChanges(batchChanges, WATCH_CATCH_UP_BATCH_BYTES_MAX);
  const add = (change: RawChange): void => {
    if (change.version > upToVersion || !afterCursor(change, cursor) || !accepts(change.key)) return;
    batch.offer(change);
  };
  for (const memtable of view.memtables) {
    let from: string | undefined;
    for (;;) {
      const chunk = memtable.chainsChunk(range, from, false, CHUNK_KEYS);
      for (const [key, chain] of chunk) {
        // A key the feed never delivers (a lease record it hides) fails nothing by its trimmed versions.
        if (!accepts(key)) continue;
        if (mayHaveLostUndelivered(chain.trimmedBelow, key, cursor)) throw new VersionNotRetainedError(cursor.version, chain.trimmedBelow, nameKey(key));
        for (let index = 0; index < chain.length; index++) add({ version: chain.versionAt(index), key, slot: chain.slotAt(index) });
      }
      if (chunk.length < CHUNK_KEYS) break;
      from = chunk.at(-1)![0];
    }
  }
  for (const run of view.runs) {
    if (run.descriptor.maxVersion < cursor.version || run.descriptor.maxVersion <= sinceVersion || run.descriptor.minVersion > upToVersion) continue;
    await collectRun(await run.cursor(range, false), add, accepts, sinceVersion, upToVersion, nameKey);
  }
  return batch.take();
}

/**
 * Adds a run's changes in the range. Per-key retention leaves a NOT_RETAINED marker in a
 * run wherever it dropped versions of a key (at the oldest dropped version, below the
 * key's oldest kept entry there: resolve.ts, version-gc.ts), so the dropped versions of
 * a key lie in [marker, entry above it): VersionNotRetainedError when that span reaches
 * into (afterVersion, upToVersion]. (It refused on the entry count alone: with
 * maxVersionsPerKey 1, any key written after afterVersion + 1, nothing dropped.) Versions
 * dropped below the store-wide floor leave no marker; the first batch refuses a catch-up
 * from below the floor.
 */
async function collectRun(
  cursor: Awaited<ReturnType<ReadView['runs'][number]['cursor']>>,
  add: (change: RawChange) => void,
  accepts: (key: string) => boolean,
  afterVersion: number,
  upToVersion: number,
  nameKey: (key: string) => string | Uint8Array,
): Promise<void> {
  try {
    let key: string | undefined;
    let aboveVersion = Infinity;
    while (cursor.current !== undefined) {
      const entry = cursor.current;
      if (entry.key !== key) aboveVersion = Infinity;
      key = entry.key;
      if (isNotRetainedMarker(entry.value)) {
        // The newest dropped version is at most aboveVersion - 1: one may be undelivered.
        if (entry.version <= upToVersion && aboveVersion - 1 > afterVersion && accepts(entry.key)) throw new VersionNotRetainedError(afterVersion, aboveVersion, nameKey(entry.key));
      } else {
        add({ version: entry.version, key: entry.key, slot: entry.value === undefined ? TOMBSTONE : storedFromEncoded(entry.value) });
      }
      aboveVersion = entry.version;
      const pending = cursor.advance();
      if (pending !== undefined) await pending;
    }
  } finally {
    cursor.close();
  }
}
