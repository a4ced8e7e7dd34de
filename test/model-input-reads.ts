/**
 * The read and maintenance calls of the input fuzz (model-input-fuzz.test.ts): get,
 * history and scan with generated keys, bounds and options; a snapshot read, released
 * or not; checkpoint, compact and stats with bad arguments; openStore with a bad or
 * borderline option on a directory of its own. Each computes from the README what the
 * call must do and judges its end; an answer must be the model's.
 */
import fc from 'fast-check';
import { ErrorCode, openStore, type KeyEncoding } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { keyRecipe, keyVerdict, makeKey, type KeyRecipe } from './model-input-keys.js';
import { expectEqual, expectScan, type ScanRange } from './model-input-model.js';
import { makeNumber, numberRecipe, oddRecipe, validAsOf, validLimit, validRetainFrom, type NumberRecipe, type OddName } from './model-input-numbers.js';
import { expectAsync, expectRefusedWith, expectSync, refusalOf, settle } from './model-input-settle.js';
import type { FuzzContext } from './model-input-writes.js';

type Bound = 'gt' | 'gte' | 'lt' | 'lte';

export type ReadCall =
  | { call: 'get'; key: KeyRecipe; asOf?: NumberRecipe; typo?: boolean }
  | { call: 'history'; key: KeyRecipe; limit?: NumberRecipe; typo?: boolean }
  | { call: 'scan'; bounds: Partial<Record<Bound, KeyRecipe>>; limit?: NumberRecipe; reverse?: boolean | OddName; asOf?: NumberRecipe; typo?: boolean; stepsAtOnce?: number }
  | { call: 'snapshot'; released: boolean; read: 'get' | 'scan' | 'history'; key: KeyRecipe; asOf: boolean }
  | { call: 'checkpoint' | 'stats' | 'snapshot-argument'; argument: OddName | 'none' }
  | { call: 'compact'; gte?: KeyRecipe; lt?: KeyRecipe; retainFrom?: NumberRecipe; onProgress?: NumberRecipe | 'function'; typo?: 'gt' | 'retainfrom' | 'lte' }
  | { call: 'open'; option: string; value: OddName | 'syncMode-with-fileSystem' };

export interface ReadContext extends FuzzContext {
  encoding: KeyEncoding;
}

/** A key argument's codes if refused (none when valid); `bytes` when valid. */
function keyArgument(recipe: KeyRecipe): { key: unknown; bytes?: Uint8Array; codes: string[] } {
  const key = makeKey(recipe);
  const verdict = keyVerdict(key);
  return verdict.ok ? { key, bytes: verdict.bytes, codes: [] } : { key, codes: [ErrorCode.InvalidKey] };
}

async function runGet(what: string, context: ReadContext, recipe: ReadCall & { call: 'get' | 'history' }): Promise<void> {
  const { store, model } = context;
  const key = keyArgument(recipe.key);
  const codes = [...key.codes];
  const options: Record<string, unknown> = {};
  const given = recipe.call === 'get' ? recipe.asOf : recipe.limit;
  const name = recipe.call === 'get' ? 'asOf' : 'limit';
  if (given !== undefined) {
    options[name] = makeNumber(given, model.version);
    if (recipe.call === 'get' ? !validAsOf(options[name], model.version) : !validLimit(options[name])) codes.push(ErrorCode.InvalidOption);
  }
  if (recipe.typo === true) {
    options[recipe.call === 'get' ? 'asof' : 'asOf'] = 1;
    codes.push(ErrorCode.InvalidOption);
  }
  const argument = Object.keys(options).length === 0 ? undefined : options;
  const ending = await settle(what, () => recipe.call === 'get' ? store.get(key.key as never, argument) : store.history(key.key as never, argument));
  const answer = expectAsync(what, ending, refusalOf(codes));
  if (codes.length > 0) return;
  if (recipe.call === 'get') {
    expectEqual(`${what}: answer`, answer, model.valueAsOf(key.bytes!, (argument?.asOf as number | undefined) ?? model.version));
  } else {
    const limit = (argument?.limit as number | undefined) ?? Infinity;
    expectEqual(`${what}: answer`, answer, model.history(key.bytes!).slice(0, limit));
  }
}

/**
 * A scan's refusal: README does not say whether scan() throws or its first step
 * rejects, so both are taken; an accepted scan must yield the model's entries.
 */
async function runScan(what: string, context: ReadContext, recipe: ReadCall & { call: 'scan' }): Promise<void> {
  const { store, model, encoding } = context;
  const options: Record<string, unknown> = {};
  const range: ScanRange = { reverse: false, limit: Infinity, asOf: model.version };
  const codes: string[] = [];
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    const bounded = recipe.bounds[bound];
    if (bounded === undefined) continue;
    const key = keyArgument(bounded);
    options[bound] = key.key;
    // An option given as undefined is an option not given: no bound.
    if (key.key === undefined) continue;
    codes.push(...key.codes);
    range[bound] = key.bytes;
  }
  if (options.gt !== undefined && options.gte !== undefined) codes.push(ErrorCode.InvalidOption);
  if (options.lt !== undefined && options.lte !== undefined) codes.push(ErrorCode.InvalidOption);
  if (recipe.limit !== undefined) {
    options.limit = makeNumber(recipe.limit, model.version);
    if (validLimit(options.limit)) range.limit = options.limit as number;
    else codes.push(ErrorCode.InvalidOption);
  }
  if (recipe.reverse !== undefined) {
    options.reverse = typeof recipe.reverse === 'boolean' ? recipe.reverse : makeNumber({ odd: recipe.reverse }, model.version);
    if (typeof options.reverse === 'boolean') range.reverse = options.reverse;
    else codes.push(ErrorCode.InvalidOption);
  }
  if (recipe.asOf !== undefined) {
    options.asOf = makeNumber(recipe.asOf, model.version);
    if (validAsOf(options.asOf, model.version)) range.asOf = options.asOf as number;
    else codes.push(ErrorCode.InvalidOption);
  }
  if (recipe.typo === true) {
    options.revers = true;
    codes.push(ErrorCode.InvalidOption);
  }
  const ending = await settle(what, () => store.scan(options));
  if (ending.how === 'resolved' || ending.how === 'rejected') throw new Error(`${what}: scan() returned a promise, not an iterator`);
  if (ending.how === 'threw') {
    if (codes.length === 0) throw new Error(`${what}: scan() threw ${String(ending.error)}, expected entries`);
    return expectRefusedWith(what, ending.error, refusalOf(codes));
  }
  const iterator = ending.value as AsyncIterableIterator<[string | Uint8Array, unknown]>;
  if (codes.length > 0) {
    const step = await settle(`${what}: first step`, () => iterator.next());
    expectAsync(`${what}: first step`, step, refusalOf(codes));
    return;
  }
  await expectScan(what, atOnce(iterator, recipe.stepsAtOnce ?? 1), model.scan(range), encoding);
}

/** The iterator's entries, asked `width` steps at a time (81d6fef: steps asked at once skipped entries). */
async function* atOnce<T>(iterator: AsyncIterator<T>, width: number): AsyncGenerator<T> {
  for (;;) {
    // allSettled: the entries answered before a step that throws (KeyEncodingError) are the scan's too.
    const steps = await Promise.allSettled(Array.from({ length: width }, () => iterator.next()));
    for (const step of steps) {
      if (step.status === 'rejected') throw step.reason;
      if (step.value.done === true) return;
      yield step.value.value;
    }
  }
}

async function runSnapshotRead(what: string, context: ReadContext, recipe: ReadCall & { call: 'snapshot' }): Promise<void> {
  const { store, model, encoding } = context;
  const snapshot = await store.snapshot();
  const at = snapshot.version;
  if (recipe.released) await snapshot.release();
  try {
    const key = keyArgument(recipe.key);
    const codes = [...key.codes];
    // asOf does not apply to a snapshot's reads: refused, never ignored (README).
    if (recipe.asOf) codes.push(ErrorCode.InvalidOption);
    if (recipe.released) codes.push(ErrorCode.SnapshotReleased);
    const options = recipe.asOf ? { asOf: at } : undefined;
    if (recipe.read === 'scan') {
      const ending = await settle(what, () => snapshot.scan(options as never));
      if (ending.how === 'threw') return expectRefusedWith(what, ending.error, refusalOf(codes.filter((code) => code !== ErrorCode.InvalidKey)));
      if (ending.how !== 'returned') throw new Error(`${what}: snapshot.scan() returned a promise`);
      const iterator = ending.value as AsyncIterableIterator<[string | Uint8Array, unknown]>;
      const scanCodes = codes.filter((code) => code !== ErrorCode.InvalidKey);
      if (scanCodes.length > 0) return void expectAsync(what, await settle(what, () => iterator.next()), refusalOf(scanCodes));
      return await expectScan(what, iterator, model.scan({ reverse: false, limit: Infinity, asOf: at }), encoding);
    }
    const ending = await settle(what, () => recipe.read === 'get' ? snapshot.get(key.key as never, options as never) : snapshot.history(key.key as never, options as never));
    const answer = expectAsync(what, ending, refusalOf(codes));
    if (codes.length > 0) return;
    const expected = recipe.read === 'get' ? model.valueAsOf(key.bytes!, at) : model.history(key.bytes!).filter((entry) => entry.version <= at);
    expectEqual(`${what}: answer`, answer, expected);
  } finally {
    await snapshot.release();
  }
}

async function runCompact(what: string, context: ReadContext, recipe: ReadCall & { call: 'compact' }): Promise<void> {
  const { store, model } = context;
  const options: Record<string, unknown> = {};
  const codes: string[] = [];
  for (const bound of ['gte', 'lt'] as const) {
    const bounded = recipe[bound];
    if (bounded === undefined) continue;
    const key = keyArgument(bounded);
    options[bound] = key.key;
    if (key.key !== undefined) codes.push(...key.codes);
  }
  if (recipe.retainFrom !== undefined) {
    options.retainFrom = makeNumber(recipe.retainFrom, model.version);
    // A floor above 0 changes what history() lists; model-review covers those. Only 0 is accepted here.
    if (!validRetainFrom(options.retainFrom, model.version)) codes.push(ErrorCode.InvalidOption);
    else options.retainFrom = 0;
  }
  if (recipe.onProgress !== undefined) {
    // A function, or refused (3b7ea36: a non-function failed the compaction at its first report).
    options.onProgress = recipe.onProgress === 'function' ? () => undefined : makeNumber(recipe.onProgress, model.version);
    if (typeof options.onProgress !== 'function') codes.push(ErrorCode.InvalidOption);
  }
  if (recipe.typo !== undefined) {
    options[recipe.typo] = recipe.typo === 'retainfrom' ? 0 : 'a';
    codes.push(ErrorCode.InvalidOption);
  }
  expectAsync(what, await settle(what, () => store.compact(options)), refusalOf(codes));
}

/** Options whose odd arguments are valid: Infinity for two, -0 for a minimum of 0, booleans, a function. */
function validOpenArgument(option: string, value: unknown): boolean {
  if (value === Infinity) return option === 'maxVersionsPerKey' || option === 'snapshotMaxAgeMs';
  if (Object.is(value, -0)) return option === 'retainVersionsMs';
  if (value === true) return option === 'repair' || option === 'debug' || option === 'checkpointOnClose';
  if (typeof value === 'function') return option === 'authorize';
  return false;
}

async function runOpen(what: string, context: ReadContext, recipe: ReadCall & { call: 'open' }, directory: string): Promise<void> {
  const fileSystem = new FaultFileSystem(7);
  const options: Record<string, unknown> = { fileSystem };
  let valid: boolean;
  let named = recipe.option;
  if (recipe.value === 'syncMode-with-fileSystem') {
    options.syncMode = 'inline';
    named = 'syncMode';
    valid = false;
  } else {
    options[recipe.option] = makeNumber({ odd: recipe.value }, context.model.version);
    valid = validOpenArgument(recipe.option, options[recipe.option]);
  }
  const ending = await settle(what, () => openStore(directory, options));
  if (valid) {
    const opened = expectAsync(what, ending, refusalOf([])) as { close(): Promise<void> };
    return opened.close();
  }
  expectAsync(what, ending, refusalOf([ErrorCode.InvalidOption]));
  const option = (ending as { error?: { option?: unknown } }).error?.option;
  if (option !== named) throw new Error(`${what}: InvalidOptionError names ${String(option)}, not ${named}`);
  // Nothing of a refused open is left behind.
  expectEqual(`${what}: the directory after a refused open`, await fileSystem.exists(directory), false);
}

export async function runRead(what: string, context: ReadContext, recipe: ReadCall, scratch: string): Promise<void> {
  const { store } = context;
  switch (recipe.call) {
    case 'get':
    case 'history': return runGet(what, context, recipe);
    case 'scan': return runScan(what, context, recipe);
    case 'snapshot': return runSnapshotRead(what, context, recipe);
    case 'compact': return runCompact(what, context, recipe);
    case 'open': return runOpen(what, context, recipe, scratch);
    case 'stats': {
      const argument = recipe.argument === 'none' ? undefined : makeNumber({ odd: recipe.argument }, context.model.version);
      expectSync(what, await settle(what, () => store.stats(argument as never)), refusalOf(argument === undefined ? [] : [ErrorCode.InvalidOption]));
      return;
    }
    case 'checkpoint':
    case 'snapshot-argument': {
      // No argument: a real checkpoint (later reads go to the runs it writes), or a snapshot released at once.
      const argument = recipe.argument === 'none' ? undefined : makeNumber({ odd: recipe.argument }, context.model.version);
      const call = recipe.call === 'checkpoint' ? () => store.checkpoint(argument as never) : () => store.snapshot(argument as never);
      const answer = expectAsync(what, await settle(what, call), refusalOf(argument === undefined ? [] : [ErrorCode.InvalidOption]));
      if (recipe.call === 'snapshot-argument' && answer !== undefined) await (answer as { release(): Promise<void> }).release();
      return;
    }
  }
}

const boundsRecipe = fc.record({ gt: keyRecipe, gte: keyRecipe, lt: keyRecipe, lte: keyRecipe }, { requiredKeys: [] });
const OPEN_OPTIONS = [
  'maxValueBytes', 'maxVersionsPerKey', 'retainVersionsMs', 'segmentSizeBytes', 'keyEncoding', 'repair', 'syncMode', 'fileSystem', 'debug',
  'snapshotMaxAgeMs', 'transactionLifetimeMs', 'memoryBudgetBytes', 'walCheckpointBytes', 'checkpointOnClose', 'authorize', 'leaseTtlMsMax',
  'scrubIntervalMs', 'scrubBytesPerSecond', 'maxValuesBytes', 'keyencoding', 'constructor',
];

export const readCall: fc.Arbitrary<ReadCall> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ call: fc.constant('get' as const), key: keyRecipe, asOf: numberRecipe, typo: fc.boolean() }, { requiredKeys: ['call', 'key'] }) },
  { weight: 2, arbitrary: fc.record({ call: fc.constant('history' as const), key: keyRecipe, limit: numberRecipe, typo: fc.boolean() }, { requiredKeys: ['call', 'key'] }) },
  {
    weight: 4,
    arbitrary: fc.record({
      call: fc.constant('scan' as const), bounds: boundsRecipe, limit: numberRecipe,
      reverse: fc.oneof(fc.boolean(), oddRecipe.map((recipe) => (recipe as { odd: OddName }).odd)), asOf: numberRecipe, typo: fc.boolean(),
      stepsAtOnce: fc.integer({ min: 2, max: 4 }),
    }, { requiredKeys: ['call', 'bounds'] }),
  },
  {
    // Scans whose options are all valid, so that their answers (and steps asked at once) are checked often.
    weight: 2,
    arbitrary: fc.record({
      call: fc.constant('scan' as const),
      bounds: fc.record({ gte: fc.constantFrom<KeyRecipe>({ key: 'string', text: 'a' }, { key: 'string', text: '~spread/2' }), lt: fc.constant<KeyRecipe>({ key: 'string', text: '~spread/5' }) }, { requiredKeys: [] }),
      limit: fc.integer({ min: 0, max: 700 }).map((integer): NumberRecipe => ({ integer })),
      reverse: fc.boolean(),
      stepsAtOnce: fc.integer({ min: 1, max: 4 }),
    }, { requiredKeys: ['call', 'bounds', 'stepsAtOnce'] }),
  },
  { weight: 2, arbitrary: fc.record({ call: fc.constant('snapshot' as const), released: fc.boolean(), read: fc.constantFrom('get' as const, 'scan' as const, 'history' as const), key: keyRecipe, asOf: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      call: fc.constantFrom('checkpoint' as const, 'stats' as const, 'snapshot-argument' as const),
      argument: fc.oneof(oddRecipe.map((recipe) => (recipe as { odd: OddName }).odd), fc.constant('none' as const)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      call: fc.constant('compact' as const), gte: keyRecipe, lt: keyRecipe,
      retainFrom: fc.oneof(oddRecipe, fc.integer({ min: 1, max: 3 }).map((newestPlus): NumberRecipe => ({ newestPlus })), fc.constant<NumberRecipe>({ integer: 0 })),
      onProgress: fc.oneof(oddRecipe, fc.constant('function' as const)),
      typo: fc.constantFrom('gt' as const, 'retainfrom' as const, 'lte' as const),
    }, { requiredKeys: ['call'] }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      call: fc.constant('open' as const), option: fc.constantFrom(...OPEN_OPTIONS),
      value: fc.oneof(oddRecipe.map((recipe) => (recipe as { odd: OddName }).odd), fc.constant('syncMode-with-fileSystem' as const)),
    }),
  },
);

