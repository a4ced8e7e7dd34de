/**
 * The install of a merge that dropped deletes at the retention floor by the per-key
 * count (version-gc.ts `countedFloorDelete`: a finite maxVersionsPerKey, the inputs
 * holding every version in the deciding step). Such a drop is right only while no
 * version of the key is newer than the inputs: a write of the key committed since then
 * (in a memtable, or flushed into a run above the inputs) makes readers refuse the
 * delete (it is no longer among the newest N), and with the delete gone, without a
 * marker, reads as of it answer "absent": a refusal turned into an answer.
 *
 * So, in the synchronous step that commits to the install (compaction-protocol.ts):
 * - `floorDeletesMayHaveGained`: a run installed above the inputs, or a memtable holding
 *   one of the keys (all of memory when the merge listed too many), means the merge is
 *   done again without that drop (the protocol's caller merges once more, keeping the
 *   deletes: nothing it decides then depends on writes).
 * - Otherwise the output is shown to readers in that same step (`showOutput`:
 *   RunSet#replace before the manifest edit, not after it): a write committed during
 *   the edit lands above the output, so no reader ever sees it above the delete. A
 *   crash before the edit is durable brings the inputs back (reads as of the delete may
 *   then be refused: an answer becoming a refusal, as any newer write makes it); a
 *   failed edit puts them back at once (`hideOutput`; the output is retired, and
 *   unlinked when the edit was withdrawn, DiskFullError, nothing of it durable).
 */
import { DiskFullError } from '../errors.js';
import { joinPath } from '../fs/file-system.js';
import type { RunHandle } from '../engine/run-set.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import type { CompactionPick } from './compaction-policy.js';
import type { MergeCounters } from './merge-runs.js';
import type { CompactionProtocolConfig } from './compaction-protocol.js';

/** True when a key whose floor delete the merge dropped by the count may have a version newer than the inputs now. */
export function floorDeletesMayHaveGained(config: CompactionProtocolConfig, pick: CompactionPick, counters: MergeCounters): boolean {
  const dropped = counters.floorDeletesDropped ?? 0;
  if (dropped === 0) return false;
  // A flush installed a run above the inputs since the deciding step (it held nothing then).
  if (config.runSet.runs.at(-1) !== pick.inputs.at(-1)) return true;
  const keys = counters.floorDeleteKeys ?? [];
  if (keys.length < dropped || config.memoryHoldsAnyKey === undefined) return config.memoryHoldsNewer?.() !== false;
  return config.memoryHoldsAnyKey(keys);
}

/** The output shown before its manifest edit: where it stands in the run array and the array it replaced. */
export interface ShownOutput {
  first: number;
  handles: RunHandle[];
  runsBefore: readonly RunHandle[];
}

/** RunSet#replace of the inputs by the output, in the caller's synchronous step (see the header). */
export function showOutput(config: CompactionProtocolConfig, pick: CompactionPick, output: RunDescriptor | undefined): ShownOutput {
  const { runSet, pointCache } = config;
  const runsBefore = runSet.runs;
  const first = runsBefore.indexOf(pick.inputs[0]!);
  const handles = runSet.replace(pick.inputs, output === undefined ? [] : [output]);
  pointCache?.carryOverCompaction(runsBefore, runSet.runs);
  return { first, handles, runsBefore };
}

/**
 * The manifest edit failed: the inputs are live again (the same handles), the point
 * cache starts over, the output is retired (its reader closed once no view holds it)
 * and, when the edit was withdrawn (DiskFullError), its file removed then; after a
 * fail-stop failure a reopen may list it, so it stays (open removes it if not).
 */
export async function hideOutput(config: CompactionProtocolConfig, pick: CompactionPick, shown: ShownOutput, error: unknown): Promise<void> {
  const { runSet, pointCache, fileSystem, runsDirectory } = config;
  runSet.restore(shown.first, shown.handles, pick.inputs);
  pointCache?.clear(runSet.runs);
  const remove = error instanceof DiskFullError;
  const ends: Array<Promise<void>> = [];
  for (const handle of shown.handles) {
    // At once when no view holds it (awaited below), else when the last one lets go.
    handle.retire(() => {
      ends.push(handle.close().catch(() => undefined).then(async () => {
        if (remove) await fileSystem.unlink(joinPath(runsDirectory, handle.descriptor.fileName)).catch(() => undefined);
      }));
    });
  }
  await Promise.all(ends);
}
