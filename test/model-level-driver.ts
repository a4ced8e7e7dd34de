/**
 * The level differential test: one seeded sequence of abstract-level calls run on a
 * ladybug-level database and on a classic-level (LevelDB) one, each result compared
 * (model-level-pool.ts has the keys, values and the compared form; model-level-steps.ts
 * draws each call). Every call runs on ladybug first, then on classic, never two at
 * once: the order of concurrent calls is not something the two promise alike.
 *
 * Where the two differ by design (README "Using it with level", "Keys"):
 * - a write of a key over the store's 1,024-byte limit or under its reserved prefix
 *   "\u0000ladybug/" is refused by ladybug (LADYBUG_INVALID_KEY) and not run on classic;
 *   so is a get/getMany/has/hasMany of a key over the limit, where classic answers
 *   "absent" (ladybug refuses it as it refuses its put; not spelled out in the README);
 * - `supports` differs in getSync (ladybug: no; store reads are asynchronous), abort
 *   signals on iterators, classic's additionalMethods, and the encodings classic takes
 *   natively (ladybug takes `view` and abstract-level transcodes the rest);
 * - events carry keys in each root's own format (see bytes()).
 * Where classic-level 3.0.0 itself is wrong, worked around so that ladybug is still checked:
 * - it aborts the process (LevelDB 1.20 db_iter.cc "Assertion `valid_' failed") on the
 *   next step after a seek() to a target outside the range when LevelDB's own iterator
 *   has no entry there, so seek targets are drawn inside the range
 *   (model-level-seek-range.test.ts covers those outside it, on both);
 * - its clear() misses keys when the empty key is stored (clearThroughIterator);
 * - its limit counts entries read ahead and dropped by a seek, so iterators with a limit
 *   do not seek; after a decode error its iterator ends (model-level-steps.ts, runActions).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LadybugLevel } from '../src/level/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { type ByteRange, chance, type Encoding, makeKeys, mulberry32, normal, normalError, pick, type Random, refusedKey } from './model-level-pool.js';
import { drawStep, type Step } from './model-level-steps.js';

/* The two databases meet through one loose type: their typings differ only in generics. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = any;

/** The sublevels every seed uses, by index: root, '!a!', '!a!!c!' (nested), '#b#' (another separator). */
export const SPACE_PREFIXES = ['', '!a!', '!a!!c!', '#b#'] as const;

export interface Side {
  readonly name: 'ladybug' | 'classic';
  root: Db;
  spaces: Db[];
  /** Iterators held open across steps, with the range and key encoding they were drawn with; the same index on both sides. */
  iterators: Array<{ iterator: Db; range: ByteRange; encoding: Encoding; seekable: boolean }>;
  snapshots: Db[];
  events: unknown[];
  hookCalls: number;
}

export interface Config {
  seed: number;
  keyEncoding: string;
  valueEncoding: string;
  hooks: boolean;
  memoryBudgetBytes: number | undefined;
  checkpointOnClose: boolean;
}

export function makeConfig(seed: number): Config {
  const rng = mulberry32(seed * 7919);
  return {
    seed,
    keyEncoding: pick(rng, ['buffer', 'utf8', 'view', 'hex']),
    valueEncoding: pick(rng, ['buffer', 'utf8', 'view', 'json']),
    hooks: chance(rng, 0.5),
    memoryBudgetBytes: chance(rng, 0.5) ? MEMORY_BUDGET_BYTES_MIN : undefined,
    checkpointOnClose: chance(rng, 0.5),
  };
}

function makeSpaces(root: Db, config: Config): Db[] {
  const encodings = { keyEncoding: config.keyEncoding, valueEncoding: config.valueEncoding };
  const a = root.sublevel('a', encodings);
  return [root, a, a.sublevel('c', encodings), root.sublevel('b', { ...encodings, separator: '#' })];
}

/** Keys and values in events: the root's format (a string in classic's utf8, a view in ladybug's), compared as bytes. */
function bytes(data: unknown): unknown {
  return normal(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

/**
 * The fields of a write event's operation both must agree on. Not its encodings: a
 * sublevel's write reaches the root transcoded to the root's preferred format (view for
 * ladybug, buffer for classic), so keys and values differ in type (a string in utf8), not in bytes.
 */
function writeEventOperation(operation: Db): unknown {
  return {
    type: operation.type,
    key: bytes(operation.key),
    value: bytes(operation.value),
    encodedKey: bytes(operation.encodedKey),
    encodedValue: bytes(operation.encodedValue),
    sublevel: operation.sublevel == null ? null : operation.sublevel.prefix,
  };
}

function attach(side: Side, config: Config): void {
  side.spaces = makeSpaces(side.root, config);
  side.root.on('write', (operations: Db[]) => side.events.push(['write', operations.map(writeEventOperation)]));
  side.root.on('clear', (options: Db) => side.events.push(['clear', Object.fromEntries(['gt', 'gte', 'lt', 'lte', 'limit', 'reverse'].map((name) => [name, bytes(options[name])]))]));
  if (!config.hooks) return;
  // Deterministic by call count, so both sides add the same operations when they see the same writes.
  side.root.hooks.prewrite.add((operation: Db, batch: Db) => {
    side.hookCalls++;
    if (operation.type === 'put' && side.hookCalls % 4 === 0) {
      batch.add({ type: 'put', key: Buffer.from(`hook${side.hookCalls % 7}`), value: Buffer.from('h'), keyEncoding: 'buffer', valueEncoding: 'buffer' });
    } else if (operation.type === 'del' && side.hookCalls % 3 === 0) {
      batch.add({ type: 'del', key: Buffer.from('a'), keyEncoding: 'buffer' });
    }
  });
}

export class Pair {
  readonly ladybug: Side;
  readonly classic: Side;
  readonly log: string[] = [];
  readonly config: Config;
  readonly #directories: string[];

  constructor(config: Config) {
    this.config = config;
    this.#directories = [mkdtempSync(join(tmpdir(), 'model-level-ladybug-')), mkdtempSync(join(tmpdir(), 'model-level-classic-'))];
    const [ladybugDirectory, classicDirectory] = this.#directories as [string, string];
    const encodings = { keyEncoding: config.keyEncoding, valueEncoding: config.valueEncoding };
    const store = { checkpointOnClose: config.checkpointOnClose, ...(config.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: config.memoryBudgetBytes }) };
    this.ladybug = this.#side('ladybug', new LadybugLevel(ladybugDirectory, { ...encodings, store }));
    this.classic = this.#side('classic', new ClassicLevel(classicDirectory, encodings));
    clearThroughIterator(this.classic.root);
  }

  #side(name: Side['name'], root: Db): Side {
    const side: Side = { name, root, spaces: [], iterators: [], snapshots: [], events: [], hookCalls: 0 };
    attach(side, this.config);
    return side;
  }

  /** Runs `call` on both sides in turn and throws unless their results agree. */
  async both(label: string, call: (side: Side) => Promise<unknown>): Promise<void> {
    this.log.push(label);
    if (process.env['MODEL_LEVEL_TRACE'] === '1') process.stderr.write(`seed ${this.config.seed}: ${label}\n`);
    const ladybug = await settle(() => call(this.ladybug));
    const classic = await settle(() => call(this.classic));
    const [left, right] = [JSON.stringify(ladybug), JSON.stringify(classic)];
    if (left !== right) this.fail(`results differ\n  ladybug ${left}\n  classic ${right}`);
    this.#compareEvents();
  }

  /** A write ladybug must refuse (`reason`, see refusedKey); classic is not asked. */
  async refused(label: string, reason: string, call: (side: Side) => Promise<unknown>): Promise<void> {
    this.log.push(`${label} (refused by ladybug: ${reason})`);
    const result = JSON.stringify(await settle(() => call(this.ladybug)));
    if (result.includes('"error:LEVEL_')) {
      // abstract-level refused the call before it reached the adapter (a closed snapshot, say): classic must too.
      const classic = JSON.stringify(await settle(() => call(this.classic)));
      if (classic !== result) this.fail(`results differ\n  ladybug ${result}\n  classic ${classic}`);
    } else if (!result.includes('LADYBUG_INVALID_KEY')) {
      this.fail(`ladybug did not refuse a key ${reason}: ${result}`);
    }
    this.classic.hookCalls = this.ladybug.hookCalls;
  }

  #compareEvents(): void {
    const [left, right] = [JSON.stringify(this.ladybug.events), JSON.stringify(this.classic.events)];
    if (left !== right) this.fail(`events differ\n  ladybug ${left}\n  classic ${right}`);
    this.ladybug.events.length = 0;
    this.classic.events.length = 0;
  }

  fail(message: string): never {
    throw new Error(`seed ${this.config.seed} ${JSON.stringify(this.config)}: ${message}\n  steps:\n    ${this.log.slice(-25).join('\n    ')}`);
  }

  /**
   * Closes both (with whatever they hold open) and opens them again; the sublevels are made
   * anew. The snapshots the close closed are dropped: classic-level aborts the process on an
   * iterator through one (LevelDB 1.20 dbformat.cc "Assertion `seq <= kMaxSequenceNumber'").
   * The closed iterators stay, their next steps compared.
   */
  async reopen(): Promise<void> {
    await this.both('reopen', async (side) => {
      await side.root.close();
      const closed = side.root.status;
      side.snapshots.length = 0;
      await side.root.open();
      side.spaces = makeSpaces(side.root, this.config);
      await openSpaces(side);
      return [closed, side.root.status];
    });
  }

  async dispose(): Promise<void> {
    for (const side of [this.ladybug, this.classic]) await side.root.close().catch(() => undefined);
    for (const directory of this.#directories) rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * A sublevel opens a few ticks after its root, and a chained batch() of one still opening
 * throws LEVEL_DATABASE_NOT_OPEN: how many ticks differs between the two databases.
 */
async function openSpaces(side: Side): Promise<void> {
  await Promise.all(side.spaces.map((space) => space.open()));
}

/**
 * classic-level 3.0.0's native clear() misses keys when the empty key is stored: over
 * '', 'a', 'b' it deletes nothing for { lt: 'a' }, { lte: '' } or { limit: 1 } (its own
 * iterators over those ranges are right). Its clear is replaced by one through its
 * iterator (range, limit, reverse, snapshot as given) and its internal batch (no write
 * event, no hook, as a clear has neither), so the model compares ladybug's clear with
 * what the range holds.
 */
function clearThroughIterator(classic: Db): void {
  classic._clear = async function clear(this: Db, options: Db): Promise<void> {
    // Only the options given (classic-level reads a range option given as undefined as a
    // bound), and bounds as bytes: the keys must come back as bytes, not lossy utf8 strings.
    const given = Object.entries(options).filter(([name, value]) => value !== undefined && ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse', 'snapshot'].includes(name));
    const asBytes = given.map(([name, value]) => [name, typeof value === 'string' || value instanceof Uint8Array ? Buffer.from(value as string) : value]);
    const keys: unknown[] = await this.keys({ ...Object.fromEntries(asBytes), keyEncoding: 'buffer' }).all();
    if (keys.length > 0) await this._batch(keys.map((key) => ({ type: 'del', key })), {});
  };
}

async function settle(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return normal(await call());
  } catch (error) {
    return normalError(error);
  }
}

/** The whole root, every entry as bytes: compared every few steps and at the end. */
export async function compareAll(pair: Pair): Promise<void> {
  await pair.both('dump', (side) => side.root.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' }).all());
}

/** Runs `steps` drawn steps of `seed`; throws on the first difference, naming the steps before it. */
export async function runSeed(seed: number, steps: number): Promise<void> {
  const config = makeConfig(seed);
  const rng: Random = mulberry32(seed);
  const keys = makeKeys(rng);
  const pair = new Pair(config);
  try {
    await pair.both('open', async (side) => {
      await side.root.open();
      await openSpaces(side);
      return side.root.status;
    });
    for (let index = 0; index < steps; index++) {
      const step: Step = drawStep(rng, keys, pair);
      const reason = step.refusedKeys.map((key) => refusedKey(key)).find((found) => found !== undefined);
      if (step.kind === 'reopen') await pair.reopen();
      else if (reason !== undefined) await pair.refused(step.label, reason, step.call);
      else await pair.both(step.label, step.call);
      if (index % 10 === 9) await compareAll(pair);
    }
    await compareAll(pair);
  } finally {
    await pair.dispose();
  }
}
