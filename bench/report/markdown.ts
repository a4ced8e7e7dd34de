/**
 * The Markdown report: targets, results per workload with ratios, the ratio
 * chart, ladybug's own counters, engine settings, method and machine.
 */
import { formatBytes, formatCount, formatMicroseconds, formatRatio } from './format.js';
import type { EngineReport, ResultRow, RunReport, WorkloadReport } from './report-model.js';
import {
  baselineLabel,
  formatExtraColumn,
  formatHeadline,
  headlineHeader,
  rowLabel,
  rowNote,
  rowsOfWorkload,
} from './rows.js';

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
  const hasLatency = rows.some((row) => row.latency !== undefined);
  const hasCheck = rows.some((row) => row.check !== undefined);
  const headers = [
    'engine',
    headlineHeader(workload),
    ...(hasLatency ? ['p50 µs', 'p99 µs'] : []),
    ...workload.columns.map((column) => column.header),
    ...(hasCheck ? ['check'] : []),
    `${baselineLabel(report)} ÷ engine`,
    ...(workload.interleaved ? [`every round (${headlineHeader(workload)})`] : []),
    'note',
  ];
  const alignments = [
    '---',
    '---:',
    ...(hasLatency ? ['---:', '---:'] : []),
    ...workload.columns.map(() => '---:'),
    ...(hasCheck ? ['---'] : []),
    '---:',
    ...(workload.interleaved ? ['---'] : []),
    '---',
  ];
  return [
    `### \`${workload.id}\` — ${workload.title}`,
    '',
    `**Measured:** ${workload.measures}${workload.interleaved ? '' : ' **Not interleaved**: one run per engine, after all rounds.'}`,
    '',
    ...(workload.engineNotes.length === 0 ? [] : ['How each engine runs it:', '', ...workload.engineNotes.map((note) => `- ${note}`), '']),
    `| ${headers.join(' | ')} |`,
    `|${alignments.join('|')}|`,
    ...rows.map((row) => workloadRow(report, workload, row, hasLatency, hasCheck)),
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

function workloadRow(report: RunReport, workload: WorkloadReport, row: ResultRow, hasLatency: boolean, hasCheck: boolean): string {
  const rounds = row.rounds.map((round) => (round.unitsPerSecond === undefined ? 'failed' : formatHeadline(workload, round.unitsPerSecond))).join(' / ');
  const label = row.flagged ? `⚠ **${rowLabel(row)}**` : rowLabel(row);
  const cells = [
    label,
    row.flagged ? `~~${formatHeadline(workload, row.unitsPerSecond)}~~` : formatHeadline(workload, row.unitsPerSecond),
    ...(hasLatency ? [formatMicroseconds(row.latency?.p50Us), formatMicroseconds(row.latency?.p99Us)] : []),
    ...workload.columns.map((column) => formatExtraColumn(column, row.extra[column.key])),
    ...(hasCheck ? [checkCell(row)] : []),
    formatRatio(row.baselineRatio),
    ...(workload.interleaved ? [rounds] : []),
    rowNote(report, row, hasCheck),
  ];
  return `| ${cells.map(escapeCell).join(' | ')} |`;
}

function checkCell(row: ResultRow): string {
  if (row.check === undefined) return '—';
  if (row.check.passed === false) return `**FAILED**: ${row.check.summary}`;
  return row.check.passed === undefined ? row.check.summary : `ok: ${row.check.summary}`;
}

const CUMULATIVE_COUNTERS = ['commits', 'fsyncs', 'groupCommits', 'walBytes'] as const;

function subjectCountersSection(report: RunReport): string[] {
  const subject = report.engines.find((engine) => engine.role === 'subject');
  const interleaved = new Set(report.workloads.filter((workload) => workload.interleaved).map((workload) => workload.id));
  const rows = report.rows.filter((row) => row.engineId === subject?.id && row.stats !== undefined && interleaved.has(row.workloadId));
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
  const workload = row.variant === undefined ? row.workloadId : `${row.workloadId} [${row.variant}]`;
  return `| ${workload} | ${cells.join(' | ')} | ${perFsync} | ${formatCount(row.stats?.after['meanGroupSize'])} |`;
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
    `- string keys (hot-get-string): ${engine.stringKeySettings?.join('; ') ?? 'not supported — not run'}`,
    ...(engine.transactionVariants === undefined
      ? ['- transactions: not run']
      : engine.transactionVariants.map((variant) => `- transactions [${variant.id}]: ${variant.description} (${variant.isolation})`)),
    '',
  ];
}

function methodSection(report: RunReport): string[] {
  const profile = report.profile;
  return [
    '## Method',
    '',
    `- ${profile.rounds} round(s); in each round every workload runs on every engine once (every engine variant, for the transaction workloads), the order rotating by one each round, so drift of the shared disk hits all engines alike. Reported: the median round by throughput (all rounds listed).`,
    `- Not interleaved: ${notInterleaved(report)} — too slow to repeat, it runs once per engine after all rounds of the other workloads; its single run is reported.`,
    `- Each measurement opens the engine on a fresh directory under \`${report.machine.benchDirectory}\`, which is deleted afterwards.`,
    `- Closed-loop workloads: ${profile.warmupMs} ms unrecorded warm-up, then ${profile.measureMs} ms measured; only operations started in the measured period count, and it ends when the last of them completes.`,
    `- Per-operation latency: hdr-histogram-js (nanoseconds, 3 significant digits). Hot gets: tinybench (${profile.getWarmupMs} ms warm-up, ${profile.getMeasureMs} ms), iterations of 1,000 random gets; p50/p99 are of the per-get means of those iterations.`,
    `- Keys: 16 bytes (8-byte prefix + 8-byte index), inserted in **${profile.keyOrder}** order (${profile.keyOrder === 'random' ? 'mixed prefix, like fillrandom' : 'zero prefix, ascending, like fillseq'}), never overwritten; B-tree peers are much faster with sequential keys (\`--key-order sequential\`). Values: random bytes, 100 B (4 KiB for the *-4k workloads). Reads: ${profile.preloadKeyCount.toLocaleString('en-US')} keys preloaded in batches of 1,000; every get must hit.`,
    `- String keys (hot-get-string): 16 ASCII characters, values distinct 100-character strings, ${profile.preloadKeyCount.toLocaleString('en-US')} preloaded; only engines that take string keys, with their usual string settings.`,
    `- Concurrent puts: ${profile.concurrency} in flight. Range scans: ${profile.scanLimit} entries forward from a random preloaded key.`,
    `- Transactions: ${profile.concurrency} clients in closed loops; transfers between 2 distinct accounts drawn uniformly from ${profile.lowContentionAccounts.toLocaleString('en-US')} (low contention) or ${profile.highContentionAccounts.toLocaleString('en-US')} (high); accounts preloaded. Same warm-up and measured period as the other closed loops. After each run every touched account is read back and the total checked (conservation: necessary, not sufficient, for isolation); a failed check flags the row (⚠, struck-through figure).`,
    `- Reopen: ${profile.reopenRecordCount.toLocaleString('en-US')} records written in batches (each engine's fastest size), clean close, then open + first get timed once; page cache warm. Its "time" column is that duration; the ratio is still ${baselineLabel(report)} ÷ engine speed (engine time ÷ ${baselineLabel(report)} time).`,
    '- A peer that fails to load or open is skipped with a note, never estimated.',
    '',
  ];
}

function notInterleaved(report: RunReport): string {
  const ids = report.workloads.filter((workload) => !workload.interleaved).map((workload) => `\`${workload.id}\``);
  return ids.length === 0 ? 'none in this run' : ids.join(', ');
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
