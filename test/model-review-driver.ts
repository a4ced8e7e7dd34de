/**
 * The random driver of model-review-random.test.ts: a seeded sequence of steps (writes,
 * transactions, snapshots, scans held open across writes, checkpoints, compactions,
 * reopens, crashes) run against the store and the model of model-review-model.ts, every
 * read compared. A sequence is a list of steps, each with its own seed, so a failing
 * one shrinks by dropping steps (shrinkSteps).
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import { openStore, type ScanOptions, type Store, type StoreSnapshot } from '../src/index.js';
import { type CrashMode, FaultFileSystem } from '../src/fs/fault-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { type Bounds, checkScan, hexOf, Model, type Operation, type ScanOutcome } from './model-review-model.js';
import { checkTransaction, TRANSACTION_STEPS, type TransactionStep } from './model-review-transactions.js';
import { faultStep } from './model-review-faults.js';
import { shrinkSequence } from './model-sequences.js';

export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 2 ** 32;
  };
}
export type Random = () => number;
/** JSON with long strings and byte arrays cut, for messages. */
export const brief = (item: unknown): string => JSON.stringify(item, (_, value: unknown) => (typeof value === 'string' && value.length > 40 ? `${value.slice(0, 8)}..(${value.length})` : value instanceof Uint8Array ? `bytes(${value.length})` : typeof value === 'bigint' ? `${value}n` : value));
export const pick = <T>(rng: Random, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

const UTF8_KEYS = ['a', 'ab', 'a\u0000', 'b', '\u00e9', '\u{1F600}', '\uFFFF', 'z', 'L'.repeat(1000) + '1', 'L'.repeat(1000) + '2', 'k'.repeat(1024), '\u0001'];
const BINARY_KEYS = [[0xff], [0x00, 0xff, 0x01], [0x80], [0x61, 0xfe]].map((bytes) => Buffer.from(bytes).toString('hex'));

export interface Config {
  seed: number;
  maxVersionsPerKey: number;
  memoryBudgetBytes: number | undefined;
  binary: boolean;
}

export const STEP_KINDS = ['put', 'put', 'put', 'del', 'batch', 'concurrent', ...TRANSACTION_STEPS, 'snapshot', 'snapshotRead', 'release',
  'openScan', 'drainScan', 'read', 'checkpoint', 'compact', 'retainFrom', 'reopen', 'crash', 'crashInFlight', 'fault', 'bulk'] as const;
export type StepKind = typeof STEP_KINDS[number];
export interface Step { kind: StepKind; seed: number }

export function makeSteps(seed: number, count: number): Step[] {
  const rng = random(seed);
  return Array.from({ length: count }, () => ({ kind: pick(rng, STEP_KINDS), seed: Math.floor(rng() * 2 ** 31) }));
}

export function makeConfig(seed: number): Config {
  const rng = random(seed * 7919 + 1);
  return { seed, maxVersionsPerKey: pick(rng, [Infinity, Infinity, 1, 2, 3]), memoryBudgetBytes: pick(rng, [MEMORY_BUDGET_BYTES_MIN, MEMORY_BUDGET_BYTES_MIN, undefined]), binary: rng() < 0.3 };
}

export function value(rng: Random): unknown {
  switch (Math.floor(rng() * 9)) {
    case 0: return Math.floor(rng() * 1000) - 500;
    case 1: return 's' + Math.floor(rng() * 1e6);
    case 2: return { n: Math.floor(rng() * 100), list: [1, 'two', null], nested: { b: rng() < 0.5 } };
    case 3: return Uint8Array.from({ length: Math.floor(rng() * 8) }, () => Math.floor(rng() * 256));
    case 4: return 'x'.repeat(4000 + Math.floor(rng() * 36000));
    case 5: return Uint8Array.from({ length: 9000 + Math.floor(rng() * 20000) }, (_, index) => index & 0xff);
    case 6: return null;
    case 7: return BigInt(Math.floor(rng() * 1e9)) * 1_000_000_007n;
    default: return '';
  }
}

export interface Context {
  store: Store;
  model: Model;
  config: Config;
  keys: string[];
  rng: Random;
  log: string[];
  /** The store's argument form of a model key (its bytes, or the string they encode). */
  keyArgument(key: string): string | Uint8Array;
}

interface OpenScan { iterator: AsyncIterator<[string | Uint8Array, unknown]>; entries: Array<[string, unknown]>; bounds: Bounds; reverse: boolean; limit: number; version: number; done: boolean }
interface HeldSnapshot { snapshot: StoreSnapshot; version: number }

function randomBounds(context: Context): Bounds {
  const { rng, keys } = context;
  const bound = () => (rng() < 0.7 ? pick(rng, keys) : hexOf(pick(rng, ['aa', 'c', '\u0000', 'L', 'Lz', '\u{10FFFF}', 'm/', 'm/1', 'm/15', 'm/2', 'm/299', 'm0'])));
  const bounds: Bounds = {};
  const lower = Math.floor(rng() * 3);
  if (lower === 1) bounds.gt = bound(); else if (lower === 2) bounds.gte = bound();
  const upper = Math.floor(rng() * 3);
  if (upper === 1) bounds.lt = bound(); else if (upper === 2) bounds.lte = bound();
  return bounds;
}

function scanOptions(context: Context, bounds: Bounds): ScanOptions {
  const options: ScanOptions = {};
  for (const [name, key] of Object.entries(bounds)) (options as Record<string, unknown>)[name] = context.keyArgument(key as string);
  return options;
}

async function collect(iterable: AsyncIterable<[string | Uint8Array, unknown]>, into: Array<[string, unknown]> = []): Promise<ScanOutcome> {
  try {
    for await (const [key, stored] of iterable) into.push([hexOf(key), stored]);
  } catch (error) {
    const key = (error as { key?: string | Uint8Array }).key;
    return { entries: into, error, ...(key === undefined ? {} : { errorKey: hexOf(key) }) };
  }
  return { entries: into };
}

async function expectAsOf(context: Context, key: string, version: number, label: string): Promise<void> {
  const { store, model } = context;
  const rule = model.rule(key, version);
  let answer: unknown;
  let error: unknown;
  try {
    answer = await store.get(context.keyArgument(key), { asOf: version });
  } catch (caught) {
    error = caught;
  }
  const where = `${label}: get ${key.slice(0, 24)} asOf ${version} (now ${model.version}, floor ${model.floor}, rule ${rule})`;
  if (error !== undefined) {
    expect((error as { code?: string }).code, `${where}: ${String(error)}`).toBe('LADYBUG_VERSION_NOT_RETAINED');
    expect(rule, where).not.toBe('exact');
  } else {
    expect(rule, `${where}: answered, but the floor says it must fail`).not.toBe('error');
    expect(answer, where).toEqual(model.valueAt(key, version));
  }
}

/** Random reads at the current state, and as-of reads; all of them when `full`. */
export async function checkReads(context: Context, full: boolean, label: string): Promise<void> {
  const { store, model, rng, keys } = context;
  expect(store.version, `${label}: store.version`).toBe(model.version);
  const chosen = full ? keys : [pick(rng, keys), pick(rng, keys)];
  for (const key of chosen) {
    expect(await store.get(context.keyArgument(key)), `${label}: get ${key.slice(0, 24)}`).toEqual(model.valueAt(key, model.version));
    const limit = rng() < 0.3 ? 1 + Math.floor(rng() * 2) : undefined;
    const history = await store.history(context.keyArgument(key), limit === undefined ? undefined : { limit });
    model.expectHistory(history, key, model.version, limit ?? Infinity, `${label}: history ${key.slice(0, 24)} limit ${limit} floor ${model.floor} changes ${brief(model.changes.get(key))} got ${brief(history)}`);
    const versions = full ? Array.from({ length: model.version + 1 }, (_, version) => version) : [Math.floor(rng() * (model.version + 1))];
    for (const version of versions) await expectAsOf(context, key, version, label);
  }
  for (let index = 0; index < (full ? 6 : 1); index++) {
    const bounds = randomBounds(context);
    const reverse = rng() < 0.5;
    const limit = rng() < 0.3 ? Math.floor(rng() * 4) : Infinity;
    const asOf = rng() < 0.4 ? Math.floor(rng() * (model.version + 1)) : undefined;
    const options = { ...scanOptions(context, bounds), reverse, ...(limit === Infinity ? {} : { limit }), ...(asOf === undefined ? {} : { asOf }) };
    const outcome = await collect(store.scan(options));
    checkScan(model, outcome, bounds, reverse, limit, asOf ?? model.version, model.version, `${label}: scan ${JSON.stringify(options)}`);
  }
}

async function checkSnapshot(context: Context, held: HeldSnapshot, label: string): Promise<void> {
  const { model, rng, keys } = context;
  expect(held.snapshot.version).toBe(held.version);
  for (const key of keys) {
    expect(await held.snapshot.get(context.keyArgument(key)), `${label}: snapshot@${held.version} get ${key.slice(0, 24)}`).toEqual(model.valueAt(key, held.version));
    const history = await held.snapshot.history(context.keyArgument(key));
    model.expectHistory(history, key, held.version, Infinity, `${label}: snapshot@${held.version} history ${key.slice(0, 24)} floor ${model.floor} changes ${brief(model.changes.get(key))} got ${brief(history)}`);
  }
  const bounds = randomBounds(context);
  const reverse = rng() < 0.5;
  const outcome = await collect(held.snapshot.scan({ ...scanOptions(context, bounds), reverse }));
  checkScan(model, outcome, bounds, reverse, Infinity, held.version, held.version, `${label}: snapshot@${held.version} scan ${JSON.stringify(bounds)}`, true);
}

async function drainScan(context: Context, scan: OpenScan, label: string): Promise<void> {
  const outcome = await collect({ [Symbol.asyncIterator]: () => scan.iterator }, scan.entries);
  checkScan(context.model, outcome, scan.bounds, scan.reverse, scan.limit, scan.version, scan.version, `${label}: scan opened at ${scan.version} ${brief(scan.bounds)} reverse ${scan.reverse}`, true);
}

export async function runSteps(config: Config, steps: readonly Step[]): Promise<{ log: string[]; model: Model }> {
  let fileSystem = new FaultFileSystem(config.seed);
  const options = { fileSystem, maxVersionsPerKey: config.maxVersionsPerKey, segmentSizeBytes: 1024 * 1024, ...(config.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: config.memoryBudgetBytes }), ...(config.binary ? { keyEncoding: 'binary' as const } : {}) };
  const open = () => openStore('/db', { ...options, fileSystem });
  const keyRng = random(config.seed * 31 + 7);
  const pool = UTF8_KEYS.map((key) => hexOf(key)).concat(config.binary ? BINARY_KEYS : []);
  const keys = pool.filter(() => keyRng() < 0.6);
  if (keys.length < 3) keys.push(...pool.slice(0, 3));
  const model = new Model(config.maxVersionsPerKey);
  const log: string[] = [];
  const context: Context = {
    store: await open(), model, config, keys, rng: random(1), log,
    keyArgument: (key) => (config.binary || keyRng() < 0.3 ? Buffer.from(key, 'hex') : Buffer.from(key, 'hex').toString('utf8')),
  };
  const snapshots: HeldSnapshot[] = [];
  const scans: OpenScan[] = [];
  const settleHeld = async (label: string) => {
    for (const scan of scans.splice(0)) await drainScan(context, scan, label);
    for (const held of snapshots.splice(0)) {
      await checkSnapshot(context, held, label);
      await held.snapshot.release();
    }
  };
  try {
    for (const [index, step] of steps.entries()) {
      const rng = random(step.seed);
      context.rng = rng;
      const label = `step ${index} ${step.kind}`;
      log.push(label);
      const { store } = context;
      const write = async (operations: Operation[]) => {
        log.push(`  write ${brief(operations.slice(0, 3))}${operations.length > 3 ? ` and ${operations.length - 3} more` : ''}`);
        const { version } = operations.length === 1
          ? (operations[0]!.type === 'put' ? await store.put(context.keyArgument(operations[0]!.key), operations[0]!.value) : await store.delete(context.keyArgument(operations[0]!.key)))
          : await store.batch(operations.map((operation) => ({ ...operation, key: context.keyArgument(operation.key) })));
        if (operations.length > 0) model.commit(version, operations);
      };
      const randomOperation = (): Operation => (rng() < 0.75 ? { type: 'put', key: pick(rng, keys), value: value(rng) } : { type: 'del', key: pick(rng, keys) });
      switch (step.kind) {
        case 'put': await write([{ type: 'put', key: pick(rng, keys), value: value(rng) }]); break;
        case 'del': await write([{ type: 'del', key: pick(rng, keys) }]); break;
        case 'batch': await write(Array.from({ length: Math.floor(rng() * 6) }, randomOperation)); break;
        case 'concurrent': {
          const operations = Array.from({ length: 2 + Math.floor(rng() * 4) }, randomOperation);
          const results = await Promise.all(operations.map((operation) => operation.type === 'put' ? store.put(context.keyArgument(operation.key), operation.value) : store.delete(context.keyArgument(operation.key))));
          results.forEach((result, at) => model.commit(result.version, [operations[at]!]));
          break;
        }
        case 'snapshot': if (snapshots.length < 3) snapshots.push({ snapshot: await store.snapshot(), version: model.version }); break;
        case 'snapshotRead': if (snapshots.length > 0) await checkSnapshot(context, pick(rng, snapshots), label); break;
        case 'release': if (snapshots.length > 0) await snapshots.splice(Math.floor(rng() * snapshots.length), 1)[0]!.snapshot.release(); break;
        case 'openScan': {
          if (scans.length >= 3) break;
          const bounds = randomBounds(context);
          const reverse = rng() < 0.5;
          const limit = rng() < 0.3 ? 1 + Math.floor(rng() * 4) : Infinity;
          const iterator = store.scan({ ...scanOptions(context, bounds), reverse, ...(limit === Infinity ? {} : { limit }) })[Symbol.asyncIterator]();
          const scan: OpenScan = { iterator, entries: [], bounds, reverse, limit, version: model.version, done: false };
          for (let pulled = Math.floor(rng() * 3); pulled > 0; pulled--) {
            const next = await iterator.next();
            if (next.done === true) {
              scan.done = true;
              break;
            }
            scan.entries.push([hexOf(next.value[0]), next.value[1]]);
          }
          scans.push(scan);
          log.push(`  scan at ${scan.version} ${brief(bounds)} reverse ${reverse} limit ${limit} pulled ${brief(scan.entries.map((entry) => entry[0]))}`);
          break;
        }
        case 'drainScan': if (scans.length > 0) await drainScan(context, scans.splice(Math.floor(rng() * scans.length), 1)[0]!, label); break;
        case 'read': await checkReads(context, rng() < 0.2, label); break;
        case 'checkpoint': expect((await store.checkpoint()).flushedVersion, `${label}: flushedVersion`).toBe(model.version); break;
        case 'compact': {
          const bounds = rng() < 0.5 ? {} : { gte: context.keyArgument(pick(rng, keys)) };
          await store.compact(bounds);
          break;
        }
        case 'retainFrom': {
          const retainFrom = Math.floor(rng() * (model.version + 1));
          const result = await store.compact({ retainFrom });
          expect(result.retentionFloor, `${label}: floor ${result.retentionFloor} above retainFrom ${retainFrom}`).toBeLessThanOrEqual(Math.max(retainFrom, model.floor));
          expect(result.retentionFloor, `${label}: floor lowered`).toBeGreaterThanOrEqual(model.floor);
          for (const pinned of [...snapshots.map((held) => held.version), ...scans.filter((scan) => !scan.done).map((scan) => scan.version)]) expect(result.retentionFloor, `${label}: floor above a pinned reader`).toBeLessThanOrEqual(pinned);
          log.push(`  retainFrom ${retainFrom} -> floor ${result.retentionFloor}`);
          model.floor = result.retentionFloor;
          break;
        }
        case 'reopen': {
          await settleHeld(label);
          // A failure the close's checkpoint meets (a WAL segment made ahead that failed: it is
          // final, met at the rotation) is reported by that close; called again, it closes
          // without a checkpoint, the WAL keeping the data (test/wal-close-preparing.test.ts).
          await store.close().catch(async (error: unknown) => {
            expect((error as { code?: string }).code, `${label}: close: ${String(error)}`).toBe('LADYBUG_STORE_FAILED');
            log.push(`  close: ${(error as Error).message.slice(0, 120)}`);
            await store.close();
          });
          context.store = await open();
          break;
        }
        case 'crash':
        case 'crashInFlight': {
          await settleHeld(label);
          const pending = step.kind === 'crashInFlight' ? Array.from({ length: 1 + Math.floor(rng() * 3) }, () => Array.from({ length: 1 + Math.floor(rng() * 3) }, randomOperation)) : [];
          const promises = pending.map((operations) => store.batch(operations.map((operation) => ({ ...operation, key: context.keyArgument(operation.key) }))));
          for (const promise of promises) promise.catch(() => undefined);
          await Promise.resolve();
          store[abandonStore]();
          fileSystem = fileSystem.crash(pick(rng, ['drop-unsynced', 'torn-last-write', 'random-subset'] as CrashMode[]));
          context.store = await open();
          const survived = context.store.version - model.version;
          log.push(`  ${pending.length} batches in flight, ${survived} survived`);
          expect(survived, `${label}: more commits than were submitted`).toBeLessThanOrEqual(pending.length);
          expect(survived, `${label}: acknowledged commits lost`).toBeGreaterThanOrEqual(0);
          for (let at = 0; at < survived; at++) model.commit(model.version + 1, pending[at]!);
          break;
        }
        case 'bulk': {
          // Hundreds of keys, so scans cross their 256-key chunks while writes, flushes and merges go on.
          const count = 100 + Math.floor(rng() * 300);
          const start = Math.floor(rng() * 300);
          const remove = rng() < 0.3;
          await write(Array.from({ length: count }, (_, index): Operation => {
            const key = hexOf(`m/${String((start + index) % 400).padStart(3, '0')}`);
            return remove ? { type: 'del', key } : { type: 'put', key, value: rng() < 0.9 ? index : 'v'.repeat(200) };
          }));
          break;
        }
        case 'fault': {
          await settleHeld(label);
          await faultStep(context, {
            inject: (injection) => void fileSystem.injectFault(injection),
            clear: () => fileSystem.clearFaults(),
            crashAndReopen: async (mode) => {
              context.store[abandonStore]();
              fileSystem = fileSystem.crash(mode);
              context.store = await open();
            },
          }, label);
          break;
        }
        default: await checkTransaction(context, step.kind as TransactionStep, label);
      }
      await checkReads(context, false, `${label} (after)`);
      // The fault file system answers in microtasks: let timers and vitest's RPC run.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await settleHeld('end');
    await checkReads(context, true, 'end');
    await checkWatch(context);
  } catch (error) {
    if (error instanceof Error) error.message += `\n  log: ${log.join(' | ')}`;
    throw error;
  } finally {
    await context.store.close().catch(() => undefined);
  }
  return { log, model };
}

/** With nothing reclaimed, a watch from version 0 delivers every change once, in version order. */
async function checkWatch(context: Context): Promise<void> {
  const { model, store } = context;
  if (model.version === 0 || model.floor > 0 || model.maxVersionsPerKey !== Infinity) return;
  const seen: Array<[number, string, unknown, boolean]> = [];
  for await (const change of store.watch({ sinceVersion: 0, untilVersion: model.version })) seen.push([change.version, hexOf(change.key), change.value, change.deleted]);
  const expected: Array<[number, string, unknown, boolean]> = [];
  for (const [key, list] of model.changes) for (const change of list) expected.push([change.version, key, change.value, change.deleted]);
  const order = (left: [number, string, unknown, boolean], right: [number, string, unknown, boolean]) => left[0] - right[0] || Buffer.compare(Buffer.from(left[1], 'hex'), Buffer.from(right[1], 'hex'));
  expect([...seen].sort(order), 'watch from 0').toEqual(expected.sort(order));
  expect(seen.map((change) => change[0]), 'watch order').toEqual(seen.map((change) => change[0]).sort((left, right) => left - right));
}

/** Drops steps one at a time while the sequence still fails the same way (model-sequences.ts); returns the smallest found. */
export function shrinkSteps(config: Config, steps: Step[]): Promise<{ steps: Step[]; error: unknown }> {
  const signature = (error: unknown) => String((error as Error).message ?? error).replace(/^[^:]*: /, '').replace(/[0-9a-f]{6,}|\d+/g, '#').slice(0, 60);
  return shrinkSequence((candidate) => runSteps(config, candidate), steps, signature);
}
