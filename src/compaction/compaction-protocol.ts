/**
 * The protocol of one compaction, once the compactor (compactor.ts) has picked its
 * inputs and given it a merge slot and a cancel signal:
 *
 *   decide: horizon = oldest pin, and the retention floor it allows, read in the same
 *   synchronous step as the pick -> k-way merge of the inputs' cursors -> writeRun
 *   (temp, datasync, rename, directory fsync; merge-output.ts, in the merge thread or
 *   in process) -> the last cancellation check and the horizon re-read, synchronously
 *   right before the manifest edit: a pin taken meanwhile below it and below the
 *   inputs' newest version aborts the compaction (the output is deleted, the inputs
 *   stay; a pin at or above that version needs nothing dropped) -> install: one
 *   manifest edit (removeRunIds + addRuns) -> RunSet#replace (synchronous) -> the
 *   inputs' readers retired (replaced-runs.ts) and their files unlinked.
 *   A background pick whose merge would be its inputs' concatenation, copied unchanged,
 *   is moved instead (trivial-move.ts): after the horizon hook and the floor's record,
 *   nothing written or edited.
 *
 * Invariants:
 * - decide() runs synchronously in the caller's step (compactPick starts it before its
 *   first await), so the horizon is the one in force when the pick was made; a pin
 *   taken after it is at the current version, above the floor.
 * - From the last cancellation check to the start of the manifest edit is one
 *   synchronous step: a cancel either removes the finished output (installing
 *   nothing) or comes after the edit began (then the compaction installs fully).
 * - A failure before the manifest edit leaves the old runs installed and the store
 *   usable (the partial output is removed by writeRun or here); a crash leaves an
 *   orphan file that open removes. A failed manifest edit fails the manifest (it
 *   refuses further edits), as for a flush; one withdrawn for a full disk
 *   (DiskFullError, nothing of it durable) leaves the manifest usable, and the output,
 *   listed nowhere, is removed at once.
 * - A merge that dropped deletes at the retention floor by the per-key count is shown
 *   to readers before its manifest edit, or merged again keeping them when one of
 *   their keys was written since the deciding step (floor-delete-install.ts).
 * - A run file is deleted only after the manifest no longer lists it.
 * - Inputs are adjacent live runs that only this compaction removes (compactor.ts):
 *   still live and adjacent when installed.
 */
import { performance } from 'node:perf_hooks';
import type { PointCache } from '../engine/point-cache.js';
import type { RunSet } from '../engine/run-set.js';
import type { FileSystem } from '../fs/file-system.js';
import { joinPath } from '../fs/file-system.js';
import type { Manifest } from '../manifest/manifest.js';
import type { StorageMetrics } from '../metrics/recorders.js';
import type { RunDescriptor } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';
import { DiskFullError } from '../errors.js';
import { floorDeletesMayHaveGained, hideOutput, showOutput } from './floor-delete-install.js';
import type { CompactionPick } from './compaction-policy.js';
import { type CompactionProgress, type CompactionResult, type CompactionTotals, emptyResult } from './compaction-stats.js';
import type { MergeOutput, MergeSlot } from './merge-output.js';
import type { MergeCounters } from './merge-runs.js';
import type { ReplacedRuns } from './replaced-runs.js';
import { pickMovable } from './trivial-move.js';
import type { RetentionFloor } from './retention-floor.js';
import type { VersionTimes } from './version-times.js';

/**
 * Test hooks (forced interleavings). `onHorizon` runs after a compaction read its
 * horizon and before it merges (with its pick): a test takes a pin or holds it there.
 */
export const compactionTestHooks: { onHorizon?: (horizon: number, pick: CompactionPick) => void | Promise<void> } = {};

/** What the protocol needs of the compactor's configuration (CompactorConfig has it all). */
export interface CompactionProtocolConfig {
  fileSystem: FileSystem;
  runsDirectory: string;
  manifest: Manifest;
  runSet: RunSet;
  maxVersionsPerKey: number;
  metrics: StorageMetrics;
  versionTimes?: VersionTimes | undefined;
  pointCache?: PointCache | undefined;
  /** True while a memtable holds a version newer than the runs (storage-engine.ts); absent: taken as true. */
  memoryHoldsNewer?: (() => boolean) | undefined;
  /** True while a memtable holds one of `keys` (floor-delete-install.ts); absent: memoryHoldsNewer decides. */
  memoryHoldsAnyKey?: ((keys: readonly string[]) => boolean) | undefined;
}

/**
 * The run a compaction of every live run wrote, with the floor and horizon it used:
 * compacting that run alone again with the same floor and a horizon no higher drops
 * nothing (version GC is idempotent), so it is skipped. Not used with retention by
 * age, whose window moves on its own.
 */
export interface SettledRun {
  runId: number;
  retentionFloor: number;
  horizon: number;
}

/** The compactor's state one compaction reads and updates. */
export interface CompactionContext {
  readonly config: CompactionProtocolConfig;
  /** Writes a pick's merged run, in the merge thread or in process. */
  readonly output: MergeOutput;
  readonly totals: CompactionTotals;
  readonly replacedRuns: ReplacedRuns;
  readonly retentionFloor: RetentionFloor;
  /** The oldest read pin (ReadPins#oldest), read synchronously. */
  pinFloor(): number;
  /** Raises the floor toward `requested` as far as `horizon` and the flushed data allow; returns the floor in force. */
  raiseFloor(requested: number, horizon: number): number;
  /** Undefined: none, or the runs changed since (each install sets it). */
  settled: SettledRun | undefined;
}

/** One compaction to run: its pick, how it is cancelled, its merge slot. */
export interface CompactionRequest {
  pick: CompactionPick;
  signal: AbortSignal;
  slot: MergeSlot;
  onProgress?: CompactionProgress | undefined;
  /** compact({ retainFrom }): the floor is raised toward it in the deciding step. */
  retainFrom?: number | undefined;
  /** A background pick: moved instead of merged when trivial-move.ts allows (a compact() call always merges). */
  mayMove?: boolean;
}

/** What the deciding step read. */
interface Decision {
  horizon: number;
  retentionFloor: number;
  /** The pick starts at the oldest live run (tombstones can then be dropped). */
  includesOldest: boolean;
  /** The pick is every live run. */
  coversAll: boolean;
  /** The pick is every live run and no memtable holds a newer version: the inputs hold every version of every key. */
  holdsEveryVersion: boolean;
  /** The pick is the settled run again, with nothing new to drop. */
  nothingToDrop: boolean;
}

/**
 * Runs the protocol of the module header for one pick. Rejects with the signal's
 * reason when cancelled (nothing installed), or with the failure (counted in
 * `failures` unless cancelled); resolves 'aborted' when a pin taken during the merge
 * needs what it dropped.
 *
 * Counted once, here: a failure while the signal is not aborted (the floor's edit, the
 * merge), and any failure past the last cancellation check (the install's or an abort's
 * manifest edit), which a cancel cannot stop. A merge that fails once the signal is
 * aborted is the cancel's doing (merge-output.ts): not counted.
 */
export async function compactPick(context: CompactionContext, request: CompactionRequest): Promise<CompactionResult> {
  const step = { committed: false };
  try {
    return await compactPickSteps(context, request, step);
  } catch (error) {
    if (step.committed || !request.signal.aborted) context.totals.failures++;
    throw error;
  }
}

async function compactPickSteps(context: CompactionContext, request: CompactionRequest, step: { committed: boolean }): Promise<CompactionResult> {
  const started = performance.now();
  const { pick, signal } = request;
  const decision = decide(context, pick, request.retainFrom);
  // The edit recording a floor raised in the deciding step (started there): durable
  // before the merge, so a cancel, a failure or a crash from here on keeps the floor.
  const floorRecorded = context.retentionFloor.recorded();
  floorRecorded.catch(() => undefined); // awaited below; handled here should the hook throw first
  if (decision.nothingToDrop) {
    await floorRecorded;
    return emptyResult('nothing', decision.horizon, decision.retentionFloor);
  }
  await compactionTestHooks.onHorizon?.(decision.horizon, pick);
  await floorRecorded;
  signal.throwIfAborted();
  if (request.mayMove === true && (await moveIfTrivial(context, pick, decision, signal))) {
    return { ...emptyResult('nothing', decision.horizon, decision.retentionFloor), durationMs: performance.now() - started };
  }
  let merging = decision;
  for (;;) {
    const counters: MergeCounters = { entriesRead: 0, entriesWritten: 0, entriesDropped: 0, markersRead: 0, markersWritten: 0, payloadBytesWritten: 0 };
    const runId = context.config.manifest.allocateRunId();
    const output = await mergeIntoRun(context, request, merging, runId, counters);
    // The last point of cancellation: from here to the manifest edit is one synchronous
    // step (see the module invariants).
    if (signal.aborted) {
      if (output !== undefined) await unlinkRunQuietly(context.config, output.fileName);
      throw signal.reason;
    }
    if (floorDeletesMayHaveGained(context.config, pick, counters)) {
      // A key whose delete at the floor the merge dropped by the count was written since
      // the deciding step (floor-delete-install.ts): merge again, keeping such deletes.
      if (output !== undefined) await unlinkRunQuietly(context.config, output.fileName);
      merging = { ...merging, holdsEveryVersion: false };
      continue;
    }
    step.committed = true;
    return installUnlessPinned(context, pick, merging, output, runId, counters, started);
  }
}

/** The horizon re-read, then the install (both begun in the caller's synchronous step). */
async function installUnlessPinned(
  context: CompactionContext,
  pick: CompactionPick,
  decision: Decision,
  output: RunDescriptor | undefined,
  runId: number,
  counters: MergeCounters,
  started: number,
): Promise<CompactionResult> {
  // Re-read the horizon in the step that commits to the edit: a pin taken below it
  // while merging may read what the merge dropped. Only a pin below the inputs' newest
  // version can: a reader at or above it sees the newest entry of each key among the
  // inputs, which the merge keeps whatever the horizon (version-gc.ts). A fresh pin (a
  // scan or snapshot started during the merge, at the current version) never aborts:
  // with the horizon at Infinity (no pin at the pick), every such read aborted the
  // merge, and readers overlapping each merge held backlogged writers forever.
  const inputsNewestVersion = pick.inputs.reduce((newest, run) => Math.max(newest, run.descriptor.maxVersion), 0);
  if (context.pinFloor() < Math.min(decision.horizon, inputsNewestVersion)) {
    return abortForPin(context, decision, output, started);
  }
  await install(context, pick, decision, output, runId, (counters.floorDeletesDropped ?? 0) > 0);
  return accountInstalled(context, pick, decision, output, counters, started);
}

/** The deciding step: horizon, the floor it allows and "includes the oldest run", in the caller's synchronous step. */
function decide(context: CompactionContext, pick: CompactionPick, retainFrom: number | undefined): Decision {
  const { runSet, manifest } = context.config;
  const horizon = context.pinFloor();
  const retentionFloor = retainFrom === undefined ? context.retentionFloor.version : context.raiseFloor(retainFrom, horizon);
  assert(retentionFloor <= horizon || retentionFloor <= (manifest.state.retentionFloor ?? 0), 'the floor never passes a pin');
  const includesOldest = runSet.runs[0] === pick.inputs[0];
  const coversAll = includesOldest && runSet.runs.at(-1) === pick.inputs.at(-1);
  const settled = context.settled;
  const nothingToDrop = coversAll && pick.inputs.length === 1 && settled !== undefined && settled.runId === pick.inputs[0]!.descriptor.runId
    && settled.retentionFloor === retentionFloor && horizon <= settled.horizon && context.config.versionTimes === undefined;
  const holdsEveryVersion = coversAll && context.config.memoryHoldsNewer?.() === false;
  return { horizon, retentionFloor, includesOldest, coversAll, holdsEveryVersion, nothingToDrop };
}

/**
 * A trivial move (trivial-move.ts): when the merge would be the inputs' concatenation,
 * copied unchanged under the deciding step's rule, the inputs rise to the output tier
 * as they are (RunSet#move, synchronous after the last cancellation check): no file,
 * no manifest edit. False: merge as usual.
 */
async function moveIfTrivial(context: CompactionContext, pick: CompactionPick, decision: Decision, signal: AbortSignal): Promise<boolean> {
  const { maxVersionsPerKey, runSet } = context.config;
  const rule = { maxVersionsPerKey, horizon: decision.horizon, includesOldest: decision.includesOldest, retentionFloor: decision.retentionFloor };
  if (!(await pickMovable(pick, rule, runSet.runs.length))) return false;
  signal.throwIfAborted();
  runSet.move(pick.inputs, pick.outputLevel);
  context.totals.moves++;
  context.totals.runsMoved += pick.inputs.length;
  return true;
}

/** Merges the pick into run `runId` (undefined: every entry dropped, no run written). */
async function mergeIntoRun(
  context: CompactionContext,
  request: CompactionRequest,
  decision: Decision,
  runId: number,
  counters: MergeCounters,
): Promise<RunDescriptor | undefined> {
  const { pick, signal, slot, onProgress } = request;
  const rule = { maxVersionsPerKey: context.config.maxVersionsPerKey, horizon: decision.horizon, includesOldest: decision.includesOldest, coversAll: decision.holdsEveryVersion, retentionFloor: decision.retentionFloor };
  const entriesTotal = pick.inputs.reduce((total, run) => total + run.descriptor.entryCount, 0);
  const progress = onProgress === undefined ? undefined : (entriesRead: number) => onProgress(entriesRead, entriesTotal);
  const allocateRunId = (): number => context.config.manifest.allocateRunId();
  const output = await context.output.write({ pick, runId, rule, counters, onProgress: progress, signal, slot, allocateRunId });
  progress?.(entriesTotal);
  return output;
}

/** A pin needs what the merge dropped: the output goes, the inputs stay; a raised floor is still recorded. */
async function abortForPin(context: CompactionContext, decision: Decision, output: RunDescriptor | undefined, started: number): Promise<CompactionResult> {
  const { manifest } = context.config;
  if (output !== undefined) await unlinkRunQuietly(context.config, output.fileName);
  const retentionFloor = decision.retentionFloor;
  if (retentionFloor > (manifest.state.retentionFloor ?? 0)) await manifest.apply({ retentionFloor });
  context.totals.aborted++; // after the edit: one that fails makes the compaction a failure, counted as one only
  return { ...emptyResult('aborted', decision.horizon, retentionFloor), durationMs: performance.now() - started };
}

/**
 * Installs the output: the manifest edit (begun synchronously in the caller's step),
 * then RunSet#replace, then the inputs' readers retired and their files unlinked. A
 * merge that dropped deletes at the floor by the count is shown first, in the caller's
 * step, then edited (`showFirst`, floor-delete-install.ts). An edit withdrawn for a full
 * disk (DiskFullError: nothing of it durable) removes the output, which no manifest lists.
 */
async function install(context: CompactionContext, pick: CompactionPick, decision: Decision, output: RunDescriptor | undefined, runId: number, showFirst: boolean): Promise<void> {
  const { manifest, runSet, versionTimes, pointCache } = context.config;
  const retentionFloor = decision.retentionFloor;
  const samples = versionTimes?.samples();
  const shown = showFirst ? showOutput(context.config, pick, output) : undefined;
  try {
    await manifest.apply({
      ...(retentionFloor > (manifest.state.retentionFloor ?? 0) ? { retentionFloor } : {}),
      removeRunIds: pick.inputs.map((run) => run.descriptor.runId),
      addRuns: output === undefined ? [] : [output],
      // The output's id is above `runId` when its merge was done again after a thread exit (merge-output.ts).
      nextRunId: Math.max(manifest.state.nextRunId, runId + 1, (output?.runId ?? 0) + 1),
      ...(samples === undefined ? {} : { versionTimes: samples }),
    });
  } catch (error) {
    if (shown !== undefined) await hideOutput(context.config, pick, shown, error);
    else if (error instanceof DiskFullError && output !== undefined) await unlinkRunQuietly(context.config, output.fileName);
    throw error;
  }
  if (samples !== undefined) versionTimes?.recorded(samples);
  if (shown === undefined) {
    const runsBefore = runSet.runs;
    runSet.replace(pick.inputs, output === undefined ? [] : [output]);
    pointCache?.carryOverCompaction(runsBefore, runSet.runs);
  }
  context.settled = decision.coversAll && output !== undefined ? { runId: output.runId, retentionFloor, horizon: decision.horizon } : undefined;
  for (const input of pick.inputs) context.replacedRuns.retire(input);
  // The manifest no longer lists the inputs: unlink them now. Views that still hold
  // them read through the open readers (the merge opened every input), as POSIX
  // keeps an unlinked file readable through an open descriptor.
  for (const input of pick.inputs) await unlinkRunQuietly(context.config, input.descriptor.fileName);
}

/** Counts an installed compaction (totals, metrics) and makes its result. */
function accountInstalled(
  context: CompactionContext,
  pick: CompactionPick,
  decision: Decision,
  output: RunDescriptor | undefined,
  counters: MergeCounters,
  started: number,
): CompactionResult {
  const totals = context.totals;
  const bytesOut = output?.fileBytes ?? 0;
  totals.compactions++;
  totals.bytesWritten += bytesOut;
  if (decision.coversAll) totals.liveBytesEstimate = counters.payloadBytesWritten;
  const bytesIn = pick.inputs.reduce((total, run) => total + run.descriptor.fileBytes, 0);
  const durationMs = performance.now() - started;
  context.config.metrics.recordCompaction(durationMs, bytesIn, bytesOut);
  return {
    outcome: 'compacted', runsIn: pick.inputs.length, runsOut: output === undefined ? 0 : 1,
    bytesIn, bytesOut,
    entriesIn: counters.entriesRead, entriesOut: counters.entriesWritten, entriesDropped: counters.entriesDropped,
    markersIn: counters.markersRead, markersOut: counters.markersWritten,
    horizon: decision.horizon, retentionFloor: decision.retentionFloor, durationMs,
  };
}

/** Unlinks a run file; a file left behind (a failed unlink) is not listed by the manifest: open removes it. */
export async function unlinkRunQuietly(config: Pick<CompactionProtocolConfig, 'fileSystem' | 'runsDirectory'>, fileName: string): Promise<void> {
  await config.fileSystem.unlink(joinPath(config.runsDirectory, fileName)).catch(() => undefined);
}
