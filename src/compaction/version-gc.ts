/**
 * Version garbage collection for one key, as compaction merges it: which of the
 * key's entries in the merged runs a reader may still get, and what replaces the
 * rest.
 *
 * The rule is resolve.ts's retention rule, applied to the compaction's inputs
 * alone. An entry is kept when
 * - fewer than `maxVersionsPerKey` entries of the key lie above it in the inputs, or
 * - it is newer than the horizon (the oldest pinned version), or it is the entry
 *   visible at the horizon or one of the `maxVersionsPerKey - 1` below it (a
 *   snapshot's history lists the newest maxVersionsPerKey at or below its version,
 *   resolve.ts; a newer pin's are among these), or
 * - it is the newest entry of the key in the inputs (a newer source may hold the
 *   key, but the entry above it there is unknown here: keep it).
 * Counting only the inputs' entries is conservative: a reader counts the entries
 * of newer sources too, so an entry dropped here is one no reader is returned.
 * The kept entries are a prefix of the history (newest first); the rest is dropped.
 *
 * When entries are dropped, a NOT_RETAINED marker takes their place at the version
 * of the oldest dropped one, so a read as of any dropped version answers
 * VersionNotRetainedError, never an older value or "absent".
 *
 * Tombstones are versions like any other: kept or dropped by the rule above. Under
 * per-key retention alone a bottom tombstone must stay (history() lists a retained
 * delete, and once newer versions push it out of retention an as-of read of its
 * version must answer VersionNotRetainedError, which needs an entry there;
 * test/model.test.ts found both).
 *
 * The store-wide retention floor F (retention-floor.ts; 0 = none) changes that: reads
 * below F are refused for every key, and no read reaches below the entry visible at
 * F (the newest at or below F), so
 * - every entry older than the one visible at F is dropped, with no marker;
 * - the entry visible at F and those above it are kept or dropped by the rule above
 *   (F retains nothing by itself: a version refused before F rose stays refused);
 *   the dropped ones leave a marker at the version of the oldest of them, the entry
 *   visible at F when it is dropped;
 * - the entry visible at F, when kept, a tombstone, and the inputs include the oldest
 *   run (nothing older can resurface), is dropped too: a read at or above F then
 *   finds nothing at or below its version, "absent", as the tombstone answered;
 *   history() never lists a tombstone at or below F. Only when every reader keeps it:
 *   with a bounded maxVersionsPerKey, only when the inputs hold every version
 *   (`coversAll`: every run, nothing newer in memory), so the per-key count made here
 *   is the one every reader makes (newer versions of the key in the inputs too). A
 *   delete kept here only as the inputs' newest entry may lie below newer versions in
 *   newer runs or in a memtable, and readers refuse it: dropped, it answered "absent"
 *   (test/retention-review-floor-tombstone.test.ts). A write of the key committed
 *   while the merge runs is the one case this cannot see: such a drop is reported
 *   (`countedFloorDelete`), and the install checks the keys in its synchronous step
 *   (compaction-protocol.ts; test/floor-merge-write-during-merge.test.ts).
 */
import { NOT_RETAINED_BYTE, isNotRetainedMarker } from '../engine/resolve.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';

const NOT_RETAINED_VALUE = Uint8Array.of(NOT_RETAINED_BYTE);

export interface VersionGcRule {
  maxVersionsPerKey: number;
  /** The oldest pinned version, Infinity when none (read in the deciding step). */
  horizon: number;
  /** True when the inputs include the oldest live run. */
  includesOldest: boolean;
  /**
   * True when the inputs hold every version of every key: every live run, and no
   * memtable held a newer version in the deciding step (absent: false).
   */
  coversAll?: boolean;
  /** The store-wide retention floor (0: none); see the header. */
  retentionFloor?: number;
}

export interface KeyCollection {
  kept: RunEntry[];
  /** Versions (values and tombstones) dropped; markers are not versions. */
  droppedCount: number;
  /**
   * True when the delete visible at the floor was dropped by the count made here
   * (a finite maxVersionsPerKey, `coversAll`): a write of the key committed since the
   * deciding step makes readers refuse it, so the install checks (compaction-protocol.ts).
   */
  countedFloorDelete?: true;
}

/** The entries of one key (newest first, all of it in the inputs) that survive `rule`. */
export function collectKey(entries: readonly RunEntry[], rule: VersionGcRule): KeyCollection {
  assert(entries.length > 0, 'collectKey needs at least one entry');
  const floor = rule.retentionFloor ?? 0;
  // The entry visible at the floor, if the inputs hold one: everything older goes.
  const floorIndex = floor > 0 ? entries.findIndex((entry) => entry.version <= floor) : -1;
  const candidates = floorIndex === -1 ? entries.length : floorIndex + 1;
  let keep = 1;
  // The index of the entry visible at the horizon, once reached.
  let horizonIndex = entries[0]!.version <= rule.horizon ? 0 : -1;
  for (; keep < candidates; keep++) {
    const entry = entries[keep]!;
    const above = entries[keep - 1]!;
    assert(above.version > entry.version && above.key === entry.key, `entries of ${entry.key} are not one key newest first`);
    if (horizonIndex === -1 && entry.version <= rule.horizon) horizonIndex = keep;
    const retained = keep < rule.maxVersionsPerKey || entry.version > rule.horizon || keep - horizonIndex < rule.maxVersionsPerKey;
    if (!retained) break;
  }
  // The floor entry, kept, is a tombstone with nothing older left anywhere: nothing to keep.
  const floorTombstoneGoes = floorIndex !== -1 && keep === candidates && rule.includesOldest && entries[floorIndex]!.value === undefined
    && (rule.maxVersionsPerKey === Infinity || rule.coversAll === true);
  // Nothing dropped (the common case): the history itself, no copy.
  if (keep === entries.length && !floorTombstoneGoes) return { kept: entries as RunEntry[], droppedCount: 0 };
  const kept = entries.slice(0, floorTombstoneGoes ? keep - 1 : keep);
  // Retention dropped some of the candidates (the entries down to the floor entry, or
  // to the oldest when the inputs hold none at or below the floor): a marker at the
  // oldest of them. What lies below the floor entry goes with no marker.
  if (keep < candidates) {
    const oldest = entries[candidates - 1]!;
    kept.push({ key: oldest.key, version: oldest.version, value: NOT_RETAINED_VALUE });
  }
  // Versions dropped: markers (read, or written here) are not versions.
  const droppedCount = versionCount(entries) - versionCount(kept);
  assert(kept.length <= entries.length + 1 && droppedCount >= 0, 'collection only shrinks a history (plus one marker)');
  return floorTombstoneGoes && rule.maxVersionsPerKey !== Infinity ? { kept, droppedCount, countedFloorDelete: true } : { kept, droppedCount };
}

function versionCount(entries: readonly RunEntry[]): number {
  let count = 0;
  for (const entry of entries) if (!isNotRetainedMarker(entry.value)) count++;
  return count;
}
