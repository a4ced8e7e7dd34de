/**
 * Assembles the RunReport from the runner's cells: median rounds, the raw
 * limit per workload, baseline ratios, and the targets.
 */
import type { EngineDefinition } from '../engines/engine.js';
import { medianRound, type CellResult } from '../runner.js';
import type { Workload } from '../workloads/workload.js';
import type { EngineReport, ResultRow, RunReport, TargetReport, WorkloadReport } from './report-model.js';

export type ReportContext = Omit<RunReport, 'workloads' | 'rows' | 'targets'>;

export function buildReport(
  context: ReportContext,
  workloads: readonly Workload[],
  cells: readonly CellResult[],
): RunReport {
  const workloadReports = workloads.map(describeWorkload);
  const medianRows = workloads.flatMap((workload) => rowsFor(workload, context.engines, cells));
  const rows = addRatios(markRawLimits(medianRows, context.engines), context.baselineEngineId);
  const subjectEngineId = context.engines.find((engine) => engine.role === 'subject')?.id;
  return { ...context, workloads: workloadReports, rows, targets: evaluateTargets(rows, subjectEngineId) };
}

export function describeEngine(
  definition: EngineDefinition,
  version: string | undefined,
  skipNote: string | undefined,
): EngineReport {
  return {
    id: definition.id,
    label: definition.label,
    role: definition.role,
    version,
    settings: definition.settings,
    concurrencyNote: definition.concurrencyNote,
    concurrentPutMode: definition.concurrentPutMode,
    status: skipNote === undefined ? 'measured' : 'skipped',
    note: skipNote,
  };
}

function describeWorkload(workload: Workload): WorkloadReport {
  return { id: workload.id, title: workload.title, unit: workload.unit, writes: workload.writes };
}

function rowsFor(workload: Workload, engines: readonly EngineReport[], cells: readonly CellResult[]): ResultRow[] {
  return engines.flatMap((engine) => {
    const cell = cells.find((candidate) => candidate.workloadId === workload.id && candidate.engineId === engine.id);
    return cell === undefined ? [] : [rowFromCell(cell)];
  });
}

function rowFromCell(cell: CellResult): ResultRow {
  const median = medianRound(cell);
  const measurement = median?.measurement;
  return {
    workloadId: cell.workloadId,
    engineId: cell.engineId,
    unitsPerSecond: measurement?.unitsPerSecond,
    medianRound: median?.round,
    latency: measurement?.latency,
    unitCount: measurement?.unitCount,
    durationMs: measurement?.durationMs,
    extra: measurement?.extra ?? {},
    stats: median?.stats,
    rounds: cell.rounds.map((outcome) => ({
      round: outcome.round,
      unitsPerSecond: outcome.measurement?.unitsPerSecond,
      error: outcome.error,
    })),
    error: measurement === undefined ? cell.rounds.find((outcome) => outcome.error)?.error : undefined,
    isRawLimit: false,
    baselineRatio: undefined,
  };
}

function markRawLimits(rows: readonly ResultRow[], engines: readonly EngineReport[]): ResultRow[] {
  const rawIds = new Set(engines.filter((engine) => engine.role === 'raw-limit').map((engine) => engine.id));
  const fastestRawByWorkload = new Map<string, ResultRow>();
  for (const row of rows) {
    if (!rawIds.has(row.engineId) || row.unitsPerSecond === undefined) continue;
    const best = fastestRawByWorkload.get(row.workloadId);
    if (best === undefined || (best.unitsPerSecond ?? 0) < row.unitsPerSecond) fastestRawByWorkload.set(row.workloadId, row);
  }
  return rows.map((row) => ({ ...row, isRawLimit: fastestRawByWorkload.get(row.workloadId) === row }));
}

function addRatios(rows: readonly ResultRow[], baselineEngineId: string): ResultRow[] {
  return rows.map((row) => {
    const baseline = rows.find((candidate) => candidate.workloadId === row.workloadId && candidate.engineId === baselineEngineId);
    if (row.engineId === baselineEngineId || baseline?.unitsPerSecond === undefined || !row.unitsPerSecond) return row;
    return { ...row, baselineRatio: baseline.unitsPerSecond / row.unitsPerSecond };
  });
}

/** The targets stated in the core-engine issue; always about the subject (ladybug), whatever the baseline. */
function evaluateTargets(rows: readonly ResultRow[], subjectEngineId: string | undefined): TargetReport[] {
  const rateOf = (workloadId: string, pick: (row: ResultRow) => boolean) =>
    rows.find((row) => row.workloadId === workloadId && pick(row))?.unitsPerSecond;
  const subjectRate = (workloadId: string) => rateOf(workloadId, (row) => row.engineId === subjectEngineId);
  const rawLimitRatio = (workloadId: string) => divide(subjectRate(workloadId), rateOf(workloadId, (row) => row.isRawLimit));
  return [
    ratioTarget('sequential-put-100b', 'sequential awaited durable puts (100 B) >= 0.9× the raw limit', rawLimitRatio('sequential-put-100b'), 0.9),
    ratioTarget('sequential-put-4k', 'sequential awaited durable puts (4 KiB) >= 0.9× the raw limit', rawLimitRatio('sequential-put-4k'), 0.9),
    rateTarget('concurrent-put-100b', '64 concurrent durable puts (100 B) above 150,000 commits/s', subjectRate('concurrent-put-100b'), 150_000, 'above'),
    rateTarget('hot-get', 'hot get >= 1,000,000 gets/s', subjectRate('hot-get'), 1_000_000, 'at-least'),
  ];
}

function divide(numerator: number | undefined, denominator: number | undefined): number | undefined {
  return numerator === undefined || !denominator ? undefined : numerator / denominator;
}

function ratioTarget(workloadId: string, description: string, ratio: number | undefined, minimum: number): TargetReport {
  if (ratio === undefined) return { description, workloadId, measured: '—', status: 'not measured' };
  return { description, workloadId, measured: `${ratio.toFixed(2)}×`, status: ratio >= minimum ? 'met' : 'missed' };
}

function rateTarget(
  workloadId: string,
  description: string,
  rate: number | undefined,
  threshold: number,
  comparison: 'above' | 'at-least',
): TargetReport {
  if (rate === undefined) return { description, workloadId, measured: '—', status: 'not measured' };
  const measured = `${Math.round(rate).toLocaleString('en-US')}/s`;
  const met = comparison === 'above' ? rate > threshold : rate >= threshold;
  return { description, workloadId, measured, status: met ? 'met' : 'missed' };
}
