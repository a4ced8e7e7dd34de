/**
 * The random driver of model-backup-parity-random.test.ts: seeded steps of writes,
 * checkpoints, compactions, online backups with writes in flight, restores of an earlier
 * backup (damaged or not), damage to the store's run files (one page per stripe, two in
 * a stripe, the footer) and manifest, scrubs, verify-and-repair reopens and crashes, on
 * the fault file system at the smallest memory budget. After every step the store's
 * reads answer the model (model-backup-parity-checks.ts). Each step has its own seed,
 * so a failing sequence shrinks by dropping steps (shrinkSteps).
 */
import { expect } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { verifyStore } from '../src/store/verify-store.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { hexOf, Model, type Operation } from './model-review-model.js';
import { brief, pick, random, type Random, value } from './model-review-driver.js';
import { checkCurrent, keyText } from './model-backup-parity-checks.js';
import { damageStore, scrubAndCheck, type StoreDamage } from './model-backup-parity-store-damage.js';
import { restoreStep, type HeldBackup } from './model-backup-parity-restore.js';
import { shrinkSequence } from './model-sequences.js';

export const STORE = '/db';
export const STEP_KINDS = ['put', 'put', 'del', 'batch', 'bulk', 'bulk', 'tx', 'checkpoint', 'compact', 'backup', 'backup', 'restore', 'restore', 'restore',
  'damage', 'damage', 'damageTwo', 'damageFooter', 'damageManifest', 'scrub', 'scrubBusy', 'reopen', 'verifyRepair', 'crash'] as const;
export type StepKind = typeof STEP_KINDS[number];
export interface Step { kind: StepKind; seed: number }
export interface Config { seed: number; maxVersionsPerKey: number }

export function makeSteps(seed: number, count: number): Step[] {
  const rng = random(seed);
  return Array.from({ length: count }, () => ({ kind: pick(rng, STEP_KINDS), seed: Math.floor(rng() * 2 ** 31) }));
}

export function makeConfig(seed: number): Config {
  const rng = random(seed * 7919 + 3);
  return { seed, maxVersionsPerKey: pick(rng, [Infinity, Infinity, 1, 2, 3]) };
}

export interface Run {
  fileSystem: FaultFileSystem;
  store: Store;
  model: Model;
  config: Config;
  keys: string[];
  backups: HeldBackup[];
  /** Store damage parity can rebuild, not yet checked by a scrub. */
  pending: StoreDamage[];
  /** Names of every run file ever damaged: a linked backup keeps a run's damage when compaction removes it from the store before any repair. */
  damagedEver: Set<string>;
  log: string[];
  counter: number;
  open(directory?: string): Promise<Store>;
}

const KEYS = Array.from({ length: 24 }, (_, index) => hexOf(`k${String(index).padStart(2, '0')}`));

/** Every fixed key at `share`, and as many of the bulk keys. */
export function sampleKeys(run: Run, rng: Random, share: number): string[] {
  return [...new Set([...KEYS, ...run.model.changes.keys()])].filter(() => rng() < share);
}

async function write(run: Run, rng: Random, operations: Operation[]): Promise<void> {
  if (operations.length === 0) return;
  run.log.push(`  write ${brief(operations.slice(0, 2))}${operations.length > 2 ? ` +${operations.length - 2}` : ''}`);
  const { store } = run;
  const only = operations[0]!;
  const { version } = operations.length === 1 && rng() < 0.7
    ? (only.type === 'put' ? await store.put(keyText(only.key), only.value) : await store.delete(keyText(only.key)))
    : await store.batch(operations.map((operation) => ({ ...operation, key: keyText(operation.key) })));
  run.model.commit(version, operations);
}

const randomOperation = (rng: Random): Operation => (rng() < 0.8 ? { type: 'put', key: pick(rng, KEYS), value: value(rng) } : { type: 'del', key: pick(rng, KEYS) });

function bulkOperations(rng: Random): Operation[] {
  const count = 50 + Math.floor(rng() * 250);
  const start = Math.floor(rng() * 300);
  const remove = rng() < 0.2;
  return Array.from({ length: count }, (_, index): Operation => {
    const key = hexOf(`m/${String((start + index) % 300).padStart(3, '0')}`);
    return remove ? { type: 'del', key } : { type: 'put', key, value: rng() < 0.8 ? { index, text: 'b'.repeat(Math.floor(rng() * 300)) } : 'v'.repeat(3000) };
  });
}

/** A backup taken while 0-4 writes are in flight: its version lies between the state before and after them. */
async function backupStep(run: Run, rng: Random, label: string): Promise<void> {
  const directory = `/backups/b${++run.counter}`;
  const link = rng() < 0.5;
  const before = run.model.version;
  const pending = Array.from({ length: Math.floor(rng() * 5) }, () => Array.from({ length: 1 + Math.floor(rng() * 3) }, () => randomOperation(rng)));
  const backup = run.store.backup(directory, { link });
  // compact() waits for a running backup; started beside it, it must not change what the backup holds.
  const compaction = rng() < 0.3 ? run.store.compact() : undefined;
  const writes = pending.map((operations) => run.store.batch(operations.map((operation) => ({ ...operation, key: keyText(operation.key) }))));
  const [result, ...acknowledged] = await Promise.all([backup, ...writes]);
  await compaction;
  acknowledged.map((answer, index) => ({ version: answer.version, operations: pending[index]! }))
    .sort((left, right) => left.version - right.version)
    .forEach(({ version, operations }) => run.model.commit(version, operations));
  run.log.push(`  backup ${directory} link ${link} version ${result.version} (before ${before}, after ${run.model.version}, ${pending.length} writes in flight)`);
  expect(result.version, `${label}: backup version below what was acknowledged before it`).toBeGreaterThanOrEqual(before);
  expect(result.version, `${label}: backup version above every commit`).toBeLessThanOrEqual(run.model.version);
  run.backups.push({ directory, version: result.version, link });
}

async function reopen(run: Run, label: string, verify: boolean): Promise<void> {
  await run.store.close();
  if (verify) {
    const report = await verifyStore(STORE, { fileSystem: run.fileSystem });
    const damagedFiles = new Set(run.pending.map((damage) => damage.file));
    run.log.push(`  verify ok ${report.ok}: ${brief(report.runs.problems.map((problem) => `${problem.file}@${problem.offset}`))}`);
    for (const problem of report.runs.problems) expect(damagedFiles.has(problem.file), `${label}: verify names undamaged ${problem.file}: ${problem.reason}`).toBe(true);
    expect(report.manifest?.problems ?? [], `${label}: verify manifest problems`).toEqual([]);
    if (damagedFiles.size === 0) expect(report.ok, `${label}: verify of an undamaged store: ${brief(report)}`).toBe(true);
    // `ladybug repair`: open with repair, then scrub, which must leave nothing unrecoverable.
    run.store = await openStore(STORE, { ...storeOptions(run), repair: true });
    await scrubAndCheck(run, `${label} repair`);
  } else {
    run.store = await run.open();
  }
}

const storeOptions = (run: Run) => ({ fileSystem: run.fileSystem, maxVersionsPerKey: run.config.maxVersionsPerKey, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, segmentSizeBytes: 1024 * 1024 });

async function crash(run: Run, rng: Random, label: string): Promise<void> {
  const pending = Array.from({ length: Math.floor(rng() * 3) }, () => Array.from({ length: 1 + Math.floor(rng() * 3) }, () => randomOperation(rng)));
  const promises = pending.map((operations) => run.store.batch(operations.map((operation) => ({ ...operation, key: keyText(operation.key) }))));
  for (const promise of promises) promise.catch(() => undefined);
  await Promise.resolve();
  run.store[abandonStore]();
  run.fileSystem = run.fileSystem.crash(pick(rng, ['drop-unsynced', 'torn-last-write', 'random-subset'] as CrashMode[]));
  run.store = await run.open();
  const survived = run.store.version - run.model.version;
  run.log.push(`  crash: ${pending.length} in flight, ${survived} survived`);
  expect(survived, `${label}: acknowledged commits lost`).toBeGreaterThanOrEqual(0);
  expect(survived, `${label}: more commits than submitted`).toBeLessThanOrEqual(pending.length);
  for (let at = 0; at < survived; at++) run.model.commit(run.model.version + 1, pending[at]!);
}

async function transaction(run: Run, rng: Random): Promise<void> {
  const [read, target] = [pick(rng, KEYS), pick(rng, KEYS)];
  const stored = value(rng);
  await run.store.transaction(async (tx) => {
    expect(await tx.get(keyText(read)), 'tx read').toEqual(run.model.valueAt(read, run.model.version));
    tx.put(keyText(target), stored);
  });
  run.model.commit(run.store.version, [{ type: 'put', key: target, value: stored }]);
}

export async function runSteps(config: Config, steps: readonly Step[]): Promise<{ log: string[] }> {
  const run: Run = {
    fileSystem: new FaultFileSystem(config.seed), store: undefined as unknown as Store, model: new Model(config.maxVersionsPerKey), config,
    keys: KEYS, backups: [], pending: [], damagedEver: new Set(), log: [], counter: 0,
    open: (directory = STORE) => openStore(directory, storeOptions(run)),
  };
  run.store = await run.open();
  try {
    for (const [index, step] of steps.entries()) {
      const rng = random(step.seed);
      const label = `step ${index} ${step.kind}`;
      run.log.push(label);
      switch (step.kind) {
        case 'put': await write(run, rng, [{ type: 'put', key: pick(rng, KEYS), value: value(rng) }]); break;
        case 'del': await write(run, rng, [{ type: 'del', key: pick(rng, KEYS) }]); break;
        case 'batch': await write(run, rng, Array.from({ length: 1 + Math.floor(rng() * 6) }, () => randomOperation(rng))); break;
        case 'bulk': await write(run, rng, bulkOperations(rng)); break;
        case 'tx': await transaction(run, rng); break;
        case 'checkpoint': expect((await run.store.checkpoint()).flushedVersion, `${label}: flushedVersion`).toBe(run.model.version); break;
        case 'compact': await run.store.compact(); break;
        case 'backup': await backupStep(run, rng, label); break;
        case 'restore': await restoreStep(run, rng, label); break;
        case 'damage': case 'damageTwo': case 'damageFooter': case 'damageManifest': await damageStore(run, rng, step.kind, label); break;
        case 'scrub': await scrubAndCheck(run, label); break;
        case 'scrubBusy': await scrubAndCheck(run, label, async () => {
          // Writes that flush and a compaction that replaces runs while the scrub reads them.
          await write(run, rng, bulkOperations(rng));
          await run.store.compact();
        }); break;
        case 'reopen': await reopen(run, label, false); break;
        case 'verifyRepair': await reopen(run, label, true); break;
        case 'crash': await crash(run, rng, label); break;
      }
      await checkCurrent(run.store, run.model, sampleKeys(run, rng, 0.3), new Set(), `${label} (after)`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await scrubAndCheck(run, 'end');
    await checkCurrent(run.store, run.model, [...run.model.changes.keys()], new Set(), 'end');
  } catch (error) {
    if (error instanceof Error) error.message += `\n  log: ${run.log.join(' | ')}`;
    throw error;
  } finally {
    await run.store.close().catch(() => undefined);
  }
  return { log: run.log };
}

/** Drops steps one at a time while the sequence still fails the same way (model-sequences.ts); returns the smallest found. */
export function shrinkSteps(config: Config, steps: Step[]): Promise<{ steps: Step[]; error: unknown }> {
  const signature = (error: unknown) => String((error as Error).message ?? error).split('\n')[0]!.replace(/^step \d+ \w+/, '').replace(/[0-9a-f]{6,}|\d+/g, '#').slice(0, 80);
  return shrinkSequence((candidate) => runSteps(config, candidate), steps, signature);
}

