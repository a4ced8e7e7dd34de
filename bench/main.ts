/**
 * Benchmark harness entry point (`npm run bench`, or `node dist/bench/main.js`).
 *
 * Loads the engines (skipping, with a note, any that fail to load), runs the
 * selected workloads in interleaved rounds on a scratch directory next to the
 * repository, prints the results table and writes JSON, Markdown and an SVG
 * chart to bench/results/. See options.ts for the flags.
 */
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import type { EngineDefinition } from './engines/engine.js';
import { allEngines } from './engines/registry.js';
import { describeMachine, sameDevice } from './machine.js';
import { applyFilter, parseCommandOptions, USAGE, UsageError, type CommandOptions } from './options.js';
import {
  createRunScratchDirectory,
  defaultScratchParent,
  findRepositoryRoot,
  installedVersion,
  removeDirectory,
  resultsDirectory,
} from './paths.js';
import { profileFor, type Profile } from './profile.js';
import { buildReport, describeEngine } from './report/build-report.js';
import { renderConsoleTable } from './report/console-table.js';
import { isCheckFailure, rowLabel } from './report/rows.js';
import type { EngineReport, RunReport } from './report/report-model.js';
import { writeResults } from './report/write-results.js';
import { describeError, runPlan, type LoadedEngine } from './runner.js';
import { allWorkloads, PENDING_WORKLOADS } from './workloads/registry.js';

async function main(): Promise<void> {
  const options = parseCommandOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const repositoryRoot = findRepositoryRoot();
  const profile = profileFor(options.profileName, profileOverrides(options));
  const definitions = selectEngines(options, profile);
  const workloads = applyFilter(allWorkloads(profile, options.ladybugStoreOptions), options.workloadFilter, 'workload');
  const engines = await loadEngines(definitions, repositoryRoot);
  const scratchDirectory = prepareScratchDirectory(options, repositoryRoot);
  const startedAt = new Date();
  const machine = describeMachine(scratchDirectory, repositoryRoot);
  console.error(`bench: ${profile.name} profile, ${profile.rounds} round(s), data in ${scratchDirectory}`);
  const cells = await runInScratch(scratchDirectory, () =>
    runPlan({ workloads, engines: engines.loaded, profile, scratchDirectory, onProgress: (line) => console.error(line) }),
  );
  const finishedAt = new Date();
  const report = buildReport(
    {
      tool: 'ladybug-store bench',
      mode: profile.name,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      command: commandLine(repositoryRoot),
      machine,
      profile,
      baselineEngineId: options.baselineEngineId,
      engines: engines.reports,
      pendingWorkloads: PENDING_WORKLOADS,
    },
    workloads,
    cells,
    engines.loaded.map((engine) => engine.definition),
  );
  printSummary(report, repositoryRoot, options);
  if (report.rows.some((row) => row.unitsPerSecond === undefined || isCheckFailure(report, row))) process.exitCode = 1;
}

function profileOverrides(options: CommandOptions): Partial<Profile> {
  return {
    ...(options.rounds === undefined ? {} : { rounds: options.rounds }),
    ...(options.keyOrder === undefined ? {} : { keyOrder: options.keyOrder }),
  };
}

function selectEngines(options: CommandOptions, profile: Profile): EngineDefinition[] {
  const known = allEngines({
    rawPreallocatedBytes: profile.rawPreallocatedBytes,
    ladybugStoreOptions: options.ladybugStoreOptions,
  });
  if (!known.some((engine) => engine.id === options.baselineEngineId)) {
    throw new UsageError(`unknown --baseline "${options.baselineEngineId}"; known: ${known.map((engine) => engine.id).join(', ')}`);
  }
  return applyFilter(known, options.engineFilter, 'engine');
}

interface LoadedEngines {
  readonly loaded: LoadedEngine[];
  readonly reports: EngineReport[];
}

/** Loads every engine; one that fails is reported as skipped, never replaced. */
async function loadEngines(definitions: readonly EngineDefinition[], repositoryRoot: string): Promise<LoadedEngines> {
  const loaded: LoadedEngine[] = [];
  const reports: EngineReport[] = [];
  for (const definition of definitions) {
    const version = definition.packageName ? installedVersion(repositoryRoot, definition.packageName) : undefined;
    try {
      loaded.push({ definition, open: await definition.load() });
      reports.push(describeEngine(definition, version, undefined));
    } catch (error) {
      const note = `failed to load: ${describeError(error)}`;
      console.error(`bench: skipping ${definition.id}: ${note}`);
      reports.push(describeEngine(definition, version, note));
    }
  }
  return { loaded, reports };
}

function prepareScratchDirectory(options: CommandOptions, repositoryRoot: string): string {
  const parent = options.scratchParent ?? defaultScratchParent(repositoryRoot);
  mkdirSync(parent, { recursive: true });
  if (!sameDevice(parent, repositoryRoot)) {
    console.error(`bench: warning: ${parent} is not on the repository's device; fsync costs may differ`);
  }
  return createRunScratchDirectory(parent);
}

/** Runs `body`, removing the scratch directory afterwards and on Ctrl-C / SIGTERM. */
async function runInScratch<Result>(scratchDirectory: string, body: () => Promise<Result>): Promise<Result> {
  const onSignal = (signal: NodeJS.Signals) => {
    removeDirectory(scratchDirectory);
    console.error(`bench: interrupted by ${signal}; removed ${scratchDirectory}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    removeDirectory(scratchDirectory);
  }
}

function printSummary(report: RunReport, repositoryRoot: string, options: CommandOptions): void {
  console.log('');
  console.log(renderConsoleTable(report));
  console.log('');
  for (const target of report.targets) console.log(`target: ${target.description}: ${target.measured} (${target.status})`);
  for (const row of report.rows.filter((candidate) => candidate.flagged)) {
    console.log(`flagged: ${row.workloadId} ${rowLabel(row)}: ${row.check?.summary ?? ''}${isCheckFailure(report, row) ? ' (a defect: exit status 1)' : ''}`);
  }
  for (const engine of report.engines.filter((candidate) => candidate.status === 'skipped')) {
    console.log(`skipped: ${engine.id}: ${engine.note ?? ''}`);
  }
  // Only a complete, default run stands for the project's figures in latest.*.
  const complete = options.workloadFilter === undefined && options.engineFilter === undefined &&
    Object.keys(options.ladybugStoreOptions).length === 0 && options.keyOrder === undefined && options.baselineEngineId === 'ladybug';
  const files = writeResults(report, resultsDirectory(repositoryRoot), complete);
  const written = [files.json, files.markdown, files.chart, ...(complete ? [files.latestJson, files.latestMarkdown, files.latestChart] : [])];
  console.log(`\nwrote ${written.map((file) => relative(repositoryRoot, file)).join(', ')}`);
}

function commandLine(repositoryRoot: string): string {
  const script = process.argv[1] ? relative(repositoryRoot, process.argv[1]) : 'bench/main';
  return ['node', script, ...process.argv.slice(2)].join(' ');
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) console.error(`bench: ${error.message}\n${USAGE}`);
  else console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
