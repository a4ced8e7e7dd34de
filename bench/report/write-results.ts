/**
 * Writes a run's report to bench/results/: <stamp>-<mode>.json, .md and .svg,
 * plus latest.json, latest.md and ratios.svg (overwritten by every full run; a
 * --quick smoke run writes latest-quick.* and ratios-quick.svg instead, so it never
 * replaces the figures of a full run). A filtered or non-default run (--only,
 * --engines, --ladybug-options, ...) writes only its dated files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileStamp } from './format.js';
import { renderMarkdown } from './markdown.js';
import type { RunReport } from './report-model.js';
import { renderRatioChart } from './svg-chart.js';

export interface WrittenFiles {
  readonly json: string;
  readonly markdown: string;
  readonly chart: string;
  readonly latestJson: string;
  readonly latestMarkdown: string;
  readonly latestChart: string;
}

export function writeResults(report: RunReport, resultsDirectory: string, updateLatest: boolean): WrittenFiles {
  mkdirSync(resultsDirectory, { recursive: true });
  const baseName = `${fileStamp(report.startedAt)}-${report.mode}`;
  const suffix = report.mode === 'quick' ? '-quick' : '';
  const files: WrittenFiles = {
    json: join(resultsDirectory, `${baseName}.json`),
    markdown: join(resultsDirectory, `${baseName}.md`),
    chart: join(resultsDirectory, `${baseName}.svg`),
    latestJson: join(resultsDirectory, `latest${suffix}.json`),
    latestMarkdown: join(resultsDirectory, `latest${suffix}.md`),
    latestChart: join(resultsDirectory, `ratios${suffix}.svg`),
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const chart = renderRatioChart(report);
  writeFileSync(files.json, json);
  writeFileSync(files.markdown, renderMarkdown(report, `${baseName}.svg`));
  writeFileSync(files.chart, chart);
  if (!updateLatest) return files;
  writeFileSync(files.latestJson, json);
  writeFileSync(files.latestMarkdown, renderMarkdown(report, `ratios${suffix}.svg`));
  writeFileSync(files.latestChart, chart);
  return files;
}
