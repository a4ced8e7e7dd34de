/**
 * Command line of the crash-recovery harness:
 *
 *   node dist/src/harness/crash-test-main.js [--cycles N] [--seed S] [--mode kill|power-loss]
 *        [--dir D] [--kill-after-ms-min MS] [--kill-after-ms-max MS]
 *        [--memory-budget-bytes B] [--segment-size-bytes B] [--verbose] [--json]
 *
 * --memory-budget-bytes: the store's memory budget; a small one (256 KiB at least)
 * makes memtables flush to runs and checkpoints delete WAL segments while the
 * kills land. --segment-size-bytes: the WAL segment size (the workload writes values
 * of up to 32 KiB, so 64 KiB or more).
 *
 * --dir: the store to run on (kept afterwards); a new or empty directory, or a store an
 * earlier crash-test made (it holds the CRASH-TEST marker). Any other directory is refused
 * with exit 2 before anything in it is opened: the harness writes its own keys there.
 *
 * A bad argument is one line on stderr, `ladybug: option --cycles: ... [LADYBUG_INVALID_OPTION]`
 * (an unknown option: `ladybug: crash-test: ...` with the usage), exit 2.
 * Prints the one summary line on stdout, or with --json one JSON object with the same
 * figures (the summary's fields and `passed`), as the ladybug commands' --json do (and,
 * with --verbose, one line per cycle on stderr). Exit code 0 when the run passed, 1 when anything was lost, torn or
 * inconsistent, an open failed or a worker failed (the problems go to stderr), 2
 * for bad arguments or when the harness itself could not run.
 * `crashTestMain` is what `ladybug crash-test` calls.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { InvalidOptionError } from '../errors.js';
import { parseArgs } from 'node:util';
import { CRASH_TEST_MODES, type CrashTestMode } from './crash-protocol.js';
import { type CrashTestOptions, crashTestPassed, type CycleReport, formatSummary, runCrashTest } from './crash-test.js';

const CYCLES_DEFAULT = 50;

export const CRASH_TEST_USAGE =
  'usage: crash-test [--cycles N] [--seed S] [--mode kill|power-loss] [--dir D] ' +
  '[--kill-after-ms-min MS] [--kill-after-ms-max MS] [--memory-budget-bytes B] [--segment-size-bytes B] [--verbose] [--json]';

const OPTIONS = {
  cycles: { type: 'string' },
  seed: { type: 'string' },
  mode: { type: 'string', default: 'kill' },
  dir: { type: 'string' },
  'kill-after-ms-min': { type: 'string', default: '1' },
  'kill-after-ms-max': { type: 'string', default: '2000' },
  'memory-budget-bytes': { type: 'string' },
  'segment-size-bytes': { type: 'string' },
  verbose: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

export async function crashTestMain(argv: readonly string[]): Promise<number> {
  let options: (CrashTestOptions & { json: boolean }) | 'help';
  try {
    options = parseCommandLine(argv);
  } catch (error) {
    // One line, as every ladybug refusal: a bad value with its option and code, parseArgs' own errors with the usage.
    process.stderr.write(error instanceof InvalidOptionError
      ? `ladybug: ${error.message} [${error.code}]\n`
      : `ladybug: crash-test: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')} (${CRASH_TEST_USAGE})\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${CRASH_TEST_USAGE}\n`);
    return 0;
  }
  let summary: Awaited<ReturnType<typeof runCrashTest>>;
  try {
    const { json: _json, ...run } = options;
    summary = await runCrashTest(run);
  } catch (error) {
    if (!(error instanceof InvalidOptionError)) throw error;
    process.stderr.write(`ladybug: ${error.message} [${error.code}]\n`);
    return 2;
  }
  const passed = crashTestPassed(summary);
  process.stdout.write(options.json ? `${JSON.stringify({ ...summary, passed })}\n` : `${formatSummary(summary)}\n`);
  if (passed) return 0;
  for (const problem of summary.problems) process.stderr.write(`${problem}\n`);
  process.stderr.write(`store kept at ${summary.directory}\n`);
  return 1;
}

/** The run's options, or 'help'; throws on a bad argument. */
function parseCommandLine(argv: readonly string[]): (CrashTestOptions & { json: boolean }) | 'help' {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help) return 'help';
  const mode = values.mode as CrashTestMode;
  if (!CRASH_TEST_MODES.includes(mode)) throw new InvalidOptionError('--mode', `must be one of ${CRASH_TEST_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  return {
    cycles: integerArgument('--cycles', values.cycles, CYCLES_DEFAULT),
    seed: integerArgument('--seed', values.seed, Math.floor(Math.random() * 2 ** 31)),
    mode,
    ...(values.dir === undefined ? {} : { directory: values.dir }),
    killAfterMsMin: integerArgument('--kill-after-ms-min', values['kill-after-ms-min'], 1),
    killAfterMsMax: integerArgument('--kill-after-ms-max', values['kill-after-ms-max'], 2000),
    ...(values.verbose ? { onProgress: printCycle } : {}),
    json: values.json,
    ...(values['memory-budget-bytes'] === undefined ? {} : { memoryBudgetBytes: integerArgument('--memory-budget-bytes', values['memory-budget-bytes'], 0) }),
    ...(values['segment-size-bytes'] === undefined ? {} : { segmentSizeBytes: integerArgument('--segment-size-bytes', values['segment-size-bytes'], 0) }),
  };
}

function integerArgument(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  // The ladybug commands' grammar (src/cli/arguments.ts): decimal digits only, a safe integer.
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) throw new InvalidOptionError(name, `not a whole number: ${JSON.stringify(text)} (decimal digits only)`);
  return value;
}

function printCycle(report: CycleReport): void {
  const crash = report.crashMode === undefined ? 'SIGKILL' : report.crashMode;
  const recovery = report.recoveryMs === undefined ? 'open FAILED' : `recovery ${report.recoveryMs.toFixed(1)}ms`;
  const problems = report.problems.length + report.workerErrors.length;
  const tornTail = report.tornTailZeroed ? ', torn WAL tail zeroed' : '';
  process.stderr.write(
    `cycle ${report.cycle}/${report.cycles}: ${crash} after ${report.killAfterMs}ms${describeActivity(report)}, ` +
    `acknowledged ${report.acknowledged}, in flight ${report.inFlightApplied}/${report.inFlight} applied${tornTail}, ${recovery}, problems ${problems}\n`,
  );
}

/** What the worker's store was doing when it died, and what it had done. */
function describeActivity(report: CycleReport): string {
  const activity = report.activity;
  if (activity === undefined) return '';
  const running = [activity.flushing ? 'a flush' : '', activity.compacting ? 'a compaction' : ''].filter((part) => part !== '');
  const during = running.length === 0 ? '' : ` during ${running.join(' and ')}`;
  return `${during} (worker: ${activity.flushes} flushes, ${activity.compactions} compactions, ${activity.walSegmentsDeleted} WAL segments deleted)`;
}

/** Run as a script (npm run crash-test, or `ladybug crash-test`, which runs this file in a child process). */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  crashTestMain(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (error: unknown) => {
      process.stderr.write(`crash-test: ${error instanceof Error ? error.message : String(error)}\n${CRASH_TEST_USAGE}\n`);
      process.exitCode = 2;
    },
  );
}
