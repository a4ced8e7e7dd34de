/**
 * Shared row views for the table renderers: engine display names, the note
 * column, the headline figure, workload-specific columns, and the ordered rows
 * of each workload.
 */
import type { TransactionVariant } from '../engines/engine.js';
import type { ExtraColumn } from '../workloads/workload.js';
import { formatCount, formatMicroseconds, formatMilliseconds, formatRate } from './format.js';
import type { EngineReport, ResultRow, RunReport, WorkloadReport } from './report-model.js';

export function engineById(report: RunReport, engineId: string): EngineReport | undefined {
  return report.engines.find((engine) => engine.id === engineId);
}

export function rowsOfWorkload(report: RunReport, workload: WorkloadReport): ResultRow[] {
  return report.rows.filter((row) => row.workloadId === workload.id);
}

export function baselineLabel(report: RunReport): string {
  return engineById(report, report.baselineEngineId)?.id ?? report.baselineEngineId;
}

/** "ladybug" or, for a variant, "ladybug [serializable]". */
export function rowLabel(row: ResultRow): string {
  return row.variant === undefined ? row.engineId : `${row.engineId} [${row.variant}]`;
}

/** The human label of the row's engine, with its variant: "ladybug-store [snapshot]". */
export function rowEngineLabel(report: RunReport, row: ResultRow): string {
  const label = engineById(report, row.engineId)?.label ?? row.engineId;
  return row.variant === undefined ? label : `${label} [${row.variant}]`;
}

/** The row every ratio of its workload is relative to: the baseline engine's first row. */
export function isBaselineRow(report: RunReport, row: ResultRow): boolean {
  return report.rows.find((candidate) => candidate.workloadId === row.workloadId && candidate.engineId === report.baselineEngineId) === row;
}

export function transactionVariantOf(report: RunReport, row: ResultRow): TransactionVariant | undefined {
  if (row.variant === undefined) return undefined;
  return engineById(report, row.engineId)?.transactionVariants?.find((variant) => variant.id === row.variant);
}

/** The headline figure: a rate, or for duration workloads the time in ms. */
export function formatHeadline(workload: WorkloadReport, unitsPerSecond: number | undefined): string {
  if (workload.headline === 'duration') return unitsPerSecond ? `${formatMilliseconds(1_000 / unitsPerSecond)} ms` : '—';
  return formatRate(unitsPerSecond);
}

export function headlineHeader(workload: WorkloadReport): string {
  return workload.headline === 'duration' ? 'time' : `${workload.unit}/s`;
}

export function formatExtraColumn(column: ExtraColumn, value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  switch (column.format) {
    case 'count':
      return formatCount(value);
    case 'decimal':
      return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2);
    case 'milliseconds':
      return formatMilliseconds(value);
    case 'microseconds':
      return formatMicroseconds(value);
    case 'mebibytes':
      return value.toFixed(value >= 100 ? 0 : 1);
  }
}

/**
 * True for a failed check that is a defect rather than an expected property:
 * lost updates under an engine variant that claims isolation, or data missing
 * after a reopen. (Lost updates of a not-isolated variant are flagged, not failures.)
 */
export function isCheckFailure(report: RunReport, row: ResultRow): boolean {
  return row.flagged && transactionVariantOf(report, row)?.isolation !== 'not-isolated';
}

/** Short remarks: raw limit, serialized concurrency, isolation caveats, failed checks, errors. */
export function rowNote(report: RunReport, row: ResultRow, checkInOwnColumn = false): string {
  const notes: string[] = [];
  if (row.flagged && row.check !== undefined) {
    notes.push(checkInOwnColumn ? '⚠ failed its check: figure not comparable' : `⚠ ${row.check.summary}: figure not comparable`);
  }
  if (row.isRawLimit) notes.push('the raw limit');
  const runsSerially = engineById(report, row.engineId)?.concurrentPutMode === 'in-flight-puts-run-serially';
  if (runsSerially && (row.workloadId.startsWith('concurrent-put') || row.workloadId.startsWith('txn-'))) notes.push('synchronous: one at a time');
  const isolation = transactionVariantOf(report, row)?.isolation;
  if (isolation === 'not-isolated') notes.push('NOT isolated');
  if (isolation === 'blind-writes') notes.push('blind writes: cost baseline, NOT isolation-equivalent');
  if (isBaselineRow(report, row)) notes.push('baseline');
  if (row.error !== undefined) notes.push(`error: ${row.error}`);
  const failedRounds = row.rounds.filter((round) => round.error !== undefined).length;
  if (failedRounds > 0 && row.unitsPerSecond !== undefined) notes.push(`${failedRounds} round(s) failed`);
  return notes.join('; ');
}

/** The workload's own columns and the check, compact, for the console note column. */
export function extrasNote(workload: WorkloadReport, row: ResultRow): string {
  const parts = workload.columns
    .filter((column) => row.extra[column.key] !== undefined)
    .map((column) => `${column.shortLabel} ${formatExtraColumn(column, row.extra[column.key])}`);
  if (row.check !== undefined && !row.flagged) parts.push(row.check.passed === undefined ? 'check n/a' : 'check ok');
  return parts.join(', ');
}
