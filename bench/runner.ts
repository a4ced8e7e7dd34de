/**
 * Runs every (workload, engine) pair for the profile's number of rounds.
 *
 * Order: round by round, workload by workload, and within a workload every
 * engine once, starting one engine later each round, so slow drift of the
 * shared VM's disk hits all engines alike. Each measurement opens the engine on
 * a fresh directory, and closes and deletes it afterwards. The reported round
 * of a pair is its median round by throughput (the lower median for an even
 * count: always a real round, never an average).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineDefinition, EngineHandle, EngineOpener, EngineStats } from './engines/engine.js';
import { removeDirectory } from './paths.js';
import type { Profile } from './profile.js';
import type { Measurement, Workload } from './workloads/workload.js';

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
  readonly rounds: RoundOutcome[];
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
  for (let round = 1; round <= plan.profile.rounds; round += 1) {
    for (const workload of plan.workloads) {
      const engines = rotate(plan.engines.filter((engine) => workload.appliesTo(engine.definition)), round - 1);
      for (const engine of engines) {
        const outcome = await runOne(plan, workload, engine, round);
        cellFor(cells, workload.id, engine.definition.id).rounds.push(outcome);
        plan.onProgress(progressLine(plan.profile, workload, engine.definition, outcome));
      }
    }
  }
  return [...cells.values()];
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

function cellFor(cells: Map<string, CellResult>, workloadId: string, engineId: string): CellResult {
  const key = `${workloadId}\u0000${engineId}`;
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = { workloadId, engineId, rounds: [] };
    cells.set(key, cell);
  }
  return cell;
}

async function runOne(plan: RunPlan, workload: Workload, engine: LoadedEngine, round: number): Promise<RoundOutcome> {
  const directory = join(plan.scratchDirectory, `round${round}-${workload.id}-${engine.definition.id}`);
  mkdirSync(directory, { recursive: true });
  try {
    return await measureOnFreshEngine(plan, workload, engine, directory, round);
  } catch (error) {
    return { round, error: `open failed: ${describeError(error)}` };
  } finally {
    removeDirectory(directory);
  }
}

async function measureOnFreshEngine(
  plan: RunPlan,
  workload: Workload,
  engine: LoadedEngine,
  directory: string,
  round: number,
): Promise<RoundOutcome> {
  const handle = await engine.open(directory);
  let before: EngineStats = {};
  try {
    const measurement = await workload.run({
      engine: handle,
      definition: engine.definition,
      profile: plan.profile,
      beginMeasurement: () => {
        before = readStats(handle);
      },
    });
    return { round, measurement, ...statsChange(handle, before) };
  } catch (error) {
    return { round, error: describeError(error) };
  } finally {
    await closeQuietly(handle, plan.onProgress);
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

function progressLine(profile: Profile, workload: Workload, definition: EngineDefinition, outcome: RoundOutcome): string {
  const prefix = `[round ${outcome.round}/${profile.rounds}] ${workload.id.padEnd(20)} ${definition.id.padEnd(15)}`;
  if (outcome.measurement === undefined) return `${prefix} ERROR ${outcome.error ?? ''}`;
  const rate = Math.round(outcome.measurement.unitsPerSecond).toLocaleString('en-US');
  return `${prefix} ${rate.padStart(12)} ${workload.unit}/s`;
}
