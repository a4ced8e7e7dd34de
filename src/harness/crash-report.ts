/**
 * What a crash-test run reports (crash-test.ts): one CycleReport per cycle (the worker's
 * acknowledged and in-flight commits, the recovery, the problems found, the worker's store
 * activity when it died), and the run's CrashTestSummary, which adds the cycles up (totals,
 * recovery-time percentiles, the first problems) and prints as one line.
 */
import type { CrashMode } from '../fs/fault-file-system.js';
import type { CrashTestMode, StoreActivity } from './crash-protocol.js';
import type { Problem } from './crash-verify.js';

export interface CycleReport {
  cycle: number;
  cycles: number;
  killAfterMs: number;
  crashMode: CrashMode | undefined;
  acknowledged: number;
  inFlight: number;
  inFlightApplied: number;
  /** Undefined when the store failed to open. */
  recoveryMs: number | undefined;
  /** Whether recovery found a torn record at the WAL's tail (and zeroed it). */
  tornTailZeroed: boolean;
  openError: string | undefined;
  problems: Problem[];
  workerErrors: string[];
  /** Set when the recovered store opened but reading it to verify threw (the run ends there). */
  readError: string | undefined;
  /** The worker's store activity when it died, as it last reported it (undefined: none reported). */
  activity: StoreActivity | undefined;
}

export interface CrashTestSummary {
  mode: CrashTestMode;
  seed: number;
  /** Cycles completed (fewer than asked when an open failed). */
  cycles: number;
  acknowledged: number;
  lost: number;
  torn: number;
  inconsistent: number;
  failedOpens: number;
  workerErrors: number;
  inFlight: number;
  inFlightApplied: number;
  /** Recoveries that zeroed a torn WAL tail: how often a crash cut a record (expected, not a problem). */
  tornTailsZeroed: number;
  /** Flushes, compactions and WAL segment deletions the workers completed before they died (their stores' counts). */
  workerFlushes: number;
  workerCompactions: number;
  workerWalSegmentsDeleted: number;
  /** Crashes (kills or power losses) that landed while a flush, or a compaction, was running in the worker. */
  crashesDuringFlush: number;
  crashesDuringCompaction: number;
  recoveryMsP50: number;
  recoveryMsP99: number;
  directory: string;
  /** The first problems found, for the report. */
  problems: string[];
}

const PROBLEMS_KEPT = 50;

/** The summary before the first cycle: every count 0. */
export function emptySummary(mode: CrashTestMode, seed: number, directory: string): CrashTestSummary {
  return {
    mode, seed, cycles: 0, acknowledged: 0, lost: 0, torn: 0, inconsistent: 0,
    failedOpens: 0, workerErrors: 0, inFlight: 0, inFlightApplied: 0, tornTailsZeroed: 0,
    workerFlushes: 0, workerCompactions: 0, workerWalSegmentsDeleted: 0, crashesDuringFlush: 0, crashesDuringCompaction: 0,
    recoveryMsP50: 0, recoveryMsP99: 0,
    directory, problems: [],
  };
}

/** True when nothing was lost, torn or inconsistent, every open succeeded and no worker failed. */
export function crashTestPassed(summary: CrashTestSummary): boolean {
  return summary.lost === 0 && summary.torn === 0 && summary.inconsistent === 0 && summary.failedOpens === 0 && summary.workerErrors === 0;
}

/** The one summary line. */
export function formatSummary(summary: CrashTestSummary): string {
  return [
    `crash-test mode=${summary.mode} seed=${summary.seed}:`,
    `cycles=${summary.cycles}`,
    `acknowledged=${summary.acknowledged}`,
    `lost=${summary.lost}`,
    `torn=${summary.torn}`,
    `inconsistent=${summary.inconsistent}`,
    `failedOpens=${summary.failedOpens}`,
    `workerErrors=${summary.workerErrors}`,
    `inFlightApplied=${summary.inFlightApplied}/${summary.inFlight}`,
    `tornTailsZeroed=${summary.tornTailsZeroed}`,
    `flushes=${summary.workerFlushes}`,
    `compactions=${summary.workerCompactions}`,
    `walSegmentsDeleted=${summary.workerWalSegmentsDeleted}`,
    `crashesDuringFlush=${summary.crashesDuringFlush}`,
    `crashesDuringCompaction=${summary.crashesDuringCompaction}`,
    `recovery p50=${summary.recoveryMsP50.toFixed(1)}ms p99=${summary.recoveryMsP99.toFixed(1)}ms`,
  ].join(' ');
}

export function addCycle(summary: CrashTestSummary, report: CycleReport, recoveryTimesMs: number[]): void {
  summary.acknowledged += report.acknowledged;
  summary.inFlight += report.inFlight;
  summary.inFlightApplied += report.inFlightApplied;
  if (report.tornTailZeroed) summary.tornTailsZeroed++;
  addActivity(summary, report.activity);
  summary.workerErrors += report.workerErrors.length;
  keepProblemMessages(summary, report.workerErrors.map((error) => `cycle ${report.cycle}: ${error}`));
  addProblems(summary, report.problems);
  if (report.openError !== undefined) {
    summary.failedOpens++;
    keepProblemMessages(summary, [`cycle ${report.cycle}: the store failed to open: ${report.openError}`]);
    return;
  }
  summary.cycles++;
  if (report.recoveryMs !== undefined) recoveryTimesMs.push(report.recoveryMs);
}

function addActivity(summary: CrashTestSummary, activity: StoreActivity | undefined): void {
  if (activity === undefined) return;
  summary.workerFlushes += activity.flushes;
  summary.workerCompactions += activity.compactions;
  summary.workerWalSegmentsDeleted += activity.walSegmentsDeleted;
  if (activity.flushing) summary.crashesDuringFlush++;
  if (activity.compacting) summary.crashesDuringCompaction++;
}

export function addProblems(summary: CrashTestSummary, problems: readonly Problem[]): void {
  for (const problem of problems) summary[problem.kind]++;
  keepProblemMessages(summary, problems.map((problem) => `${problem.kind}: ${problem.message}`));
}

function keepProblemMessages(summary: CrashTestSummary, messages: readonly string[]): void {
  for (const message of messages) if (summary.problems.length < PROBLEMS_KEPT) summary.problems.push(message);
}

/** Nearest-rank percentile; 0 for no samples. */
export function percentile(samples: readonly number[], rank: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((left, right) => left - right);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1));
  return sorted[index]!;
}
