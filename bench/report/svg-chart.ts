/**
 * A hand-built horizontal bar chart (SVG) of the baseline's throughput ratio
 * to each other engine, grouped by workload, on a log scale centred on 1×:
 * bars to the right mean the baseline (ladybug) is faster, to the left slower.
 * Of the two raw variants only the raw limit (the faster) is drawn. Engine
 * variants (transactions) get a bar each, labelled "engine [variant]"; a row
 * that failed its correctness check is labelled with ⚠. For the reopen the
 * ratio is of speeds too (engine time ÷ baseline time).
 */
import { formatRatio } from './format.js';
import type { ResultRow, RunReport, WorkloadReport } from './report-model.js';
import { baselineLabel, engineById, isBaselineRow, rowEngineLabel, rowLabel, rowsOfWorkload } from './rows.js';

const WIDTH = 960;
const LABEL_RIGHT = 250;
const PLOT_LEFT = 300;
const PLOT_RIGHT = 900;
/** Share of each half of the plot left free beyond the longest bar, for its value label. */
const LABEL_ROOM = 0.2;
const TOP = 70;
const GROUP_HEADER_HEIGHT = 24;
const BAR_ROW_HEIGHT = 20;
const BAR_HEIGHT = 14;
const BOTTOM_MARGIN = 50;
const FASTER_COLOR = '#2e7d32';
const SLOWER_COLOR = '#c62828';
const CANDIDATE_TICKS = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 1000];

interface ChartGroup {
  readonly workload: WorkloadReport;
  readonly bars: readonly ResultRow[];
}

export function renderRatioChart(report: RunReport): string {
  const groups = chartGroups(report);
  const baseline = baselineLabel(report);
  if (groups.length === 0) return emptyChart(`No ratios: ${baseline} was not measured in this run.`);
  const plotBottom = TOP + groups.reduce((height, group) => height + groupHeight(group), 0);
  const scale = logScale(groups);
  const parts = [
    ...titleLines(report, baseline),
    ...axis(scale, plotBottom),
    ...renderGroups(report, groups, scale),
    legend(plotBottom + 38, baseline),
  ];
  return svgDocument(plotBottom + BOTTOM_MARGIN, parts);
}

function chartGroups(report: RunReport): ChartGroup[] {
  return report.workloads
    .map((workload) => ({ workload, bars: rowsOfWorkload(report, workload).filter((row) => isCharted(report, row)) }))
    .filter((group) => group.bars.length > 0);
}

function isCharted(report: RunReport, row: ResultRow): boolean {
  if (row.baselineRatio === undefined) return false;
  return engineById(report, row.engineId)?.role !== 'raw-limit' || row.isRawLimit;
}

function groupHeight(group: ChartGroup): number {
  return GROUP_HEADER_HEIGHT + group.bars.length * BAR_ROW_HEIGHT;
}

interface LogScale {
  readonly extentDecades: number;
  position(ratio: number): number;
}

/** Symmetric log10 scale wide enough for every ratio (at least 0.5×–2×). */
function logScale(groups: readonly ChartGroup[]): LogScale {
  const decades = groups.flatMap((group) => group.bars.map((row) => Math.abs(Math.log10(row.baselineRatio ?? 1))));
  const extentDecades = Math.max(Math.log10(2), ...decades) / (1 - LABEL_ROOM);
  const centre = (PLOT_LEFT + PLOT_RIGHT) / 2;
  const halfWidth = (PLOT_RIGHT - PLOT_LEFT) / 2;
  return {
    extentDecades,
    position: (ratio) => centre + (Math.log10(ratio) / extentDecades) * halfWidth,
  };
}

function titleLines(report: RunReport, baseline: string): string[] {
  const machine = report.machine;
  return [
    text(WIDTH / 2, 24, `${baseline} throughput ÷ engine throughput, per workload (log scale)`, { anchor: 'middle', size: 16, weight: 'bold' }),
    text(WIDTH / 2, 44, `${report.mode} run ${report.startedAt} · ${machine.cpuModel}, ${machine.logicalCores} cores · node ${machine.nodeVersion}`, { anchor: 'middle', size: 11, color: '#555' }),
  ];
}

function axis(scale: LogScale, plotBottom: number): string[] {
  const ticks = CANDIDATE_TICKS.filter((tick) => Math.abs(Math.log10(tick)) <= scale.extentDecades);
  return ticks.flatMap((tick) => {
    const x = scale.position(tick);
    const stroke = tick === 1 ? '#000' : '#ddd';
    return [
      `<line x1="${x.toFixed(1)}" y1="${TOP - 6}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="${stroke}" stroke-width="1"/>`,
      text(x, plotBottom + 16, `${tick}×`, { anchor: 'middle', size: 11, color: '#555' }),
    ];
  });
}

function renderGroups(report: RunReport, groups: readonly ChartGroup[], scale: LogScale): string[] {
  const parts: string[] = [];
  let y = TOP;
  for (const group of groups) {
    parts.push(text(10, y + 16, groupTitle(report, group), { size: 12, weight: 'bold' }));
    y += GROUP_HEADER_HEIGHT;
    for (const row of group.bars) {
      parts.push(...bar(report, row, scale, y));
      y += BAR_ROW_HEIGHT;
    }
  }
  return parts;
}

/** The workload's title; where the baseline is one variant of several, which one ("vs ladybug [serializable]"). */
function groupTitle(report: RunReport, group: ChartGroup): string {
  const baselineRow = rowsOfWorkload(report, group.workload).find((row) => isBaselineRow(report, row));
  return baselineRow?.variant === undefined ? group.workload.title : `${group.workload.title} — vs ${rowLabel(baselineRow)}`;
}

function bar(report: RunReport, row: ResultRow, scale: LogScale, y: number): string[] {
  const ratio = row.baselineRatio ?? 1;
  const centre = scale.position(1);
  const end = scale.position(ratio);
  const faster = ratio >= 1;
  const label = row.flagged ? `⚠ ${rowEngineLabel(report, row)} (check failed)` : rowEngineLabel(report, row);
  const barTop = y + (BAR_ROW_HEIGHT - BAR_HEIGHT) / 2;
  return [
    text(LABEL_RIGHT, y + 14, label, { anchor: 'end', size: 11 }),
    `<rect x="${Math.min(centre, end).toFixed(1)}" y="${barTop.toFixed(1)}" width="${Math.max(1, Math.abs(end - centre)).toFixed(1)}" height="${BAR_HEIGHT}" fill="${faster ? FASTER_COLOR : SLOWER_COLOR}"/>`,
    text(faster ? end + 4 : end - 4, y + 14, formatRatio(ratio), { anchor: faster ? 'start' : 'end', size: 11 }),
  ];
}

function legend(y: number, baseline: string): string {
  return text(WIDTH / 2, y, `green: ${baseline} faster · red: ${baseline} slower · raw limit: the faster of fdatasyncSync and fs.fdatasync`, {
    anchor: 'middle',
    size: 11,
    color: '#555',
  });
}

function emptyChart(message: string): string {
  return svgDocument(80, [text(WIDTH / 2, 45, message, { anchor: 'middle', size: 14 })]);
}

function svgDocument(height: number, parts: readonly string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

interface TextStyle {
  readonly anchor?: 'start' | 'middle' | 'end';
  readonly size: number;
  readonly weight?: 'bold';
  readonly color?: string;
}

function text(x: number, y: number, content: string, style: TextStyle): string {
  const weight = style.weight ? ` font-weight="${style.weight}"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${style.size}" text-anchor="${style.anchor ?? 'start'}" fill="${style.color ?? '#000'}"${weight}>${escapeXml(content)}</text>`;
}

function escapeXml(content: string): string {
  return content.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}
