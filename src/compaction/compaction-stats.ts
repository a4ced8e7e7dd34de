/**
 * What the compactor reports (compactor.ts): the result of one compaction
 * (CompactionResult), its running totals (CompactionTotals) and the snapshot
 * stats() returns (CompactionStats), assembled from the totals and the live runs.
 *
 * Invariants:
 * - A result's counts obey entriesIn - markersIn - entriesDropped === entriesOut - markersOut
 *   (markers stand for dropped versions: entries, not versions).
 * - The totals only grow; `cancelled` and `failures` count apart (a cancelled
 *   compaction is no failure). Only the compactor writes them.
 * - writeAmplification is 1 before anything was flushed, never a division by 0.
 */
import type { RunHandle } from '../engine/run-set.js';
import { type CompactionPolicyName, compactionDebtBytes } from './compaction-policy.js';

/** Called while merging: entries of the inputs read so far, and in all. */
export type CompactionProgress = (entriesRead: number, entriesTotal: number) => void;

export interface CompactionResult {
  /** 'aborted': a pin below the horizon appeared; nothing changed. */
  outcome: 'compacted' | 'aborted' | 'nothing';
  runsIn: number;
  runsOut: number;
  bytesIn: number;
  bytesOut: number;
  entriesIn: number;
  entriesOut: number;
  /**
   * Versions dropped. Markers (NOT_RETAINED, standing for dropped versions) are
   * entries but not versions, so
   * entriesIn - markersIn - entriesDropped === entriesOut - markersOut.
   */
  entriesDropped: number;
  markersIn: number;
  markersOut: number;
  horizon: number;
  /** The store-wide retention floor after this call (raised by `retainFrom`); reads below it are refused. */
  retentionFloor: number;
  durationMs: number;
}

export interface CompactionStats {
  policy: CompactionPolicyName;
  compactions: number;
  aborted: number;
  /** Compactions cancelled by close() (the debt stays) or, in the background, superseded by a compact() of every run: nothing installed. */
  cancelled: number;
  /** Compactions that failed (the floor's edit, the merge, the install's manifest edit), not cancelled ones: each once. */
  failures: number;
  running: boolean;
  /** Compactions in flight: 0, 1, or 2 (a shallow merge beside a deeper one). */
  runningCount: number;
  /** Run count per level (tier, as the policy sees it: a trivial move raises it), index = level. */
  runsPerLevel: number[];
  /** Trivial moves: background picks of runs with disjoint key ranges kept as they were, at the next tier, instead of merged (nothing written). */
  trivialMoves: number;
  /** Runs those moves kept instead of rewriting. */
  runsMoved: number;
  /**
   * Bytes of the live run files (what runs/ lists; = lifetime.runBytes). Not the WAL or
   * the manifest, nor replaced runs a reader still holds (replacedRunBytesHeld).
   */
  bytesOnDisk: number;
  /** Bytes of keys and values the last full merge of this open wrote (an estimate of live data), 0 before one (so after a reopen). */
  liveBytesEstimate: number;
  /** Bytes written by flushes and compactions since open over bytes flushed since open (1 when nothing was compacted or flushed: so after a reopen). */
  writeAmplification: number;
  /** Bytes of run files compactions wrote since open. */
  compactedBytesWritten: number;
  /** The store-wide retention floor (compact({ retainFrom })): as-of reads below it are refused; 0 when never raised. */
  retentionFloor: number;
  /** Bytes the policy wants rewritten now. */
  debtBytes: number;
  /** Replaced runs (files already unlinked) whose readers stay open for read views that hold them. */
  replacedRunsHeld: number;
  /** Their files' bytes: unlinked, not in runs/ nor in bytesOnDisk, but still taking disk space until released. */
  replacedRunBytesHeld: number;
  /**
   * Merges whose merge thread died under them (a crash, its heap exhausted): each was
   * merged again in process, not a failure (merge-output.ts). Above
   * MERGE_THREAD_RESTARTS_MAX the store merges in process for good.
   */
  mergeThreadExits: number;
  lastError: string | undefined;
}

/** The compactor's running totals since the store opened. */
export interface CompactionTotals {
  compactions: number;
  aborted: number;
  cancelled: number;
  failures: number;
  /** Bytes of run files compactions wrote. */
  bytesWritten: number;
  /** Payload bytes the last compaction of every live run wrote. */
  liveBytesEstimate: number;
  /** Trivial moves (trivial-move.ts): background picks whose runs rose a tier as they were, nothing written. */
  moves: number;
  /** Runs those moves kept instead of rewriting. */
  runsMoved: number;
}

export function newCompactionTotals(): CompactionTotals {
  return { compactions: 0, aborted: 0, cancelled: 0, failures: 0, bytesWritten: 0, liveBytesEstimate: 0, moves: 0, runsMoved: 0 };
}

/** What stats() reports beyond the totals, read from the compactor at the call. */
export interface CompactionState {
  policy: CompactionPolicyName;
  runs: readonly RunHandle[];
  bytesOnDisk: number;
  runningCount: number;
  retentionFloor: number;
  replacedRunsHeld: number;
  replacedRunBytesHeld: number;
  mergeThreadExits: number;
  lastError: Error | undefined;
}

export function compactionStats(totals: Readonly<CompactionTotals>, state: CompactionState, flushedBytes: number): CompactionStats {
  const runsPerLevel: number[] = [];
  for (const run of state.runs) {
    const level = run.tier;
    while (runsPerLevel.length <= level) runsPerLevel.push(0);
    runsPerLevel[level] = (runsPerLevel[level] ?? 0) + 1;
  }
  return {
    policy: state.policy,
    compactions: totals.compactions,
    trivialMoves: totals.moves,
    runsMoved: totals.runsMoved,
    aborted: totals.aborted,
    cancelled: totals.cancelled,
    failures: totals.failures,
    running: state.runningCount > 0,
    runningCount: state.runningCount,
    runsPerLevel,
    bytesOnDisk: state.bytesOnDisk,
    liveBytesEstimate: totals.liveBytesEstimate,
    writeAmplification: flushedBytes === 0 ? 1 : (flushedBytes + totals.bytesWritten) / flushedBytes,
    compactedBytesWritten: totals.bytesWritten,
    retentionFloor: state.retentionFloor,
    debtBytes: compactionDebtBytes(state.runs, state.policy),
    replacedRunsHeld: state.replacedRunsHeld,
    replacedRunBytesHeld: state.replacedRunBytesHeld,
    mergeThreadExits: state.mergeThreadExits,
    lastError: state.lastError?.message,
  };
}

/** The result of a compaction that changed no run ('nothing', or 'aborted' before its duration is set). */
export function emptyResult(outcome: CompactionResult['outcome'], horizon: number, retentionFloor: number): CompactionResult {
  return { outcome, runsIn: 0, runsOut: 0, bytesIn: 0, bytesOut: 0, entriesIn: 0, entriesOut: 0, entriesDropped: 0, markersIn: 0, markersOut: 0, horizon, retentionFloor, durationMs: 0 };
}
