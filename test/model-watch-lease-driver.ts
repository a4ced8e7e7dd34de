/**
 * The random driver of model-watch-lease-random.test.ts: a seeded sequence of steps
 * (writes, transactions, watches opened from past versions and held across flushes,
 * merges, checkpoints, compactions, reopens and crashes, slow watch readers flooded
 * past their buffer, lease operations on a fake clock, fenced and lease-bound writes,
 * reserved keys) run against the store and the model, every answer compared. Each step
 * has its own seed, so a failing sequence shrinks by dropping steps (shrinkSteps).
 */
import { afterEach, expect, vi } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { MEMORY_BUDGET_BYTES_MIN, WATCH_BUFFER_CHANGES_MAX } from '../src/limits.js';
import { random, value } from './model-review-driver.js';
import { byBytes, count, Model, type Operation } from './model-watch-lease-model.js';
import { shrinkSequence } from './model-sequences.js';
import { brief, Watches } from './model-watch-lease-watches.js';
import {
  acquireStep, advanceStep, boundStep, fencedStep, handoffStep, LEASE_NAMES, type LeaseContext, leaseReadStep, releaseStep, renewStep, reservedWriteStep,
} from './model-watch-lease-leases.js';

type Random = () => number;
const pick = <T>(rng: Random, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

const KEYS = ['a', 'b', 'c/1', 'c/2', 'd', '\u00e9', 'z', 'L'.repeat(300)];
const BOUNDS = ['a', 'b', 'c/', 'c0', 'd', 'f/', 'f/05000', 'f0', '\u0000', '\u0001', 'z'];
/** A flood's keys: more than a watch buffer holds, in one commit. */
const FLOOD_KEYS = WATCH_BUFFER_CHANGES_MAX + 1;

export interface Config { seed: number; maxVersionsPerKey: number; memoryBudgetBytes: number | undefined }

export const STEP_KINDS = ['put', 'put', 'del', 'batch', 'tx', 'txSync', 'watch', 'watch', 'pull', 'pull', 'pull', 'drain', 'probe', 'endWatch',
  'acquire', 'acquire', 'renew', 'release', 'advance', 'advance', 'handoff', 'leaseRead', 'fenced', 'fenced', 'bound', 'bound', 'reservedWrite',
  'checkpoint', 'compact', 'retainFrom', 'reopen', 'crash', 'flood'] as const;
export type StepKind = typeof STEP_KINDS[number];
export interface Step { kind: StepKind; seed: number }

export function makeSteps(seed: number, count: number): Step[] {
  const rng = random(seed);
  // A flood costs 10,001 puts: at most one sequence step in 50 or so.
  return Array.from({ length: count }, () => {
    let kind = pick(rng, STEP_KINDS);
    if (kind === 'flood' && rng() < 0.5) kind = 'pull';
    return { kind, seed: Math.floor(rng() * 2 ** 31) };
  });
}

export function makeConfig(seed: number): Config {
  const rng = random(seed * 7919 + 3);
  return { seed, maxVersionsPerKey: pick(rng, [Infinity, Infinity, 1, 2, 3]), memoryBudgetBytes: pick(rng, [MEMORY_BUDGET_BYTES_MIN, MEMORY_BUDGET_BYTES_MIN, undefined]) };
}

/** Small values mostly: a watch's buffer must stay far below its bytes bound. */
function smallValue(rng: Random): unknown {
  return rng() < 0.85 ? value(rng) : Math.floor(rng() * 100);
}

afterEach(() => {
  vi.restoreAllMocks();
});

export async function runSteps(config: Config, steps: readonly Step[]): Promise<{ log: string[]; model: Model }> {
  const model = new Model(config.maxVersionsPerKey);
  vi.spyOn(performance, 'now').mockImplementation(() => model.clockMs);
  let fileSystem = new FaultFileSystem(config.seed);
  const options = {
    maxVersionsPerKey: config.maxVersionsPerKey, segmentSizeBytes: 1024 * 1024, authorize: (_: string, authorization: unknown) => authorization === 'admin',
    ...(config.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: config.memoryBudgetBytes }),
  };
  const log: string[] = [];
  const watches = new Watches(model, log);
  const context: LeaseContext = { store: undefined as unknown as Store, model, rng: random(1), log, keys: KEYS, value: smallValue };
  let flooded = false;
  /** Opens the store; the restart rule ends every lease of the earlier open, one commit each, in name order. */
  const open = async (): Promise<void> => {
    context.store = await openStore('/db', { ...options, fileSystem });
    expect(context.store.version, 'acknowledged commits lost, or more than were made').toBeGreaterThanOrEqual(model.version);
    for (const name of [...model.leases.keys()].sort(byBytes)) {
      count('lease ended by the restart rule');
      model.endLease(model.version + 1, name);
    }
    expect(context.store.version, 'the restart rule: one commit per lease of the earlier open').toBe(model.version);
  };
  await open();
  try {
    for (const [index, step] of steps.entries()) {
      const rng = random(step.seed);
      context.rng = rng;
      const label = `step ${index} ${step.kind}`;
      log.push(`${label} (v${model.version})`);
      const store = context.store;
      const write = async (operations: Operation[]) => {
        log.push(`  write ${brief(operations.slice(0, 3))}`);
        const single = operations[0]!;
        const { version } = operations.length === 1 ? (single.type === 'put' ? await store.put(single.key, single.value) : await store.delete(single.key)) : await store.batch(operations);
        if (operations.length > 0) model.commit(version, operations);
      };
      const randomOperation = (): Operation => (rng() < 0.75 ? { type: 'put', key: pick(rng, KEYS), value: smallValue(rng) } : { type: 'del', key: pick(rng, KEYS) });
      const someWatch = () => (watches.open.length === 0 ? undefined : pick(rng, watches.open));
      switch (step.kind) {
        case 'put': await write([{ type: 'put', key: pick(rng, KEYS), value: smallValue(rng) }]); break;
        case 'del': await write([{ type: 'del', key: pick(rng, KEYS) }]); break;
        case 'batch': await write(Array.from({ length: 1 + Math.floor(rng() * 5) }, randomOperation)); break;
        case 'tx': {
          const operations = Array.from({ length: 1 + Math.floor(rng() * 3) }, randomOperation);
          const read = pick(rng, KEYS);
          let seen: unknown;
          await store.transaction(async (tx) => {
            seen = await tx.get(read);
            for (const operation of operations) if (operation.type === 'put') tx.put(operation.key, operation.value); else tx.delete(operation.key);
          }, { isolation: rng() < 0.5 ? 'serializable' : 'snapshot' });
          expect(seen, `${label}: tx read`).toEqual(model.valueOf(read));
          model.commit(model.version + 1, operations);
          break;
        }
        case 'txSync': {
          const operations = Array.from({ length: 1 + Math.floor(rng() * 3) }, randomOperation);
          await store.transactionSync((tx) => { for (const operation of operations) if (operation.type === 'put') tx.put(operation.key, operation.value); else tx.delete(operation.key); });
          model.commit(model.version + 1, operations);
          break;
        }
        case 'watch': {
          if (watches.open.length >= 4) break;
          const bounds = [pick(rng, BOUNDS), pick(rng, BOUNDS)].sort(byBytes);
          const gte = rng() < 0.5 ? bounds[0] : undefined;
          const lt = rng() < 0.5 && bounds[1] !== gte ? bounds[1] : undefined;
          const sinceChoice = Math.floor(rng() * 4);
          const since = sinceChoice === 0 ? undefined : sinceChoice === 1 ? 0 : Math.floor(rng() * (model.version + 1));
          const until = rng() < 0.2 ? (since ?? model.version) + 1 + Math.floor(rng() * 10) : undefined;
          const includeReserved = rng() < 0.3;
          const batch = flooded ? undefined : pick(rng, [1, 2, 3, undefined]);
          const controller = rng() < 0.3 ? new AbortController() : undefined;
          const feed = store.watch({ gte, lt, sinceVersion: since, untilVersion: until, includeReserved, catchUpBatchChanges: batch, signal: controller?.signal });
          const watch = watches.add(feed, { since: since ?? model.version, until, gte, lt, includeReserved, controller });
          log.push(`  watch ${watch.id} since ${watch.since} until ${until} [${JSON.stringify(gte)}, ${JSON.stringify(lt)}) reserved ${includeReserved} batch ${batch}`);
          if (rng() < 0.5 && watches.due(watch)) await watches.pull(watch, label);
          break;
        }
        case 'pull': {
          const watch = someWatch();
          for (let count = 1 + Math.floor(rng() * 8); watch !== undefined && count > 0 && watches.due(watch); count--) await watches.pull(watch, label);
          break;
        }
        case 'drain': {
          const watch = someWatch();
          if (watch === undefined) break;
          while (watches.due(watch)) await watches.pull(watch, label);
          await watches.probe(watch, label);
          break;
        }
        case 'probe': { const watch = someWatch(); if (watch !== undefined) await watches.probe(watch, label); break; }
        case 'endWatch': {
          // Broken out of (return()), or its signal aborted.
          const watch = someWatch();
          if (watch !== undefined && rng() < 0.5) await watches.end(watch);
          else if (watch !== undefined) watches.abort(watch);
          break;
        }
        case 'acquire': await acquireStep(context, label); break;
        case 'renew': await renewStep(context, label); break;
        case 'release': await releaseStep(context, label); break;
        case 'advance': await advanceStep(context, label); break;
        case 'handoff': await handoffStep(context, label); break;
        case 'leaseRead': await leaseReadStep(context, label); break;
        case 'fenced': await fencedStep(context, label); break;
        case 'bound': await boundStep(context, label); break;
        case 'reservedWrite': await reservedWriteStep(context, label); break;
        case 'checkpoint': expect((await store.checkpoint()).flushedVersion, `${label}: flushedVersion`).toBe(model.version); break;
        case 'compact': await store.compact(rng() < 0.5 ? {} : { gte: pick(rng, KEYS) }); break;
        case 'retainFrom': {
          const retainFrom = Math.floor(rng() * (model.version + 1));
          const { retentionFloor } = await store.compact({ retainFrom });
          expect(retentionFloor, `${label}: floor lowered`).toBeGreaterThanOrEqual(model.floor);
          expect(retentionFloor, `${label}: floor above retainFrom ${retainFrom}`).toBeLessThanOrEqual(Math.max(retainFrom, model.floor));
          log.push(`  retainFrom ${retainFrom} -> floor ${retentionFloor}`);
          model.floor = retentionFloor;
          watches.floorRaised(retentionFloor);
          break;
        }
        case 'reopen': {
          await store.close();
          await watches.storeClosed(label, false);
          await open();
          break;
        }
        case 'crash': {
          store[abandonStore]();
          await watches.storeClosed(label, true);
          fileSystem = fileSystem.crash(pick(rng, ['drop-unsynced', 'torn-last-write', 'random-subset', 'keep-all'] as CrashMode[]));
          await open();
          break;
        }
        case 'flood': {
          // Feeds not started yet start now: a catch-up of small batches over the flood would cost C^2 / batch.
          for (const watch of [...watches.open]) {
            if (watch.started) continue;
            if (watches.due(watch)) await watches.pull(watch, label);
            else await watches.probe(watch, label);
          }
          // A slow reader: every started feed whose range takes these keys falls more than its buffer behind.
          const start = Math.floor(rng() * 3) * 5000;
          await write(Array.from({ length: FLOOD_KEYS }, (_, at): Operation => ({ type: 'put', key: `f/${String(start + at).padStart(5, '0')}`, value: at })));
          flooded = true;
          break;
        }
      }
      watches.prune();
      const watch = someWatch();
      if (watch !== undefined && rng() < 0.3 && watches.due(watch)) await watches.pull(watch, `${label} (after)`);
      await checkState(context, label);
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const watch of [...watches.open]) {
      while (watches.due(watch)) await watches.pull(watch, 'end');
      await watches.probe(watch, 'end');
    }
    await checkFromZero(context, watches);
  } catch (error) {
    if (error instanceof Error) error.message += `\n  log: ${log.slice(-60).join(' | ')}`;
    throw error;
  } finally {
    await context.store.close().catch(() => undefined);
    vi.restoreAllMocks();
  }
  return { log, model };
}

/** After every step: the version, a few keys, and the live leases. */
async function checkState(context: LeaseContext, label: string): Promise<void> {
  const { store, model, rng } = context;
  expect(store.version, `${label}: store.version`).toBe(model.version);
  for (const key of [pick(rng, KEYS), pick(rng, KEYS)]) expect(await store.get(key), `${label}: get ${key.slice(0, 12)}`).toEqual(model.valueOf(key));
  if (rng() < 0.3) await leaseReadStep(context, `${label} (after)`);
  const name = pick(rng, LEASE_NAMES);
  expect((await store.leases.get(name))?.token, `${label}: leases.get ${name}`).toBe(model.live(name)?.token);
}

/** At the end: a watch from 0 (or from the floor) to the current version, lease records included, delivers every change once. */
async function checkFromZero(context: LeaseContext, watches: Watches): Promise<void> {
  const { store, model } = context;
  if (model.version === 0) return;
  const since = model.floor;
  const feed = store.watch({ sinceVersion: since, untilVersion: model.version, includeReserved: true });
  const watch = watches.add(feed, { since, until: model.version, includeReserved: true });
  while (watches.due(watch)) await watches.pull(watch, `end: watch from ${since}`);
  expect(watch.dead, 'end: the watch from the floor ended').toBe(true);
}

/** Drops steps one at a time while the sequence still fails the same way (model-sequences.ts); returns the smallest found. */
export function shrinkSteps(config: Config, steps: Step[]): Promise<{ steps: Step[]; error: unknown }> {
  const signature = (error: unknown) => String((error as Error).message ?? error).split('\n')[0]!.replace(/^step \d+ \w+/, '').replace(/\d+/g, '#').slice(0, 80);
  return shrinkSequence((candidate) => runSteps(config, candidate), steps, signature);
}
