/**
 * Trivial moves (LevelDB's name): a background pick whose inputs' key ranges are
 * pairwise disjoint merges into the concatenation of its inputs, every byte written
 * again for nothing (a sequential load: each flushed run covers keys above the last).
 * When, besides, the merge would copy every entry of every input unchanged, the
 * compaction installs nothing and rewrites nothing: the runs stay as they are (same
 * files, same manifest, same run array) and only the policy's view of them changes,
 * their tier rises to the pick's output tier as one move unit (RunSet#move).
 *
 * When "the merge would copy it unchanged" holds (version-gc.ts's collectKey, per key):
 * with disjoint inputs every key's entries come from one input run, so
 * - per-key retention drops nothing when no key holds more than maxVersionsPerKey
 *   entries in the run: a key holds at most entryCount - keyCount + 1 of them;
 * - the retention floor F drops nothing when no entry is at or below F (minVersion > F),
 *   or when every key has one entry (entryCount === keyCount: that entry is the one
 *   visible at F, kept) and the pick does not include the oldest run (only then does
 *   the floor's tombstone go);
 * - the output would be written in the format and compression of the output tier
 *   (compressionForTier; the writer's runFormatVersionFor): the input's footer must say
 *   the same, so a move into the cold tier (compressed) is a merge, as is a run of an
 *   older format.
 * Runs under TRIVIAL_MOVE_MIN_RUN_BYTES (compactionSettings.trivialMoveMinRunBytes) are
 * merged as before, and so is every pick while more than TRIVIAL_MOVE_RUNS_MAX runs are
 * live (the kept runs would pile up).
 * Markers (NOT_RETAINED) are entries like any other here: a key's entries that
 * collectKey keeps whole are kept whole, markers included.
 *
 * Invariants:
 * - A move changes nothing on disk and nothing a read sees (the same runs answer);
 *   a crash at any point leaves the same set. The tiers are not persisted: at open
 *   every run is at the tier it was written at, and the policy moves again (cheap).
 * - A moved unit counts as one run toward the fanout (compaction-policy.ts), so four
 *   units of tier t make one move (or merge) to t + 1, not a climb per arrival.
 */
import type { RunHandle } from '../engine/run-set.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { RunCompression, runFormatVersionFor } from '../run/run-format.js';
import type { CompactionPick } from './compaction-policy.js';
import { compactionSettings, compressionForTier } from './compaction-policy.js';
import type { VersionGcRule } from './version-gc.js';

export { TRIVIAL_MOVE_MIN_RUN_BYTES } from './compaction-policy.js';

/** True when no two of `runs` share a key: sorted by smallest key, each ends below the next's start. */
export function keyRangesDisjoint(runs: readonly RunHandle[]): boolean {
  const sorted = runs.map((run) => run.descriptor).sort((left, right) => (left.smallestKey < right.smallestKey ? -1 : left.smallestKey > right.smallestKey ? 1 : 0));
  for (let index = 1; index < sorted.length; index++) {
    if (sorted[index - 1]!.largestKey >= sorted[index]!.smallestKey) return false;
  }
  return true;
}

/** True when version GC under `rule`, given only this run's entries of each key, keeps every entry (see the header). */
export function gcKeepsRun(descriptor: RunDescriptor, rule: Readonly<VersionGcRule>): boolean {
  const mostEntriesOfAKey = descriptor.entryCount - descriptor.keyCount + 1;
  if (mostEntriesOfAKey > rule.maxVersionsPerKey) return false;
  const floor = rule.retentionFloor ?? 0;
  if (floor === 0 || descriptor.minVersion > floor) return true;
  return descriptor.entryCount === descriptor.keyCount && !rule.includesOldest;
}

/**
 * True when the background pick may be moved instead of merged: at most
 * trivialMoveRunsMax runs are live (`liveRunCount`), its output tier is
 * above every input's, their key ranges are disjoint, and the merge would copy each
 * input unchanged under `rule` (its footer included: the readers are opened, as the
 * merge would). Inputs stay live meanwhile (only this compaction removes them).
 */
export async function pickMovable(pick: CompactionPick, rule: Readonly<VersionGcRule>, liveRunCount: number): Promise<boolean> {
  if (liveRunCount > compactionSettings.trivialMoveRunsMax) return false;
  if (pick.inputs.length < 2 || !pick.inputs.every((run) => run.tier < pick.outputLevel && run.descriptor.fileBytes >= compactionSettings.trivialMoveMinRunBytes)) return false;
  if (!keyRangesDisjoint(pick.inputs) || !pick.inputs.every((run) => gcKeepsRun(run.descriptor, rule))) return false;
  const compression = RunCompression[compressionForTier(pick.outputLevel)];
  const formatVersion = runFormatVersionFor(compression);
  for (const run of pick.inputs) {
    // A run that fails to open is left to the merge, which opens it again and reports the failure as merges do.
    const reader = await Promise.resolve(run.reader()).catch(() => undefined);
    if (reader === undefined || reader.footer.compression !== compression || reader.footer.formatVersion !== formatVersion) return false;
  }
  return true;
}
