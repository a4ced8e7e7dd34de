/**
 * Helpers of the maintenance crash sweeps (test/maintcrash-review-*.test.ts): a copy of
 * a built store's image on a fresh fault file system, a sweep that crashes one
 * maintenance operation after each of its file-system operations (or a seeded sample)
 * in each crash mode, and the checks a reopened store must pass: every read the model
 * answers, no run file left that the manifest does not name, verify clean.
 */
import { expect } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { verifyStore } from '../src/store/verify-store.js';
import { fileSystemOf, mulberry32Sample } from './maintcrash-review-sample.js';

export { fileSystemOf };
/** MAINTCRASH_REVIEW_WIDEN=n samples n times as many crash points (and MAINTCRASH_REVIEW_SEED another seed); default 1. */
const WIDEN = Number(process.env.MAINTCRASH_REVIEW_WIDEN ?? '1');
const SEED_OFFSET = Number(process.env.MAINTCRASH_REVIEW_SEED ?? '0');

/** A test's timeout for `ms` at the default width, longer as MAINTCRASH_REVIEW_WIDEN widens the sweeps. */
export const widened = (ms: number) => ms * Math.max(1, WIDEN);

export const MODES: readonly CrashMode[] = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'];

/** The crash points of a sweep: every index 0..total when few, else `count` seeded ones (0 and total included). */
export function crashPoints(total: number, count: number, seed: number): number[] {
  if (total + 1 <= count) return Array.from({ length: total + 1 }, (_, index) => index);
  return mulberry32Sample(total, count, seed);
}

export interface Sweep<Context> {
  image: Map<string, Uint8Array>;
  /** Sets up on the copy (not counted): opens the store, takes a snapshot... */
  prepare(fileSystem: FaultFileSystem): Promise<Context>;
  /** The maintenance operation crashed part-way. */
  operate(context: Context): Promise<unknown>;
  /** Lets go of the crashed process's handles without touching the disk (abandonStore). */
  abandon(context: Context): void;
  /** Checks the rebooted machine's store; returns the problems found. */
  check(rebooted: FaultFileSystem, where: string): Promise<string[]>;
  /** Checks what the crashed process was told (its context) against the rebooted store, before `check`. */
  acknowledgedCheck?(rebooted: FaultFileSystem, context: Context): Promise<string[]>;
  samples: number;
  seed: number;
  /** Also crash right before and right after every call of the clean run this selects (e.g. the install's manifest writes and unlinks). */
  focus?: (operation: string, path: string) => boolean;
  modes?: readonly CrashMode[];
}

/** Runs the operation once cleanly to count its operations, then crashes it at each sampled point in each mode. */
export async function sweep<Context>(plan: Sweep<Context>): Promise<{ total: number; crashes: number }> {
  const clean = await fileSystemOf(plan.image);
  const focused: number[] = [];
  const context = await plan.prepare(plan.focus === undefined ? clean : logging(clean, (operation, path, count) => {
    if (plan.focus?.(operation, path) === true) focused.push(count, count + 1);
  }));
  const before = clean.operationCount;
  await plan.operate(context);
  const total = clean.operationCount - before;
  plan.abandon(context);
  const points = [...new Set([...crashPoints(total, plan.samples * WIDEN, plan.seed + SEED_OFFSET), ...focused.map((count) => count - before)])]
    .filter((k) => k >= 0 && k <= total).sort((a, b) => a - b);
  let crashes = 0;
  const problems: string[] = [];
  for (const mode of plan.modes ?? MODES) {
    for (const k of points) {
      const fileSystem = await fileSystemOf(plan.image);
      const victim = await plan.prepare(fileSystem);
      fileSystem.crashAfterOperations(k);
      await plan.operate(victim).catch(() => undefined);
      plan.abandon(victim);
      const where = `crash after ${k} of ${total} operations (${mode})`;
      const rebooted = fileSystem.crash(mode);
      if (plan.acknowledgedCheck !== undefined) problems.push(...(await plan.acknowledgedCheck(rebooted, victim)).map((problem) => `${where}: ${problem}`));
      problems.push(...(await plan.check(rebooted, where)).map((problem) => `${where}: ${problem}`));
      crashes++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  expect(problems.slice(0, 12)).toEqual([]);
  return { total, crashes };
}

/** Run files in the store's runs/ directory that its manifest does not name, and temporary files anywhere in it. */
export async function leftovers(fileSystem: FaultFileSystem, directory: string): Promise<string[]> {
  const { state } = await Manifest.inspect(fileSystem, directory, await loadHash64());
  const named = new Set(state.runs.map((run) => `${directory}/runs/${run.fileName}`));
  return fileSystem.listPaths().filter((path) => path.startsWith(`${directory}/`)
    && ((path.startsWith(`${directory}/runs/`) && !named.has(path)) || /\.tmp|temporary|\.partial/i.test(path)));
}

/** verifyStore's findings, as strings (none when clean). */
export async function verifyProblems(fileSystem: FaultFileSystem, directory: string): Promise<string[]> {
  const report = await verifyStore(directory, { fileSystem });
  if (report.ok) return [];
  const { directory: _directory, ...rest } = report;
  return [`verify: ${JSON.stringify(rest).slice(0, 600)}`];
}

/** Calls that change the tree or make it durable (an open for reading is left out). */
const LOGGED = new Set(['open', 'rename', 'link', 'unlink', 'removeDirectory', 'syncDirectory', 'mkdir']);

/** `fileSystem` with its calls that change the tree reported (operation, path, operation count before the call) before they run. */
function logging(fileSystem: FaultFileSystem, report: (operation: string, path: string, count: number) => void): FaultFileSystem {
  return new Proxy(fileSystem, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof property !== 'string' || !LOGGED.has(property)) return (value as (...args: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        if (property !== 'open' || args[1] !== 'read') report(property, String(args[0]), target.operationCount);
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
