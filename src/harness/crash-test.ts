/**
 * The crash-recovery harness (`npm run crash-test`, `ladybug crash-test`).
 *
 * Each cycle:
 *   fork a worker (src/harness/crash-worker.ts) on the store directory
 *   -> it opens the store, says `ready`, and writes (puts, deletes, batches, bank
 *      transfers), announcing each commit before submitting it and acknowledging
 *      it after its promise resolved
 *   -> after a random delay (seeded), kill mode SIGKILLs it; power-loss mode tells
 *      it to crash its fault-injecting file system and write what survived
 *   -> reopen the store here (the time taken is the recovery time)
 *   -> verify it against the model of everything acknowledged in all cycles so far
 *      (src/harness/crash-verify.ts): nothing acknowledged lost, no commit torn,
 *      nothing there that was never announced, scan, stats and bank invariants
 *   -> close, and run `verifyStore` (the `verify` command) on it: clean
 *   -> the next cycle's worker continues on the same, growing store.
 *
 * The worker reports its store's background work as it changes (crash-worker.ts);
 * the summary adds up the flushes, compactions and WAL deletions the workers made
 * before they died and counts the crashes that landed while a flush (a sealed
 * memtable being written or installed) or a compaction was running, so a run with a
 * small memory budget shows that its kills cut into them.
 *
 * Everything random (worker seeds, kill delays, crash modes) comes from one
 * generator seeded by `seed`, so `--cycles N --seed S` replays the same plan (the
 * interleavings inside a worker are the operating system's, not ours).
 *
 * A failed open ends the run: there is no store left to continue with; so does a
 * read of the recovered store that throws (reported as inconsistent, the store kept
 * as the crash left it). The directory of a run that found problems is kept for
 * inspection.
 *
 * This module runs the cycles; what they report and how the summary adds them up is
 * crash-report.ts, and the claim on the directory (CRASH_TEST_MARKER) crash-directory.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CrashMode } from '../fs/fault-file-system.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import {
  allHarnessKeys,
  type CrashTestMode,
  harnessStoreOptions,
  type HarnessStoreSettings,
  POWER_LOSS_CRASH_MODES,
  type StoreActivity,
} from './crash-protocol.js';
import { claimDirectory } from './crash-directory.js';
import { CrashModel } from './crash-model.js';
import { addCycle, addProblems, type CrashTestSummary, crashTestPassed, type CycleReport, emptySummary, percentile } from './crash-report.js';
import { adoptStore, checkVerifyClean, type CycleVerdict, type Problem, verifyRecoveredStore } from './crash-verify.js';
import { harnessEntryPath } from './harness-entry.js';
import { SeededRandom } from './seeded-random.js';
import { runWorkerToCrash } from './worker-session.js';

export type { CrashTestMode } from './crash-protocol.js';
export { CRASH_TEST_MARKER } from './crash-directory.js';
export { crashTestPassed, formatSummary } from './crash-report.js';
export type { CrashTestSummary, CycleReport } from './crash-report.js';

export interface CrashTestOptions {
  /** The store directory (kept afterwards); default: a fresh temporary one, removed if the run passes. */
  directory?: string;
  cycles: number;
  seed: number;
  mode: CrashTestMode;
  /** The kill (or power loss) comes this long after the worker's `ready`, uniformly. Defaults 1 and 2000. */
  killAfterMsMin?: number;
  killAfterMsMax?: number;
  /** The compiled worker to fork; default: found (or built) by harnessEntryPath. */
  workerPath?: string;
  onProgress?: (report: CycleReport) => void;
  /** The store's memory budget (small: memtables flush to runs during the kills); default the store's. */
  memoryBudgetBytes?: number;
  /** The store's WAL segment size; default HARNESS_STORE_OPTIONS's. */
  segmentSizeBytes?: number;
}

interface Settings {
  directory: string;
  temporaryRoot: string | undefined;
  cycles: number;
  seed: number;
  mode: CrashTestMode;
  killAfterMsMin: number;
  killAfterMsMax: number;
  workerPath: string;
  onProgress: ((report: CycleReport) => void) | undefined;
  storeSettings: HarnessStoreSettings;
}

interface CyclePlan {
  workerSeed: number;
  killAfterMs: number;
  crashMode: CrashMode;
  operationsBeforeCrash: number;
}

const KILL_AFTER_MS_MIN_DEFAULT = 1;
const KILL_AFTER_MS_MAX_DEFAULT = 2000;
/** A power loss lets 0 to this many more file-system calls through before the cut. */
const OPERATIONS_BEFORE_CRASH_MAX = 64;

export async function runCrashTest(options: CrashTestOptions): Promise<CrashTestSummary> {
  const settings = await resolveSettings(options);
  const random = new SeededRandom(settings.seed);
  const model = new CrashModel(allHarnessKeys());
  const summary = emptySummary(settings.mode, settings.seed, settings.directory);
  const recoveryTimesMs: number[] = [];
  claimDirectory(settings.directory);
  addProblems(summary, await adoptExistingStore(settings, model));
  for (let cycle = 1; cycle <= settings.cycles; cycle++) {
    const report = await runCycle(settings, model, cycle, drawPlan(random, settings));
    addCycle(summary, report, recoveryTimesMs);
    settings.onProgress?.(report);
    if (report.openError !== undefined || report.readError !== undefined) break;
  }
  summary.recoveryMsP50 = percentile(recoveryTimesMs, 50);
  summary.recoveryMsP99 = percentile(recoveryTimesMs, 99);
  if (settings.temporaryRoot !== undefined && crashTestPassed(summary)) rmSync(settings.temporaryRoot, { recursive: true, force: true });
  return summary;
}

async function resolveSettings(options: CrashTestOptions): Promise<Settings> {
  const killAfterMsMin = options.killAfterMsMin ?? KILL_AFTER_MS_MIN_DEFAULT;
  const killAfterMsMax = options.killAfterMsMax ?? KILL_AFTER_MS_MAX_DEFAULT;
  requireInteger('cycles', options.cycles, 1);
  requireInteger('seed', options.seed, 0);
  requireInteger('killAfterMsMin', killAfterMsMin, 0);
  requireInteger('killAfterMsMax', killAfterMsMax, killAfterMsMin);
  if (options.mode !== 'kill' && options.mode !== 'power-loss') throw new RangeError(`mode must be kill or power-loss, got ${String(options.mode)}`);
  const temporaryRoot = options.directory === undefined ? mkdtempSync(join(tmpdir(), 'ladybug-crash-')) : undefined;
  return {
    directory: options.directory === undefined ? join(temporaryRoot!, 'store') : resolve(options.directory),
    temporaryRoot,
    cycles: options.cycles,
    seed: options.seed,
    mode: options.mode,
    killAfterMsMin,
    killAfterMsMax,
    workerPath: options.workerPath ?? (await harnessEntryPath('crash-worker')),
    onProgress: options.onProgress,
    storeSettings: {
      ...(options.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: options.memoryBudgetBytes }),
      ...(options.segmentSizeBytes === undefined ? {} : { segmentSizeBytes: options.segmentSizeBytes }),
    },
  };
}

function requireInteger(name: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) throw new RangeError(`${name} must be an integer >= ${minimum}, got ${value}`);
}


/** Draws in a fixed order whatever the mode, so a seed means the same plan in both modes. */
function drawPlan(random: SeededRandom, settings: Settings): CyclePlan {
  return {
    workerSeed: random.nextSeed(),
    killAfterMs: random.nextIntInclusive(settings.killAfterMsMin, settings.killAfterMsMax),
    crashMode: random.pick(POWER_LOSS_CRASH_MODES),
    operationsBeforeCrash: random.nextIntInclusive(0, OPERATIONS_BEFORE_CRASH_MAX),
  };
}


/** Opens (or creates) the store the run starts from and takes its state as the model's. */
async function adoptExistingStore(settings: Settings, model: CrashModel): Promise<Problem[]> {
  const directory = settings.directory;
  const store = await openStore(directory, harnessStoreOptions(settings.storeSettings));
  let problems: Problem[];
  try {
    problems = await adoptStore(store, model);
  } finally {
    await store.close();
  }
  return [...problems, ...(await checkVerifyClean(directory))];
}

// -- one cycle -----------------------------------------------------------------------

async function runCycle(settings: Settings, model: CrashModel, cycle: number, plan: CyclePlan): Promise<CycleReport> {
  model.beginCycle();
  const launch = { workerPath: settings.workerPath, directory: settings.directory, mode: settings.mode, cycle, storeSettings: settings.storeSettings, ...plan };
  const worker = await runWorkerToCrash(launch, (event) => model.apply(event));
  const report = newCycleReport(settings, cycle, plan, model.acknowledgedCount, worker.errors, worker.lastActivity);
  const opened = await reopen(settings);
  if ('error' in opened) {
    report.openError = opened.error;
    return report;
  }
  report.recoveryMs = opened.recoveryMs;
  report.tornTailZeroed = (opened.store.stats().recovery.tornTail?.zeroedBytes ?? 0) > 0;
  try {
    fillVerdict(report, await verifyRecoveredStore(opened.store, model));
  } catch (error) {
    // The store opened but reading it failed (a run or segment the crash damaged): a
    // problem of this cycle, and the end of the run, with the store kept as it is.
    report.readError = describeError(error);
    addCycleProblems(report, [{ kind: 'inconsistent', message: `reading the recovered store failed: ${report.readError}` }]);
  } finally {
    await opened.store.close().catch((error: unknown) => {
      addCycleProblems(report, [{ kind: 'inconsistent', message: `closing the recovered store failed: ${describeError(error)}` }]);
    });
  }
  addCycleProblems(report, await checkVerifyClean(settings.directory));
  return report;
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function newCycleReport(
  settings: Settings,
  cycle: number,
  plan: CyclePlan,
  acknowledged: number,
  workerErrors: string[],
  activity: StoreActivity | undefined,
): CycleReport {
  return {
    cycle,
    cycles: settings.cycles,
    killAfterMs: plan.killAfterMs,
    crashMode: settings.mode === 'power-loss' ? plan.crashMode : undefined,
    acknowledged,
    inFlight: 0,
    inFlightApplied: 0,
    recoveryMs: undefined,
    tornTailZeroed: false,
    openError: undefined,
    readError: undefined,
    problems: [],
    workerErrors,
    activity,
  };
}

function fillVerdict(report: CycleReport, verdict: CycleVerdict): void {
  report.acknowledged = verdict.acknowledged;
  report.inFlight = verdict.inFlight;
  report.inFlightApplied = verdict.inFlightApplied;
  addCycleProblems(report, verdict.problems);
}

function addCycleProblems(report: CycleReport, problems: readonly Problem[]): void {
  report.problems.push(...problems.map((problem) => ({ ...problem, message: `cycle ${report.cycle}: ${problem.message}` })));
}

async function reopen(settings: Settings): Promise<{ store: Store; recoveryMs: number } | { error: string }> {
  const started = performance.now();
  try {
    const store = await openStore(settings.directory, harnessStoreOptions(settings.storeSettings));
    return { store, recoveryMs: performance.now() - started };
  } catch (error) {
    return { error: describeError(error) };
  }
}
