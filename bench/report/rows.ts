/**
 * Shared row views for the table renderers: engine display names, the note
 * column, and the ordered rows of each workload.
 */
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

/** Short remarks: raw limit, serialized concurrency, errors. */
export function rowNote(report: RunReport, row: ResultRow): string {
  const notes: string[] = [];
  if (row.isRawLimit) notes.push('the raw limit');
  const runsSerially = engineById(report, row.engineId)?.concurrentPutMode === 'in-flight-puts-run-serially';
  if (runsSerially && row.workloadId.startsWith('concurrent-put')) notes.push('synchronous: one put at a time');
  if (row.engineId === report.baselineEngineId) notes.push('baseline');
  if (row.error !== undefined) notes.push(`error: ${row.error}`);
  const failedRounds = row.rounds.filter((round) => round.error !== undefined).length;
  if (failedRounds > 0 && row.unitsPerSecond !== undefined) notes.push(`${failedRounds} round(s) failed`);
  return notes.join('; ');
}
