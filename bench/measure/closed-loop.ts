/**
 * A closed-loop driver: `workerCount` workers each run `operation` back to back
 * for a warm-up period (not recorded), then for the measurement period.
 *
 * Only operations started inside the measurement period count; the period ends
 * when the last of them completes, so in-flight work is neither dropped nor
 * counted for free. An operation that completes no record (a transaction
 * that gave up) counts as an operation but records no latency.
 */
import { LatencyRecorder } from './latency.js';

export interface ClosedLoopOptions {
  readonly workerCount: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Performs one operation; resolves with the number of records it completed. */
  readonly operation: () => Promise<number>;
  /** True: each record gets the operation's latency (records acknowledged together). */
  readonly latencyPerRecord: boolean;
  /** Called between the warm-up (all of it finished) and the measured period. */
  readonly onMeasurementStart?: () => void;
}

export interface ClosedLoopResult {
  readonly operationCount: number;
  readonly recordCount: number;
  readonly durationMs: number;
  readonly latency: LatencyRecorder;
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  await runWorkers(options.workerCount, performance.now() + options.warmupMs, options.operation);
  options.onMeasurementStart?.();
  const latency = new LatencyRecorder();
  const totals = { operationCount: 0, recordCount: 0 };
  const startMs = performance.now();
  await runWorkers(options.workerCount, startMs + options.measureMs, async () => {
    const operationStartMs = performance.now();
    const records = await options.operation();
    if (records > 0) latency.record(performance.now() - operationStartMs, options.latencyPerRecord ? records : 1);
    totals.operationCount += 1;
    totals.recordCount += records;
    return records;
  });
  return { ...totals, durationMs: performance.now() - startMs, latency };
}

/** Runs the workers to the deadline; on the first failure all workers stop and it is rethrown. */
async function runWorkers(workerCount: number, deadlineMs: number, operation: () => Promise<number>): Promise<void> {
  const stop = { failed: false };
  const workers: Promise<void>[] = [];
  for (let worker = 0; worker < workerCount; worker += 1) workers.push(runWorker(deadlineMs, operation, stop));
  const outcomes = await Promise.allSettled(workers);
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

async function runWorker(deadlineMs: number, operation: () => Promise<number>, stop: { failed: boolean }): Promise<void> {
  try {
    while (!stop.failed && performance.now() < deadlineMs) await operation();
  } catch (error) {
    stop.failed = true;
    throw error;
  }
}
