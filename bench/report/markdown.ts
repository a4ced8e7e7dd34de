/**
 * The Markdown report: targets, results per workload with ratios, the ratio
 * chart, ladybug's own counters, engine settings, method and machine.
 */
import { formatBytes, formatCount, formatMicroseconds, formatRate, formatRatio } from './format.js';
import type { EngineReport, ResultRow, RunReport, WorkloadReport } from './report-model.js';
import { baselineLabel, rowNote, rowsOfWorkload } from './rows.js';

export function renderMarkdown(report: RunReport, chartFileName: string): string {
  return [
    ...header(report),
    ...targetsSection(report),
    ...resultsSection(report, chartFileName),
    ...subjectCountersSection(report),
    ...enginesSection(report),
    ...methodSection(report),
    ...machineSection(report),
    ...pendingSection(report),
  ].join('\n');
}

function header(report: RunReport): string[] {
  const baseline = baselineLabel(report);
  return [
    `# ladybug-store benchmark — ${report.mode} run, ${report.startedAt}`,
    '',
    `Every figure below comes from this one run (${(report.durationMs / 1_000).toFixed(0)} s, \`${report.command}\`).`,
    `Ratios are **${baseline} ÷ engine** throughput: above 1× means ${baseline} is faster.`,
    '',
  ];
}

function targetsSection(report: RunReport): string[] {
  const rows = report.targets.map((target) => `| ${target.description} | ${target.measured} | ${target.status} |`);
  return ['## Targets (core-engine issue)', '', '| target | measured | status |', '|---|---:|---|', ...rows, ''];
}

function resultsSection(report: RunReport, chartFileName: string): string[] {
  return ['## Results (median round)', '', `![ratios](${chartFileName})`, '', ...report.workloads.flatMap((workload) => workloadTable(report, workload))];
}

function workloadTable(report: RunReport, workload: WorkloadReport): string[] {
  const rows = rowsOfWorkload(report, workload);
  if (rows.length === 0) return [];
  return [
    `### \`${workload.id}\` — ${workload.title}`,
    '',
    `| engine | ${workload.unit}/s | p50 µs | p99 µs | ${baselineLabel(report)} ÷ engine | every round (${workload.unit}/s) | note |`,
    '|---|---:|---:|---:|---:|---|---|',
    ...rows.map((row) => workloadRow(report, row)),
    '',
    ...sampleMeanings(rows),
  ];
}

/** "Latency sample: one put (ladybug, lmdb); one record ... (raw-inline)" — what p50/p99 are percentiles of. */
function sampleMeanings(rows: readonly ResultRow[]): string[] {
  const enginesByMeaning = new Map<string, string[]>();
  for (const row of rows) {
    const meaning = row.latency?.sampleMeaning;
    if (meaning !== undefined) enginesByMeaning.set(meaning, [...(enginesByMeaning.get(meaning) ?? []), row.engineId]);
  }
  if (enginesByMeaning.size === 0) return [];
  const parts = [...enginesByMeaning].map(([meaning, engineIds]) =>
    enginesByMeaning.size === 1 ? meaning : `${meaning} (${engineIds.join(', ')})`,
  );
  return [`Latency sample: ${parts.join('; ')}.`, ''];
}

function workloadRow(report: RunReport, row: ResultRow): string {
  const rounds = row.rounds.map((round) => (round.unitsPerSecond === undefined ? 'failed' : formatRate(round.unitsPerSecond))).join(' / ');
  return `| ${row.engineId} | ${formatRate(row.unitsPerSecond)} | ${formatMicroseconds(row.latency?.p50Us)} | ${formatMicroseconds(row.latency?.p99Us)} | ${formatRatio(row.baselineRatio)} | ${rounds} | ${escapeCell(rowNote(report, row))} |`;
}

const CUMULATIVE_COUNTERS = ['commits', 'fsyncs', 'groupCommits', 'walBytes'] as const;

function subjectCountersSection(report: RunReport): string[] {
  const subject = report.engines.find((engine) => engine.role === 'subject');
  const rows = report.rows.filter((row) => row.engineId === subject?.id && row.stats !== undefined);
  if (subject === undefined || rows.length === 0) return [];
  return [
    `## ${subject.label} counters (store.stats(), median round)`,
    '',
    'Changes from the start of warm-up to the end of the measurement; meanGroupSize as reported at the end.',
    '',
    `| workload | ${CUMULATIVE_COUNTERS.map((name) => `Δ${name}`).join(' | ')} | commits per fsync | meanGroupSize |`,
    `|---|${CUMULATIVE_COUNTERS.map(() => '---:').join('|')}|---:|---:|`,
    ...rows.map(counterRow),
    '',
  ];
}

function counterRow(row: ResultRow): string {
  const delta = row.stats?.delta ?? {};
  const cells = CUMULATIVE_COUNTERS.map((name) => formatCount(delta[name]));
  const commits = delta['commits'];
  const fsyncs = delta['fsyncs'];
  const perFsync = commits !== undefined && fsyncs ? formatCount(commits / fsyncs) : '—';
  return `| ${row.workloadId} | ${cells.join(' | ')} | ${perFsync} | ${formatCount(row.stats?.after['meanGroupSize'])} |`;
}

function enginesSection(report: RunReport): string[] {
  return ['## Engines and settings', '', ...report.engines.flatMap(engineBlock)];
}

function engineBlock(engine: EngineReport): string[] {
  const version = engine.version ? ` ${engine.version}` : '';
  const status = engine.status === 'skipped' ? ` — **skipped**: ${engine.note ?? ''}` : '';
  return [
    `### ${engine.label}${version} (\`${engine.id}\`, ${engine.role})${status}`,
    '',
    ...engine.settings.map((setting) => `- ${setting}`),
    `- 64 concurrent puts: ${engine.concurrencyNote}`,
    '',
  ];
}

function methodSection(report: RunReport): string[] {
  const profile = report.profile;
  return [
    '## Method',
    '',
    `- ${profile.rounds} round(s); in each round every workload runs on every engine once, the engine order rotating by one each round, so drift of the shared disk hits all engines alike. Reported: the median round by throughput (all rounds listed).`,
    `- Each measurement opens the engine on a fresh directory under \`${report.machine.benchDirectory}\`, which is deleted afterwards.`,
    `- Closed-loop workloads: ${profile.warmupMs} ms unrecorded warm-up, then ${profile.measureMs} ms measured; only operations started in the measured period count, and it ends when the last of them completes.`,
    `- Per-operation latency: hdr-histogram-js (nanoseconds, 3 significant digits). Hot gets: tinybench (${profile.getWarmupMs} ms warm-up, ${profile.getMeasureMs} ms), iterations of 1,000 random gets; p50/p99 are of the per-get means of those iterations.`,
    `- Keys: 16 bytes (8-byte prefix + 8-byte index), inserted in **${profile.keyOrder}** order (${profile.keyOrder === 'random' ? 'mixed prefix, like fillrandom' : 'zero prefix, ascending, like fillseq'}), never overwritten; B-tree peers are much faster with sequential keys (\`--key-order sequential\`). Values: random bytes, 100 B (4 KiB for the *-4k workloads). Reads: ${profile.preloadKeyCount.toLocaleString('en-US')} keys preloaded in batches of 1,000; every get must hit.`,
    `- Concurrent puts: ${profile.concurrency} in flight. Range scans: ${profile.scanLimit} entries forward from a random preloaded key.`,
    '- A peer that fails to load or open is skipped with a note, never estimated.',
    '',
  ];
}

function machineSection(report: RunReport): string[] {
  const machine = report.machine;
  const fileSystem = machine.benchFileSystem;
  const storage = fileSystem
    ? `${fileSystem.device} (${fileSystem.type}, mounted at ${fileSystem.mountPoint}, ${fileSystem.mountOptions}${fileSystem.rotational === undefined ? '' : `, rotational=${fileSystem.rotational ? 1 : 0}`})`
    : 'unknown';
  const sameAsRepository = fileSystem?.device === machine.repositoryFileSystem?.device ? 'yes' : 'no';
  return [
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| CPU | ${machine.cpuModel}, ${machine.logicalCores} logical cores (available parallelism ${machine.availableParallelism}) |`,
    `| memory | ${formatBytes(machine.memoryTotalBytes)} |`,
    `| OS | ${machine.platform} ${machine.osRelease} ${machine.architecture} |`,
    `| Node | ${machine.nodeVersion} (V8 ${machine.v8Version}), UV_THREADPOOL_SIZE ${machine.libuvThreadpoolSize} |`,
    `| bench data | \`${machine.benchDirectory}\` on ${storage} |`,
    `| same device as the repository | ${sameAsRepository} |`,
    `| load average at start | ${machine.loadAverageAtStart.join(', ')} |`,
    `| git revision | ${machine.gitRevision} |`,
    `| run | started ${report.startedAt}, finished ${report.finishedAt} |`,
    '',
  ];
}

function pendingSection(report: RunReport): string[] {
  return ['## Not measured yet', '', ...report.pendingWorkloads.map((workload) => `- ${workload}`), ''];
}

function escapeCell(content: string): string {
  return content.replaceAll('|', '\\|').replaceAll('\n', ' ');
}
