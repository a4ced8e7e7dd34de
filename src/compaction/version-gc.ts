/**
 * Version garbage collection for one key, as compaction merges it: which of the
 * key's entries in the merged runs a reader may still get, and what replaces the
 * rest.
 *
 * The rule is resolve.ts's retention rule, applied to the compaction's inputs
 * alone. An entry is kept when
 * - fewer than `maxVersionsPerKey` entries of the key lie above it in the inputs, or
 * - it is newer than the horizon (the oldest pinned version), or it is the entry
 *   visible at the horizon (the entry above it is newer than the horizon), or
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
 * Tombstones are versions like any other: kept or dropped by the rule above, never
 * dropped for being at the bottom. Dropping a bottom tombstone would change answers
 * the rule still gives: history() lists a retained delete, and with a bounded
 * `maxVersionsPerKey` a newer version (in a newer source, or written later) can push
 * the tombstone out of retention, after which an as-of read of its version must
 * answer VersionNotRetainedError, which needs an entry there (test/model.test.ts
 * found both). `dropBottomTombstones` exists for a retention floor that would make
 * it safe; nothing sets it today.
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
  /** Drop tombstones with nothing under them (only with includesOldest); see the header: unsafe today. */
  dropBottomTombstones?: boolean;
}

export interface KeyCollection {
  kept: RunEntry[];
  /** Versions (values and tombstones) dropped; markers are not versions. */
  droppedCount: number;
}

/** The entries of one key (newest first, all of it in the inputs) that survive `rule`. */
export function collectKey(entries: readonly RunEntry[], rule: VersionGcRule): KeyCollection {
  assert(entries.length > 0, 'collectKey needs at least one entry');
  let keep = 1;
  for (; keep < entries.length; keep++) {
    const entry = entries[keep]!;
    const above = entries[keep - 1]!;
    assert(above.version > entry.version && above.key === entry.key, `entries of ${entry.key} are not one key newest first`);
    const retained = keep < rule.maxVersionsPerKey || entry.version > rule.horizon || above.version > rule.horizon;
    if (!retained) break;
  }
  // Nothing dropped (the common case): the history itself, no copy.
  let kept = keep === entries.length ? (entries as RunEntry[]) : entries.slice(0, keep);
  // Versions dropped: a marker dropped (and written again below) is not a version.
  let droppedCount = 0;
  for (let index = keep; index < entries.length; index++) if (!isNotRetainedMarker(entries[index]!.value)) droppedCount++;
  if (keep < entries.length) {
    const oldest = entries.at(-1)!;
    kept.push({ key: oldest.key, version: oldest.version, value: NOT_RETAINED_VALUE });
  }
  if (rule.includesOldest && rule.dropBottomTombstones === true) {
    if (kept === entries) kept = entries.slice(); // never change the caller's array
    while (kept.length > 0 && kept.at(-1)!.value === undefined) {
      kept.pop();
      droppedCount++;
    }
  }
  assert(kept.length <= entries.length + 1 && droppedCount <= entries.length, 'collection only shrinks a history (plus one marker)');
  return { kept, droppedCount };
}
