/**
 * Draws one step of the level differential test (model-level-driver.ts): the random
 * choices are made here, once, and the returned call replays them on either side.
 * Iterators and snapshots held across steps live in each side's arrays at the same
 * index, so a step can read through one the other side holds too.
 */
import { Buffer } from 'node:buffer';
import type { Config, Db, Pair, Side } from './model-level-driver.js';
import { SPACE_PREFIXES } from './model-level-driver.js';
import { type ByteRange, chance, encodeAs, type Encoding, inByteRange, KEY_ENCODINGS, makeValue, pick, type Random, VALUE_ENCODINGS } from './model-level-pool.js';

export interface Step {
  kind: 'call' | 'read' | 'reopen';
  label: string;
  /** The root-level keys the step writes (ladybug refuses some, see refusedKey). */
  refusedKeys: Buffer[];
  call: (side: Side) => Promise<unknown>;
}

/** The spaces (SPACE_PREFIXES) each space holds: itself and its sublevels. */
const DESCENDANTS: readonly (readonly number[])[] = [[0, 1, 2, 3], [1, 2], [2], [3]];
const HELD_ITERATORS_MAX = 4;
const HELD_SNAPSHOTS_MAX = 3;
const LIMITS = [undefined, undefined, undefined, 0, -1, 1, 2, 3, 10, Infinity];

type Options = Record<string, unknown>;

/** A key in the form an encoding takes; default (no option) in a fifth of the draws when it can be. */
function keyArgument(rng: Random, config: Config, key: Buffer, encoding?: Encoding): { data: unknown; options: Options } {
  const useDefault = encoding === undefined && chance(rng, 0.2);
  const wanted = encoding ?? (useDefault ? (config.keyEncoding as Encoding) : pick(rng, KEY_ENCODINGS));
  const encoded = encodeAs(key, wanted);
  return { data: encoded.data, options: useDefault && encoded.encoding === wanted ? {} : { keyEncoding: encoded.encoding } };
}

function valueArgument(rng: Random, config: Config, value: Buffer): { data: unknown; options: Options } {
  const useDefault = chance(rng, 0.2);
  const wanted = useDefault ? (config.valueEncoding as Encoding) : pick(rng, VALUE_ENCODINGS);
  const encoded = encodeAs(value, wanted);
  return { data: encoded.data, options: useDefault && encoded.encoding === wanted ? {} : { valueEncoding: encoded.encoding } };
}

function readValueOptions(rng: Random): Options {
  return chance(rng, 0.2) ? {} : { valueEncoding: pick(rng, VALUE_ENCODINGS) };
}

function rootKey(space: number, key: Buffer): Buffer {
  return Buffer.concat([Buffer.from(SPACE_PREFIXES[space] ?? ''), key]);
}

/** Keys that `encoding` can carry (range bounds and seek targets must be in the iterator's key encoding). */
function encodableKey(rng: Random, keys: readonly Buffer[], encoding: Encoding): Buffer {
  for (;;) {
    const key = pick(rng, keys);
    if (encodeAs(key, encoding).encoding === encoding) return key;
  }
}

/** The snapshot option of a read (a held snapshot in 40% of reads while one is held), and its label. */
function snapshotOption(rng: Random, pair: Pair): ((side: Side) => Options) & { label: string } {
  const count = pair.ladybug.snapshots.length;
  if (count === 0 || !chance(rng, 0.4)) return Object.assign(() => ({}), { label: '' });
  const index = Math.floor(rng() * count);
  return Object.assign((side: Side) => ({ snapshot: side.snapshots[index] }), { label: ` through snapshot ${index}` });
}

/** Range options (in `encoding`), sometimes both of a side (gte and gt: gte counts), and the range they make. */
function drawRange(rng: Random, keys: readonly Buffer[], encoding: Encoding): { options: Options; range: ByteRange } {
  const options: Options = {};
  const bound = (exclusive: string, inclusive: string): { key: Buffer; inclusive: boolean } | undefined => {
    const roll = rng();
    if (roll < 0.45) return undefined;
    let found: { key: Buffer; inclusive: boolean } | undefined;
    const set = (name: string, isInclusive: boolean) => {
      const key = encodableKey(rng, keys, encoding);
      options[name] = encodeAs(key, encoding).data;
      found = { key, inclusive: isInclusive };
    };
    if (roll < 0.7 || roll > 0.92) set(exclusive, false);
    if (roll >= 0.7) set(inclusive, true);
    return found;
  };
  return { options, range: { lower: bound('gt', 'gte'), upper: bound('lt', 'lte') } };
}

type Action = { type: 'next' } | { type: 'nextv'; size: number } | { type: 'all' } | { type: 'seek'; target: unknown; options: Options };

/**
 * Steps of an iterator; seek targets inside `range` (see model-level-driver.ts for why),
 * none when no pool key is or the iterator has a limit (`seekable` false): classic-level
 * counts toward the limit the entries it read ahead and a seek dropped (over '1'..'5'
 * with { limit: 3 }: next, next, seek('2'), next yields nothing), where abstract-level
 * counts the entries returned, as ladybug does.
 */
function drawActions(rng: Random, keys: readonly Buffer[], encoding: Encoding, range: ByteRange, seekable: boolean, count: number): Action[] {
  const targets = seekable ? keys.filter((key) => inByteRange(key, range) && encodeAs(key, encoding).encoding === encoding) : [];
  return Array.from({ length: count }, (): Action => {
    const roll = rng();
    if (roll < 0.4 || (roll >= 0.7 && targets.length === 0)) return { type: 'next' };
    if (roll < 0.6) return { type: 'nextv', size: 1 + Math.floor(rng() * 4) };
    if (roll < 0.7) return { type: 'all' };
    const key = pick(rng, targets);
    return { type: 'seek', target: encodeAs(key, encoding).data, options: chance(rng, 0.5) ? {} : { keyEncoding: encoding } };
  });
}

/**
 * Iterators that failed to decode an entry: their later steps are not compared. After
 * LEVEL_DECODE_ERROR classic-level's next step ends ([]), having dropped what it read
 * ahead; ladybug's goes on with the next entry. abstract-level specifies neither.
 */
const undecodable = new WeakSet<object>();

async function runActions(iterator: Db, actions: readonly Action[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const action of actions) {
    if (undecodable.has(iterator)) {
      results.push('not compared after a decode error');
      continue;
    }
    try {
      if (action.type === 'next') results.push(await iterator.next());
      else if (action.type === 'nextv') results.push(await iterator.nextv(action.size));
      else if (action.type === 'all') results.push(await iterator.all());
      else results.push(['seek', iterator.seek(action.target, action.options)]);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'LEVEL_DECODE_ERROR') undecodable.add(iterator);
      results.push(`error:${code ?? String(error)}`);
    }
  }
  return results;
}

interface IteratorDraw {
  label: string;
  create: (side: Side) => Db;
  encoding: Encoding;
  range: ByteRange;
  seekable: boolean;
}

function drawIterator(rng: Random, keys: readonly Buffer[], pair: Pair): IteratorDraw {
  const space = Math.floor(rng() * SPACE_PREFIXES.length);
  const kind = pick(rng, ['iterator', 'iterator', 'keys', 'values'] as const);
  const encoding = pick(rng, KEY_ENCODINGS);
  const { options: rangeOptions, range } = drawRange(rng, keys, encoding);
  const options: Options = { ...rangeOptions, keyEncoding: encoding, ...readValueOptions(rng) };
  if (chance(rng, 0.4)) options['reverse'] = true;
  const limit = pick(rng, LIMITS);
  if (limit !== undefined) options['limit'] = limit;
  const snapshot = snapshotOption(rng, pair);
  return {
    label: `${kind} space ${space} ${JSON.stringify(options)}${snapshot.label}`,
    create: (side) => side.spaces[space][kind]({ ...options, ...snapshot(side) }),
    encoding,
    range,
    seekable: limit === undefined || limit === -1 || limit === Infinity,
  };
}

interface WriteOperation {
  type: 'put' | 'del';
  key: unknown;
  value?: unknown;
  options: Options;
  space: number | undefined;
  root: Buffer;
}

function drawOperation(rng: Random, keys: readonly Buffer[], config: Config, space: number): WriteOperation {
  const key = pick(rng, keys);
  const target = chance(rng, 0.3) ? Math.floor(rng() * SPACE_PREFIXES.length) : undefined;
  const keyPart = keyArgument(rng, config, key);
  const root = rootKey(target ?? space, key);
  if (chance(rng, 0.3)) return { type: 'del', key: keyPart.data, options: keyPart.options, space: target, root };
  const valuePart = valueArgument(rng, config, makeValue(rng));
  return { type: 'put', key: keyPart.data, value: valuePart.data, options: { ...keyPart.options, ...valuePart.options }, space: target, root };
}

function sublevelOption(side: Side, operation: WriteOperation): Options {
  return operation.space === undefined ? {} : { sublevel: side.spaces[operation.space] };
}

function writeStep(rng: Random, keys: readonly Buffer[], config: Config, form: 'put' | 'del' | 'batch' | 'chained'): Step {
  const space = Math.floor(rng() * SPACE_PREFIXES.length);
  if (form === 'put' || form === 'del') {
    const key = pick(rng, keys);
    const keyPart = keyArgument(rng, config, key);
    const valuePart = valueArgument(rng, config, makeValue(rng));
    const label = `${form} space ${space} ${JSON.stringify(keyPart)} ${form === 'put' ? JSON.stringify(valuePart) : ''}`;
    const call = form === 'put'
      ? (side: Side) => side.spaces[space].put(keyPart.data, valuePart.data, { ...keyPart.options, ...valuePart.options })
      : (side: Side) => side.spaces[space].del(keyPart.data, keyPart.options);
    return { kind: 'call', label, refusedKeys: refusable(form, rootKey(space, key)), call };
  }
  const operations = Array.from({ length: 1 + Math.floor(rng() * 6) }, () => drawOperation(rng, keys, config, space));
  const label = `${form} space ${space} ${JSON.stringify(operations.map(({ root: _root, ...operation }) => operation))}`;
  if (form === 'batch') {
    const call = (side: Side) => side.spaces[space].batch(operations.map(({ type, key, value, options, ...operation }) => ({
      type, key, ...(type === 'put' ? { value } : {}), ...options, ...sublevelOption(side, operation as WriteOperation),
    })));
    return { kind: 'call', label, refusedKeys: operations.flatMap((operation) => refusable(operation.type, operation.root)), call };
  }
  const clearAt = chance(rng, 0.15) ? Math.floor(rng() * operations.length) : -1;
  const abandon = chance(rng, 0.15);
  const call = async (side: Side) => {
    const batch = side.spaces[space].batch();
    const lengths: number[] = [];
    for (const [index, operation] of operations.entries()) {
      const options = { ...operation.options, ...sublevelOption(side, operation) };
      if (operation.type === 'put') batch.put(operation.key, operation.value, options);
      else batch.del(operation.key, options);
      if (index === clearAt) batch.clear();
      lengths.push(batch.length);
    }
    await (abandon ? batch.close() : batch.write());
    return lengths;
  };
  const written = abandon ? [] : operations.slice(clearAt + 1);
  // abstract-level 3.1.1's chained del() prefixes a key for a sublevel option outside the
  // batch's own sublevel twice (the batch's prefix, then the target's), on both databases alike.
  const refusedKeys = written.flatMap((operation) => refusable(operation.type, operation.type === 'del' && operation.space !== undefined && !DESCENDANTS[space]?.includes(operation.space)
    ? Buffer.concat([Buffer.from(SPACE_PREFIXES[space] ?? ''), operation.root])
    : operation.root));
  return { kind: 'call', label: `${label} clearAt ${clearAt} abandon ${abandon}`, refusedKeys, call };
}

/**
 * The root key of a write ladybug may refuse where classic-level takes it (refusedKey): a
 * put's; a delete of a key over the store limit or under its reserved prefix is a no-op in
 * both (no such level key is stored; README "Keys").
 */
function refusable(type: 'put' | 'del', root: Buffer): Buffer[] {
  return type === 'del' ? [] : [root];
}

function readStep(rng: Random, keys: readonly Buffer[], pair: Pair, form: 'get' | 'getMany' | 'has' | 'hasMany'): Step {
  const space = Math.floor(rng() * SPACE_PREFIXES.length);
  const count = form === 'get' || form === 'has' ? 1 : [0, 2, 3, 4, 5][Math.floor(rng() * 5)] ?? 2;
  // getMany and hasMany take one keyEncoding for all their keys; get and has draw theirs per key in half the steps.
  const encoding = count !== 1 || chance(rng, 0.5) ? pick(rng, KEY_ENCODINGS) : undefined;
  const chosen = Array.from({ length: count }, () => keyArgument(rng, pair.config, encoding === undefined ? pick(rng, keys) : encodableKey(rng, keys, encoding), encoding));
  const options = { ...(encoding === undefined ? chosen[0]?.options : { keyEncoding: encoding }), ...readValueOptions(rng) };
  const datas = chosen.map((key) => key.data);
  const snapshot = snapshotOption(rng, pair);
  const call = (side: Side) => {
    const db = side.spaces[space];
    const all = { ...options, ...snapshot(side) };
    return form === 'get' || form === 'has' ? db[form](datas[0], all) : db[form](datas, all);
  };
  // No read is refused: a key over the store limit is absent, as in classic-level.
  return { kind: 'read', label: `${form} space ${space} ${JSON.stringify(datas)} ${JSON.stringify(options)}${snapshot.label}`, refusedKeys: [], call };
}

function iteratorSteps(rng: Random, keys: readonly Buffer[], pair: Pair, form: 'iterate' | 'hold' | 'use' | 'release'): Step {
  if (form === 'iterate' || form === 'hold') {
    const draw = drawIterator(rng, keys, pair);
    const actions = form === 'iterate' ? drawActions(rng, keys, draw.encoding, draw.range, draw.seekable, 1 + Math.floor(rng() * 5)) : [];
    const call = async (side: Side) => {
      const iterator = draw.create(side);
      if (form === 'hold') return side.iterators.push({ iterator, range: draw.range, encoding: draw.encoding, seekable: draw.seekable });
      const results = await runActions(iterator, actions);
      await iterator.close();
      return results;
    };
    return { kind: 'call', label: `${form} ${draw.label} ${JSON.stringify(actions)}`, refusedKeys: [], call };
  }
  const index = Math.floor(rng() * pair.ladybug.iterators.length);
  if (form === 'release') {
    return { kind: 'call', label: `close held iterator ${index}`, refusedKeys: [], call: async (side) => (await side.iterators.splice(index, 1)[0]?.iterator.close()) ?? null };
  }
  const held = pair.ladybug.iterators[index];
  const actions = held === undefined ? [] : drawActions(rng, keys, held.encoding, held.range, held.seekable, 1 + Math.floor(rng() * 3));
  return { kind: 'call', label: `use held iterator ${index} ${JSON.stringify(actions)}`, refusedKeys: [], call: (side) => runActions(side.iterators[index]?.iterator, actions) };
}

function snapshotStep(rng: Random, pair: Pair, form: 'snapshot' | 'unsnapshot'): Step {
  if (form === 'snapshot') {
    const space = Math.floor(rng() * SPACE_PREFIXES.length);
    return { kind: 'call', label: `snapshot of space ${space}`, refusedKeys: [], call: async (side) => side.snapshots.push(side.spaces[space].snapshot()) };
  }
  const index = Math.floor(rng() * pair.ladybug.snapshots.length);
  return { kind: 'call', label: `close snapshot ${index}`, refusedKeys: [], call: async (side) => (await side.snapshots.splice(index, 1)[0].close()) ?? null };
}

function clearStep(rng: Random, keys: readonly Buffer[], pair: Pair): Step {
  const space = Math.floor(rng() * SPACE_PREFIXES.length);
  const encoding = pick(rng, KEY_ENCODINGS);
  const options: Options = { ...drawRange(rng, keys, encoding).options, keyEncoding: encoding };
  if (chance(rng, 0.3)) options['reverse'] = true;
  const limit = pick(rng, LIMITS);
  if (limit !== undefined) options['limit'] = limit;
  const snapshot = snapshotOption(rng, pair);
  return { kind: 'call', label: `clear space ${space} ${JSON.stringify(options)}${snapshot.label}`, refusedKeys: [], call: (side) => side.spaces[space].clear({ ...options, ...snapshot(side) }) };
}

const WEIGHTS = {
  put: 14, del: 7, batch: 7, chained: 5, get: 8, getMany: 5, has: 2, hasMany: 2, iterate: 12, hold: 4, use: 7, release: 2,
  snapshot: 2, unsnapshot: 1, clear: 4, reopen: 1.5, checkpoint: 1,
} as const;
type Form = keyof typeof WEIGHTS;

function available(form: Form, pair: Pair): boolean {
  const { iterators, snapshots } = pair.ladybug;
  if (form === 'hold') return iterators.length < HELD_ITERATORS_MAX;
  if (form === 'use' || form === 'release') return iterators.length > 0;
  if (form === 'snapshot') return snapshots.length < HELD_SNAPSHOTS_MAX;
  if (form === 'unsnapshot') return snapshots.length > 0;
  return true;
}

export function drawStep(rng: Random, keys: readonly Buffer[], pair: Pair): Step {
  const forms = (Object.keys(WEIGHTS) as Form[]).filter((form) => available(form, pair));
  let roll = rng() * forms.reduce((sum, form) => sum + WEIGHTS[form], 0);
  const form = forms.find((candidate) => (roll -= WEIGHTS[candidate]) < 0) ?? 'get';
  switch (form) {
    case 'put': case 'del': case 'batch': case 'chained': return writeStep(rng, keys, pair.config, form);
    case 'get': case 'getMany': case 'has': case 'hasMany': return readStep(rng, keys, pair, form);
    case 'iterate': case 'hold': case 'use': case 'release': return iteratorSteps(rng, keys, pair, form);
    case 'snapshot': case 'unsnapshot': return snapshotStep(rng, pair, form);
    case 'clear': return clearStep(rng, keys, pair);
    case 'reopen': return { kind: 'reopen', label: 'reopen', refusedKeys: [], call: async () => null };
    case 'checkpoint':
      // The store's flush of its memtable to a run: reads then come from runs, not memory. Classic has no counterpart to compare.
      return { kind: 'call', label: 'checkpoint', refusedKeys: [], call: async (side) => (side.name === 'ladybug' ? void (await side.root.store.checkpoint()) : undefined) ?? null };
  }
}
