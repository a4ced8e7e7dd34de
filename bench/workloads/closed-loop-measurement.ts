/**
 * Turns a closed-loop run into a Measurement, with the profile's timings.
 */
import { runClosedLoop, type ClosedLoopOptions } from '../measure/closed-loop.js';
import type { Profile } from '../profile.js';
import type { Measurement } from './workload.js';

export interface LoopSpecification {
  readonly workerCount: number;
  readonly operation: ClosedLoopOptions['operation'];
  readonly latencyPerRecord: boolean;
  /** What one latency sample is, for the report. */
  readonly sampleMeaning: string;
  readonly onMeasurementStart?: () => void;
}

export async function measureClosedLoop(profile: Profile, specification: LoopSpecification): Promise<Measurement> {
  const result = await runClosedLoop({
    workerCount: specification.workerCount,
    warmupMs: profile.warmupMs,
    measureMs: profile.measureMs,
    operation: specification.operation,
    latencyPerRecord: specification.latencyPerRecord,
    ...(specification.onMeasurementStart === undefined ? {} : { onMeasurementStart: specification.onMeasurementStart }),
  });
  return {
    unitCount: result.recordCount,
    callCount: result.operationCount,
    durationMs: result.durationMs,
    unitsPerSecond: perSecond(result.recordCount, result.durationMs),
    latency: result.latency.summary(specification.sampleMeaning),
    extra: { callsPerSecond: perSecond(result.operationCount, result.durationMs) },
  };
}

export function perSecond(count: number, durationMs: number): number {
  return durationMs > 0 ? (count * 1_000) / durationMs : 0;
}
