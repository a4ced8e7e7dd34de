/**
 * The report of one run, as written to JSON and rendered to the console
 * table, Markdown and SVG. Every figure in it comes from this one run.
 *
 * Ratios are "baseline ÷ engine" throughput (ladybug's ratio to each peer):
 * above 1 means ladybug is faster. Per workload, the faster of the two raw
 * variants is named the raw limit.
 */
import type { ConcurrentPutMode, EngineRole, TransactionVariant } from '../engines/engine.js';
import type { LatencySummary } from '../measure/latency.js';
import type { MachineDescription } from '../machine.js';
import type { Profile } from '../profile.js';
import type { StatsChange } from '../runner.js';
import type { CheckResult, ExtraColumn } from '../workloads/workload.js';

export interface EngineReport {
  readonly id: string;
  readonly label: string;
  readonly role: EngineRole;
  readonly version: string | undefined;
  readonly settings: readonly string[];
  readonly concurrencyNote: string;
  readonly concurrentPutMode: ConcurrentPutMode;
  /** Settings for the string-key workloads; undefined: the engine does not take them. */
  readonly stringKeySettings: readonly string[] | undefined;
  /** How it runs the transaction workloads (one row per variant); undefined: not run. */
  readonly transactionVariants: readonly TransactionVariant[] | undefined;
  readonly status: 'measured' | 'skipped';
  /** Why it was skipped. */
  readonly note: string | undefined;
}

export interface WorkloadReport {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  /** What is timed and counted, stated in the report. */
  readonly measures: string;
  readonly writes: boolean;
  /** False: run once per engine after the interleaved rounds. */
  readonly interleaved: boolean;
  /** 'duration': the figure is a time; unitsPerSecond is its inverse. */
  readonly headline: 'rate' | 'duration';
  /** Workload-specific figures (keys of ResultRow.extra) shown as columns. */
  readonly columns: readonly ExtraColumn[];
  /** How each engine (variant) runs the workload, where that differs per engine. */
  readonly engineNotes: readonly string[];
}

export interface RoundSummary {
  readonly round: number;
  readonly unitsPerSecond: number | undefined;
  readonly error: string | undefined;
  readonly check: CheckResult | undefined;
}

export interface ResultRow {
  readonly workloadId: string;
  readonly engineId: string;
  /** The variant (transaction workloads: "serializable", "snapshot", "batch", ...); undefined otherwise. */
  readonly variant: string | undefined;
  /** From the median round; undefined if every round failed. */
  readonly unitsPerSecond: number | undefined;
  readonly medianRound: number | undefined;
  readonly latency: LatencySummary | undefined;
  readonly unitCount: number | undefined;
  readonly durationMs: number | undefined;
  readonly extra: Record<string, number>;
  readonly stats: StatsChange | undefined;
  readonly rounds: readonly RoundSummary[];
  readonly error: string | undefined;
  /** The median round's correctness check, or the first failed one if any round failed. */
  readonly check: CheckResult | undefined;
  /** True when a round failed its correctness check: the figure is not comparable. */
  readonly flagged: boolean;
  /** True for the faster raw variant of this workload. */
  readonly isRawLimit: boolean;
  /**
   * Baseline throughput ÷ this row's throughput; undefined when either is missing.
   * The baseline row of a workload is the baseline engine's first row (its first variant).
   */
  readonly baselineRatio: number | undefined;
}

export type TargetStatus = 'met' | 'missed' | 'not measured';

export interface TargetReport {
  readonly description: string;
  readonly workloadId: string;
  readonly measured: string;
  readonly status: TargetStatus;
}

export interface RunReport {
  readonly tool: 'ladybug-store bench';
  readonly mode: Profile['name'];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly command: string;
  readonly machine: MachineDescription;
  readonly profile: Profile;
  readonly baselineEngineId: string;
  readonly engines: readonly EngineReport[];
  readonly workloads: readonly WorkloadReport[];
  readonly pendingWorkloads: readonly string[];
  readonly rows: readonly ResultRow[];
  readonly targets: readonly TargetReport[];
}
