/**
 * The shape of a workload and of one measurement.
 *
 * A workload runs against a freshly opened engine in an empty directory. It
 * may preload data first; it calls `beginMeasurement()` when the measured part
 * starts (the runner snapshots engine counters there).
 */
import type { EngineDefinition, EngineHandle } from '../engines/engine.js';
import type { LatencySummary } from '../measure/latency.js';
import type { Profile } from '../profile.js';

export interface WorkloadContext {
  readonly engine: EngineHandle;
  readonly definition: EngineDefinition;
  readonly profile: Profile;
  beginMeasurement(): void;
}

export interface Measurement {
  /** Units completed in the measured period (puts, keys, gets, scans). */
  readonly unitCount: number;
  /** Calls made (a batch of 100 is one call but 100 units). */
  readonly callCount: number;
  readonly durationMs: number;
  readonly unitsPerSecond: number;
  readonly latency: LatencySummary;
  /** Workload-specific figures, e.g. entries read per second by scans. */
  readonly extra: Record<string, number>;
}

export interface Workload {
  /** Stable id used by --only and in the JSON. */
  readonly id: string;
  readonly title: string;
  /** What a unit is: "puts", "keys", "gets", "scans". */
  readonly unit: string;
  /** Whether this workload is durable writes (compared with the raw limit). */
  readonly writes: boolean;
  appliesTo(definition: EngineDefinition): boolean;
  run(context: WorkloadContext): Promise<Measurement>;
}
