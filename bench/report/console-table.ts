/**
 * The plain-text results table printed at the end of a run. Duration
 * workloads (the reopen) show their time in ms in the units/s column;
 * workload-specific figures and checks go into the note column.
 */
import { formatMicroseconds, formatRatio } from './format.js';
import type { RunReport } from './report-model.js';
import { baselineLabel, extrasNote, formatHeadline, rowLabel, rowNote, rowsOfWorkload } from './rows.js';

type Alignment = 'left' | 'right';

export function renderConsoleTable(report: RunReport): string {
  const headers = ['workload', 'engine', 'units/s', 'p50 µs', 'p99 µs', `${baselineLabel(report)} ÷ engine`, 'note'];
  const alignments: Alignment[] = ['left', 'left', 'right', 'right', 'right', 'right', 'left'];
  const lines: string[][] = [];
  for (const workload of report.workloads) {
    rowsOfWorkload(report, workload).forEach((row, index) => {
      lines.push([
        index === 0 ? `${workload.id} (${workload.unit})` : '',
        rowLabel(row),
        formatHeadline(workload, row.unitsPerSecond),
        formatMicroseconds(row.latency?.p50Us),
        formatMicroseconds(row.latency?.p99Us),
        formatRatio(row.baselineRatio),
        [extrasNote(workload, row), rowNote(report, row)].filter((part) => part.length > 0).join('; '),
      ]);
    });
  }
  return renderTextTable(headers, lines, alignments);
}

export function renderTextTable(headers: readonly string[], rows: readonly string[][], alignments: readonly Alignment[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const renderLine = (cells: readonly string[]) =>
    cells
      .map((cell, column) => pad(cell, widths[column] ?? 0, alignments[column] ?? 'left'))
      .join('  ')
      .trimEnd();
  const separator = widths.map((width) => '-'.repeat(width)).join('  ');
  return [renderLine(headers), separator, ...rows.map(renderLine)].join('\n');
}

function pad(text: string, width: number, alignment: Alignment): string {
  return alignment === 'right' ? text.padStart(width) : text.padEnd(width);
}
