/**
 * Runs every (workload, engine) pair for the profile's number of rounds.
 *
 * Order: round by round, workload by workload, and within a workload every
 * engine once, starting one engine later each round, so slow drift of the
 * shared VM's disk hits all engines alike. Each measurement opens the engine on
 * a fresh directory, and closes and deletes it afterwards. The reported round
 * of a pair is its median round by throughput (the lower median for an even
 * count: always a real round, never an average).
 *
 * A workload with variants (transactions) is measured once per (engine,
 * variant) pair, each pair taking the place of an engine in the rotation. A
 * workload that is not interleaved (the reopen) runs after all rounds, once per
 * engine, as round 1.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineDefinition, EngineHandle, EngineOpener, EngineStats, OpenOptions } from './engines/engine.js';
import { removeDirectory } from './paths.js';
import type { Profile } from './profile.js';
import type { Measurement, Workload, WorkloadContext } from './workloads/workload.js';

export interface LoadedEngine {
  readonly definition: EngineDefinition;
  readonly open: EngineOpener;
}

export interface StatsChange {
  readonly before: EngineStats;
  readonly after: EngineStats;
  readonly delta: EngineStats;
}

export interface RoundOutcome {
  readonly round: number;
  readonly measurement?: Measurement;
  readonly stats?: StatsChange;
  readonly error?: string;
}

export interface CellResult {
  readonly workloadId: string;
  readonly engineId: string;
  readonly variant: string | undefined;
  readonly rounds: RoundOutcome[];
}

/** One measured row: an engine, and the variant for workloads with variants. */
interface Target {
  readonly engine: LoadedEngine;
  readonly variant: string | undefined;
}

export interface RunPlan {
  readonly workloads: readonly Workload[];
  readonly engines: readonly LoadedEngine[];
  readonly profile: Profile;
  readonly scratchDirectory: string;
  readonly onProgress: (message: string) => void;
}

export async function runPlan(plan: RunPlan): Promise<CellResult[]> {
  const cells = new Map<string, CellResult>();
  const run = async (workload: Workload, target: Target, round: number) => {
    const outcome = await runOne(plan, workload, target, round);
    cellFor(cells, workload.id, target).rounds.push(outcome);
    plan.onProgress(progressLine(plan.profile, workload, target, outcome));
  };
  const interleaved = plan.workloads.filter((workload) => workload.interleaved !== false);
  for (let round = 1; round <= plan.profile.rounds; round += 1) {
    for (const workload of interleaved) {
      for (const target of rotate(targetsOf(workload, plan.engines), round - 1)) await run(workload, target, round);
    }
  }
  for (const workload of plan.workloads.filter((candidate) => candidate.interleaved === false)) {
    for (const target of targetsOf(workload, plan.engines)) await run(workload, target, 1);
  }
  return [...cells.values()];
}

function targetsOf(workload: Workload, engines: readonly LoadedEngine[]): Target[] {
  return engines
    .filter((engine) => workload.appliesTo(engine.definition))
    .flatMap((engine): Target[] => {
      const variants = workload.variants?.(engine.definition) ?? [];
      return variants.length === 0 ? [{ engine, variant: undefined }] : variants.map((variant) => ({ engine, variant }));
    });
}

/** The round reported for a cell: the median successful round by throughput. */
export function medianRound(cell: CellResult): RoundOutcome | undefined {
  const measured = cell.rounds.filter((outcome) => outcome.measurement !== undefined);
  measured.sort((left, right) => unitsPerSecond(left) - unitsPerSecond(right));
  return measured[Math.floor((measured.length - 1) / 2)];
}

function unitsPerSecond(outcome: RoundOutcome): number {
  return outcome.measurement?.unitsPerSecond ?? 0;
}

function rotate<Item>(items: readonly Item[], offset: number): Item[] {
  if (items.length === 0) return [];
  const start = offset % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

function cellFor(cells: Map<string, CellResult>, workloadId: string, target: Target): CellResult {
  const engineId = target.engine.definition.id;
  const key = `${workloadId}\u0000${engineId}\u0000${target.variant ?? ''}`;
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = { workloadId, engineId, variant: target.variant, rounds: [] };
    cells.set(key, cell);
  }
  return cell;
}

async function runOne(plan: RunPlan, workload: Workload, target: Target, round: number): Promise<RoundOutcome> {
  const variantPart = target.variant === undefined ? '' : `-${target.variant.replaceAll(/[^A-Za-z0-9]+/g, '_')}`;
  const directory = join(plan.scratchDirectory, `round${round}-${workload.id}-${target.engine.definition.id}${variantPart}`);
  mkdirSync(directory, { recursive: true });
  try {
    return await measureOnFreshEngine(plan, workload, target, directory, round);
  } finally {
    removeDirectory(directory);
  }
}

async function measureOnFreshEngine(
  plan: RunPlan,
  workload: Workload,
  target: Target,
  directory: string,
  round: number,
): Promise<RoundOutcome> {
  const openOptions: OpenOptions = { keyType: workload.keyType ?? 'binary' };
  let current: EngineHandle | undefined;
  try {
    if (workload.ownProcess !== true) current = await target.engine.open(directory, openOptions);
  } catch (error) {
    return { round, error: `open failed: ${describeError(error)}` };
  }
  let before: EngineStats = {};
  const context: WorkloadContext = {
    get engine(): EngineHandle {
      if (current === undefined) throw new Error('the engine is closed');
      return current;
    },
    definition: target.engine.definition,
    profile: plan.profile,
    directory,
    variant: target.variant,
    beginMeasurement: () => {
      if (current !== undefined) before = readStats(current);
    },
    async closeEngine() {
      const handle = current;
      current = undefined;
      await handle?.close();
    },
    async openEngine() {
      if (current !== undefined) throw new Error('the engine is already open');
      current = await target.engine.open(directory, openOptions);
      return current;
    },
  };
  try {
    const measurement = await workload.run(context);
    return { round, measurement, ...(current === undefined ? {} : statsChange(current, before)) };
  } catch (error) {
    return { round, error: describeError(error) };
  } finally {
    if (current !== undefined) await closeQuietly(current, plan.onProgress);
  }
}

function readStats(handle: EngineHandle): EngineStats {
  return handle.stats ? handle.stats() : {};
}

function statsChange(handle: EngineHandle, before: EngineStats): { stats?: StatsChange } {
  if (!handle.stats) return {};
  const after = handle.stats();
  const delta: EngineStats = {};
  for (const [name, value] of Object.entries(after)) delta[name] = value - (before[name] ?? 0);
  return { stats: { before, after, delta } };
}

async function closeQuietly(handle: EngineHandle, onProgress: (message: string) => void): Promise<void> {
  try {
    await handle.close();
  } catch (error) {
    onProgress(`  warning: close failed: ${describeError(error)}`);
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function progressLine(profile: Profile, workload: Workload, target: Target, outcome: RoundOutcome): string {
  const when = workload.interleaved === false ? '[once]     ' : `[round ${outcome.round}/${profile.rounds}]`;
  const engine = target.variant === undefined ? target.engine.definition.id : `${target.engine.definition.id} [${target.variant}]`;
  const prefix = `${when} ${workload.id.padEnd(20)} ${engine.padEnd(26)}`;
  const measurement = outcome.measurement;
  if (measurement === undefined) return `${prefix} ERROR ${outcome.error ?? ''}`;
  const figure =
    workload.headline === 'duration'
      ? `${Math.round(measurement.durationMs).toLocaleString('en-US').padStart(12)} ms`
      : `${Math.round(measurement.unitsPerSecond).toLocaleString('en-US').padStart(12)} ${workload.unit}/s`;
  const extras = (workload.columns ?? [])
    .filter((column) => measurement.extra[column.key] !== undefined)
    .map((column) => `${column.shortLabel} ${formatExtra(measurement.extra[column.key] as number)}`);
  const check = measurement.check?.passed === false ? [measurement.check.summary] : [];
  return [`${prefix} ${figure}`, ...extras, ...check].join('  ');
}

function formatExtra(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(value >= 100 ? 0 : 2);
}
