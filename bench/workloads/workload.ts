/**
 * The shape of a workload and of one measurement.
 *
 * A workload runs against a freshly opened engine in an empty directory. It
 * may preload data first; it calls `beginMeasurement()` when the measured part
 * starts (the runner snapshots engine counters there). A workload with
 * variants (the transaction workloads) is measured once per variant of each
 * engine, each in its own fresh directory, and reported as one row per variant.
 */
import type { EngineDefinition, EngineHandle, KeyType } from '../engines/engine.js';
import type { LatencySummary } from '../measure/latency.js';
import type { Profile } from '../profile.js';

export interface WorkloadContext {
  /** The open engine (after closeEngine() and before openEngine(), or in an ownProcess workload: throws). */
  readonly engine: EngineHandle;
  readonly definition: EngineDefinition;
  readonly profile: Profile;
  /** The engine's directory (fresh for this measurement). */
  readonly directory: string;
  /** The variant being measured, for workloads with variants. */
  readonly variant: string | undefined;
  beginMeasurement(): void;
  /** Closes the engine (for the reopen workload); the runner closes whatever is open at the end. */
  closeEngine(): Promise<void>;
  /** Opens the engine again on the same directory with the same options; becomes `engine`. */
  openEngine(): Promise<EngineHandle>;
}

/** A correctness check made after a measurement; a failed one flags the figure. */
export interface CheckResult {
  /** True: passed; false: failed (the figure is flagged); undefined: not applicable. */
  readonly passed: boolean | undefined;
  /** One line for the report, e.g. "total conserved (412 accounts touched)". */
  readonly summary: string;
}

export interface Measurement {
  /** Units completed in the measured period (puts, keys, gets, scans, transactions). */
  readonly unitCount: number;
  /** Calls made (a batch of 100 is one call but 100 units). */
  readonly callCount: number;
  readonly durationMs: number;
  readonly unitsPerSecond: number;
  /** Absent for single-shot measurements (the reopen time is the figure itself). */
  readonly latency?: LatencySummary;
  /** Workload-specific figures, e.g. entries read per second by scans. */
  readonly extra: Record<string, number>;
  readonly check?: CheckResult;
}

/** A workload-specific figure shown as its own column in the Markdown table (and in the console note). */
export interface ExtraColumn {
  /** Key in Measurement.extra. */
  readonly key: string;
  readonly header: string;
  /** Short label for the console note, e.g. "retries/commit". */
  readonly shortLabel: string;
  readonly format: 'count' | 'decimal' | 'milliseconds' | 'microseconds' | 'mebibytes';
}

export interface Workload {
  /** Stable id used by --only and in the JSON. */
  readonly id: string;
  readonly title: string;
  /** What a unit is: "puts", "keys", "gets", "scans", "transactions". */
  readonly unit: string;
  /** One or two sentences stated in the report: what exactly is timed and counted. */
  readonly measures: string;
  /** Whether this workload is durable writes (compared with the raw limit). */
  readonly writes: boolean;
  /**
   * False: too slow to repeat, run once per engine after all interleaved rounds.
   * Default true: once per round, engines interleaved.
   */
  readonly interleaved?: boolean;
  /**
   * 'duration': the figure is a time (the reopen); unitsPerSecond is then its
   * inverse, so ratios keep their meaning (above 1×: the baseline is faster).
   */
  readonly headline?: 'rate' | 'duration';
  /**
   * True: the workload runs the engine in child processes of its own (peak RSS and
   * reopen per engine); the runner opens nothing, and `context.engine` throws.
   */
  readonly ownProcess?: boolean;
  /** How the engine is opened (default binary keys). */
  readonly keyType?: KeyType;
  readonly columns?: readonly ExtraColumn[];
  appliesTo(definition: EngineDefinition): boolean;
  /** Variants to measure separately on this engine (undefined or empty: one, unnamed). */
  variants?(definition: EngineDefinition): readonly string[];
  /** Lines for the report describing how each engine (variant) runs the workload. */
  describeEngines?(definitions: readonly EngineDefinition[]): string[];
  run(context: WorkloadContext): Promise<Measurement>;
}
