/**
 * A transaction's scan (tx.scan): the entries of a range as of the transaction's read
 * version, merged with its own buffered writes, in key order (or reversed), at most
 * `limit` of them. Split from transaction.ts; the steps are the ones it took.
 *
 * Invariants:
 * - The own writes are taken when the scan takes its first step (the generator's body
 *   starts there), so writes made between tx.scan() and the first next() are seen.
 * - On the same key an own write wins over the stored entry; an own delete (TOMBSTONE)
 *   hides the key; neither counts toward `limit`.
 * - Every step first runs `check` (the transaction still open and pinned), again after
 *   its read (a read that failed too: close() closes the run files under it), and the
 *   merged scan is closed however the iteration ends, and dropped with the chunk: an
 *   ended scan's iterator the application keeps holds nothing of the view (the view is
 *   taken from the transaction at the first step, never kept by the iterator itself).
 * - A step that answers (an entry, or the scan's end) counts with the store handle's
 *   scan steps (`turnDue`, src/store/event-loop-turns.ts) and, when due, waits for one
 *   event-loop turn after its entry is read and decoded: the scan reads the view and
 *   version of the transaction's start and the own writes taken at its first step, so
 *   nothing that installs during the turn changes its answer.
 */
import { externalKey, type KeyEncoding } from '../codec/keys.js';
import { readStored, type StoredValue } from '../codec/values.js';
import { MergedScan } from '../engine/merged-scan.js';
import type { ReadView } from '../engine/read-view.js';
import type { KeyRange } from '../memory/memory-index.js';
import type { ReadPins } from '../memory/read-pins.js';
import { escapeSlabValue } from '../memory/slab-reuse.js';
import { nextEventLoopTurn } from '../store/event-loop-turns.js';
import { TOMBSTONE, type VersionSlot } from '../memory/version-chain.js';
import { keyInRange } from './conflict-log.js';
import type { WriteSet } from './write-set.js';

const SCAN_CHUNK_KEYS = 256;

/** What a transaction's scan reads: its view and read version, its own writes, and its open check. */
export interface TransactionScanSource {
  /** The transaction's view; REQUIRES check() passed (the transaction lets go of it when it ends). */
  view: () => ReadView;
  version: number;
  writeSet: WriteSet;
  pins: ReadPins;
  keyEncoding: KeyEncoding;
  /** Throws unless the transaction may still read (open and pinned). */
  check: () => void;
  /** Counts one step that answers; true when it should wait for an event-loop turn first (the store handle's scan steps). */
  turnDue: () => boolean;
}

export async function* scanWithOwnWrites(
  source: TransactionScanSource,
  range: KeyRange,
  reverse: boolean,
  limit: number,
): AsyncIterableIterator<[string | Uint8Array, unknown]> {
  const own = source.writeSet.values()
    .filter((operation) => keyInRange(operation.key, range))
    .sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
  if (reverse) own.reverse();
  // A step may await the runs past this transaction's commit and the drop of its memtable,
  // then read an own write: their slabs are never reused (memory/slab-reuse.ts).
  for (const operation of own) escapeSlabValue(operation.slot);
  let ownIndex = 0;
  source.check();
  let merged: MergedScan | undefined = new MergedScan({
    view: source.view(), range, reverse, version: source.version, referenceVersion: source.version, pinFloor: source.pins.oldest(),
  });
  let produced = 0;
  let exhausted = false;
  let chunk: Array<[string, StoredValue]> = [];
  let chunkIndex = 0;
  const before = (left: string, right: string) => (reverse ? left > right : left < right);
  try {
    while (produced < limit) {
      source.check();
      if (chunkIndex >= chunk.length && !exhausted) {
        try {
          chunk = await merged.nextChunk(SCAN_CHUNK_KEYS);
        } catch (error) {
          // A read failed because the tx ended meanwhile (close() closes the run files under it: EBADF): that end's error.
          source.check();
          throw error;
        }
        // Again after the await: the tx may have ended meanwhile (close, an abort, its lifetime; its pins gone).
        source.check();
        chunkIndex = 0;
        exhausted = chunk.length < SCAN_CHUNK_KEYS && !merged.failurePending;
      }
      const stored = chunk[chunkIndex];
      const mine = own[ownIndex];
      if (stored === undefined && mine === undefined) break;
      let key: string;
      let slot: VersionSlot;
      if (mine !== undefined && (stored === undefined || !before(stored[0], mine.key))) {
        key = mine.key;
        slot = mine.slot;
        ownIndex++;
        if (stored !== undefined && stored[0] === key) chunkIndex++;
      } else {
        [key, slot] = stored!;
        chunkIndex++;
      }
      if (slot === TOMBSTONE) continue;
      produced++;
      const entry: [string | Uint8Array, unknown] = [externalKey(key, source.keyEncoding), readStored(slot)];
      if (source.turnDue()) {
        await nextEventLoopTurn();
        source.check();
      }
      yield entry;
    }
  } finally {
    merged.close();
    // The generator's frame outlives its end while the iterator is kept: it must not hold the view or the values read.
    merged = undefined;
    chunk = [];
  }
  // The scan's end is a step too, so a loop of empty scans also counts (not reached when the caller stops early or a step throws).
  if (source.turnDue()) await nextEventLoopTurn();
}
