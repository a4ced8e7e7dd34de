/**
 * The write calls of the input fuzz (model-input-fuzz.test.ts): put, delete, batch,
 * transaction and transactionSync with generated keys, values, operations, bodies and
 * options. Each computes from the README alone what the call must do, runs it, and
 * judges its end; an accepted write must take the next version and is added to the
 * model, a refused one adds nothing (the caller checks the store against the model).
 */
import fc from 'fast-check';
import { ErrorCode, type Store } from '../src/index.js';
import { keyRecipe, keyVerdict, makeKey, type KeyRecipe } from './model-input-keys.js';
import type { ContentsModel, ModelWrite } from './model-input-model.js';
import { makeNumber, numberRecipe, oddRecipe, type NumberRecipe } from './model-input-numbers.js';
import { expectAsync, refusalOf, settle, type Refusal } from './model-input-settle.js';
import { makeValue, valueRecipe, type ValueRecipe } from './model-input-values.js';

export interface FuzzContext {
  store: Store;
  model: ContentsModel;
}

type OperationRecipe =
  | { op: 'put'; key: KeyRecipe; value: ValueRecipe; extraField?: 'asof' | 'version' }
  | { op: 'del'; key: KeyRecipe; withValue?: boolean }
  | { op: 'hole' }
  | { op: 'odd'; argument: NumberRecipe }
  | { op: 'type'; type: string; key: KeyRecipe };

type BodyEnding = 'return' | 'throw-error' | 'throw-undefined' | 'throw-string' | 'throw-null' | 'async-body' | 'return-promise';

export type WriteCall =
  | { call: 'put'; key: KeyRecipe; value: ValueRecipe }
  | { call: 'delete'; key: KeyRecipe }
  | { call: 'batch'; operations: OperationRecipe[] | 'too-many' | { notArray: NumberRecipe } }
  | { call: 'bulk'; via: 'batch' | 'transaction' | 'transactionSync'; count: 40 | 80 }
  | { call: 'transaction'; sync: boolean; writes: { key: KeyRecipe; value: ValueRecipe | 'delete' }[]; ending: BodyEnding; options?: TransactionOptionsRecipe };

type TransactionOptionsRecipe = { retries: NumberRecipe } | { isolation: string } | { signal: 'not-a-signal' } | { retry: 3 } | { odd: NumberRecipe };

/** One planned write: its model form if accepted, else what refuses it. */
interface Planned {
  write?: ModelWrite;
  refusal: Refusal;
}

function plannedPut(key: unknown, value: ValueRecipe): Planned & { value: unknown } {
  const keyed = keyVerdict(key);
  const made = makeValue(value);
  const codes: string[] = [];
  const own: unknown[] = [];
  if (!keyed.ok) codes.push(ErrorCode.InvalidKey);
  if (made.verdict.kind === 'refuse') codes.push(made.verdict.code);
  if (made.verdict.kind === 'own-throw') own.push(made.verdict.thrown);
  const refusal = refusalOf(codes, own);
  const write = keyed.ok && made.verdict.kind === 'read' ? { bytes: keyed.bytes, deleted: false, value: made.verdict.expected } : undefined;
  return { write, refusal, value: made.value };
}

function plannedDelete(key: unknown): Planned {
  const keyed = keyVerdict(key);
  return keyed.ok ? { write: { bytes: keyed.bytes, deleted: true }, refusal: refusalOf([]) } : { refusal: refusalOf([ErrorCode.InvalidKey]) };
}

/** Resolves an accepted write's result against the model: the next version, then the model takes the writes. */
function commitAccepted(what: string, context: FuzzContext, result: unknown, writes: ModelWrite[]): void {
  const version = (result as { version?: unknown } | undefined)?.version;
  if (writes.length === 0) {
    if (version !== undefined && version !== context.model.version) throw new Error(`${what}: an empty write resolved with version ${String(version)}, not the newest ${context.model.version}`);
    return;
  }
  if (typeof version !== 'number') throw new Error(`${what}: resolved without a version: ${String(result)}`);
  context.model.commit(version, writes);
}

async function runPlanned(what: string, context: FuzzContext, call: () => unknown, planned: Planned[]): Promise<void> {
  const refused = planned.filter((one) => one.refusal.codes.length > 0 || one.refusal.ownThrows.length > 0);
  const refusal = refusalOf(refused.flatMap((one) => one.refusal.codes), refused.flatMap((one) => one.refusal.ownThrows));
  const result = expectAsync(what, await settle(what, call), refusal);
  if (refused.length === 0) commitAccepted(what, context, result, planned.map((one) => one.write!));
}

function operation(recipe: OperationRecipe, newest: number): { made: unknown; planned: Planned } {
  const invalidOption = { refusal: refusalOf([ErrorCode.InvalidOption]) };
  switch (recipe.op) {
    case 'put': {
      const key = makeKey(recipe.key);
      const put = plannedPut(key, recipe.value);
      if (recipe.extraField === undefined) return { made: { type: 'put', key, value: put.value }, planned: put };
      // A field its type does not take is refused, never ignored (README, LADYBUG_INVALID_OPTION).
      const planned = { refusal: refusalOf([...put.refusal.codes, ErrorCode.InvalidOption], put.refusal.ownThrows) };
      return { made: { type: 'put', key, value: put.value, [recipe.extraField]: 1 }, planned };
    }
    case 'del': {
      const key = makeKey(recipe.key);
      const deleted = plannedDelete(key);
      if (recipe.withValue !== true) return { made: { type: 'del', key }, planned: deleted };
      return { made: { type: 'del', key, value: 1 }, planned: { refusal: refusalOf([...deleted.refusal.codes, ErrorCode.InvalidOption]) } };
    }
    case 'hole':
      return { made: undefined, planned: invalidOption };
    case 'odd':
      return { made: makeNumber(recipe.argument, newest), planned: invalidOption };
    case 'type':
      return { made: { type: recipe.type, key: makeKey(recipe.key), value: 1 }, planned: invalidOption };
  }
}

async function runBatch(what: string, context: FuzzContext, operations: WriteCall & { call: 'batch' }): Promise<void> {
  const { store, model } = context;
  const recipe = operations.operations;
  if (recipe === 'too-many') {
    const many = Array.from({ length: 100_001 }, () => ({ type: 'put' as const, key: 'a', value: 1 }));
    return runPlanned(what, context, () => store.batch(many), [{ refusal: refusalOf([ErrorCode.BatchTooLarge]) }]);
  }
  if (!Array.isArray(recipe)) {
    const notArray = makeNumber(recipe.notArray, model.version);
    return runPlanned(what, context, () => store.batch(notArray as never), [{ refusal: refusalOf([ErrorCode.InvalidOption]) }]);
  }
  const made = recipe.map((one) => operation(one, model.version));
  const array: unknown[] = [];
  // A hole is a real hole (no element), not undefined stored at the index.
  made.forEach((one, index) => { if (recipe[index]!.op !== 'hole') array[index] = one.made; });
  array.length = made.length;
  await runPlanned(what, context, () => store.batch(array as never), made.map((one) => one.planned));
}

function transactionOptions(recipe: TransactionOptionsRecipe | undefined, newest: number): { options: unknown; valid: boolean } {
  if (recipe === undefined) return { options: undefined, valid: true };
  if ('retries' in recipe) {
    const retries = makeNumber(recipe.retries, newest);
    return { options: { retries }, valid: typeof retries === 'number' && Number.isInteger(retries) && retries >= 0 && retries <= 1000 };
  }
  if ('isolation' in recipe) return { options: { isolation: recipe.isolation }, valid: recipe.isolation === 'serializable' || recipe.isolation === 'snapshot' };
  if ('signal' in recipe) return { options: { signal: { aborted: false } }, valid: false };
  if ('retry' in recipe) return { options: { retry: 3 }, valid: false };
  const odd = makeNumber(recipe.odd, newest);
  // An object without own options is no options; anything else is refused.
  return { options: odd, valid: odd === undefined || (typeof odd === 'object' && odd !== null && Object.keys(odd).length === 0) };
}

const THROWN: Record<string, unknown> = { 'throw-error': new Error('body failed'), 'throw-undefined': undefined, 'throw-string': 'body failed', 'throw-null': null };

async function runTransaction(what: string, context: FuzzContext, recipe: WriteCall & { call: 'transaction' }): Promise<void> {
  const { store, model } = context;
  const writes = recipe.writes.map(({ key, value }) => {
    const made = makeKey(key);
    if (value === 'delete') return { key: made, isDelete: true, value: undefined, ...plannedDelete(made) };
    return { key: made, isDelete: false, ...plannedPut(made, value) };
  });
  const options = transactionOptions(recipe.options, model.version);
  // The body stops at its first refused write (tx.put and tx.delete throw at once).
  const firstRefused = writes.find((one) => one.refusal.codes.length > 0 || one.refusal.ownThrows.length > 0);
  const planned: Planned[] = [];
  const asyncEnding = recipe.ending === 'async-body' || recipe.ending === 'return-promise';
  if (recipe.sync && (options.options !== undefined || asyncEnding)) {
    planned.push({ refusal: refusalOf([ErrorCode.InvalidOption, ...(firstRefused?.refusal.codes ?? [])], firstRefused?.refusal.ownThrows) });
  } else if (!recipe.sync && !options.valid) {
    planned.push({ refusal: refusalOf([ErrorCode.InvalidOption]) });
  } else if (firstRefused !== undefined) {
    planned.push({ refusal: firstRefused.refusal });
  } else if (recipe.ending in THROWN) {
    planned.push({ refusal: refusalOf([], [THROWN[recipe.ending]]) });
  } else {
    planned.push(...writes.map((one) => ({ write: one.write, refusal: refusalOf([]) })));
  }
  const body = (tx: { put(key: unknown, value: unknown): void; delete(key: unknown): void }): unknown => {
    for (const one of writes) {
      if (one.isDelete) tx.delete(one.key);
      else tx.put(one.key, one.value);
    }
    if (recipe.ending in THROWN) throw THROWN[recipe.ending];
    return recipe.ending === 'return-promise' ? Promise.resolve(1) : 1;
  };
  const run = recipe.ending === 'async-body' ? async (tx: Parameters<typeof body>[0]) => body(tx) : body;
  const call = recipe.sync
    ? () => store.transactionSync(run as never, options.options as never)
    : () => store.transaction(run as never, options.options as never);
  // A transaction's result is its body's, not a version: the version is the model's next one.
  const refused = planned.some((one) => one.write === undefined);
  if (refused) return runPlanned(what, context, call, planned);
  expectAsync(what, await settle(what, call), refusalOf([]));
  const accepted = planned.map((one) => one.write!);
  if (accepted.length > 0) model.commit(model.version + 1, accepted);
  if (store.version !== model.version) throw new Error(`${what}: store.version ${store.version} after the commit, expected ${model.version}`);
}

/**
 * A commit of `count` values of 1,019 bytes (1,024 encoded) in a WAL of 64 KiB segments
 * (BULK_SEGMENT_BYTES): 40 fit one commit, 80 do not, which a batch refuses with
 * BatchTooLargeError and a transaction with TransactionLimitError (README), nothing written.
 */
async function runBulk(what: string, context: FuzzContext, recipe: WriteCall & { call: 'bulk' }): Promise<void> {
  const { store } = context;
  const writes = Array.from({ length: recipe.count }, (_, index) => ({ key: `bulk/${index}`, value: new Uint8Array(1019).fill(index) }));
  const planned: Planned[] = recipe.count === 40
    ? writes.map(({ key, value }) => ({ write: { bytes: new TextEncoder().encode(key), deleted: false, value }, refusal: refusalOf([]) }))
    : [{ refusal: refusalOf([recipe.via === 'batch' ? ErrorCode.BatchTooLarge : ErrorCode.TransactionLimit]) }];
  const body = (tx: { put(key: string, value: unknown): void }): void => { for (const { key, value } of writes) tx.put(key, value); };
  const call = recipe.via === 'batch'
    ? () => store.batch(writes.map(({ key, value }) => ({ type: 'put' as const, key, value })))
    : recipe.via === 'transaction' ? () => store.transaction(body) : () => store.transactionSync(body);
  if (recipe.via === 'batch' || recipe.count === 80) return runPlanned(what, context, call, planned);
  expectAsync(what, await settle(what, call), refusalOf([]));
  context.model.commit(context.model.version + 1, planned.map((one) => one.write!));
}

export const BULK_SEGMENT_BYTES = 64 * 1024;

export async function runWrite(what: string, context: FuzzContext, recipe: WriteCall): Promise<void> {
  const { store } = context;
  if (recipe.call === 'put') {
    const key = makeKey(recipe.key);
    const planned = plannedPut(key, recipe.value);
    return runPlanned(what, context, () => store.put(key as never, planned.value), [planned]);
  }
  if (recipe.call === 'delete') {
    const key = makeKey(recipe.key);
    return runPlanned(what, context, () => store.delete(key as never), [plannedDelete(key)]);
  }
  if (recipe.call === 'batch') return runBatch(what, context, recipe);
  if (recipe.call === 'bulk') return runBulk(what, context, recipe);
  return runTransaction(what, context, recipe);
}

const operationRecipe: fc.Arbitrary<OperationRecipe> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyRecipe, value: valueRecipe }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyRecipe, value: valueRecipe, extraField: fc.constantFrom('asof' as const, 'version' as const) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyRecipe, withValue: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'hole' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('odd' as const), argument: oddRecipe }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('type' as const), type: fc.constantFrom('delete', 'PUT', 'get', ''), key: keyRecipe }) },
);

const transactionOptionsRecipe: fc.Arbitrary<TransactionOptionsRecipe> = fc.oneof(
  fc.record({ retries: numberRecipe }),
  fc.record({ isolation: fc.constantFrom('serializable', 'snapshot', 'Serializable', 'read-committed', '') }),
  fc.constant({ signal: 'not-a-signal' as const }),
  fc.constant({ retry: 3 as const }),
  fc.record({ odd: oddRecipe }),
);

export const writeCall: fc.Arbitrary<WriteCall> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ call: fc.constant('put' as const), key: keyRecipe, value: valueRecipe }) },
  { weight: 2, arbitrary: fc.record({ call: fc.constant('delete' as const), key: keyRecipe }) },
  { weight: 3, arbitrary: fc.record({ call: fc.constant('batch' as const), operations: fc.array(operationRecipe, { maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ call: fc.constant('bulk' as const), via: fc.constantFrom('batch' as const, 'transaction' as const, 'transactionSync' as const), count: fc.constantFrom(40 as const, 80 as const) }) },
  { weight: 1, arbitrary: fc.record({ call: fc.constant('batch' as const), operations: fc.oneof(fc.constant('too-many' as const), fc.record({ notArray: oddRecipe })) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      call: fc.constant('transaction' as const),
      sync: fc.boolean(),
      writes: fc.array(fc.record({ key: keyRecipe, value: fc.oneof(valueRecipe, fc.constant('delete' as const)) }), { maxLength: 3 }),
      ending: fc.constantFrom<BodyEnding>('return', 'return', 'return', 'throw-error', 'throw-undefined', 'throw-string', 'throw-null', 'async-body', 'return-promise'),
      options: fc.option(transactionOptionsRecipe, { nil: undefined, freq: 3 }),
    }, { requiredKeys: ['call', 'sync', 'writes', 'ending'] }),
  },
);
