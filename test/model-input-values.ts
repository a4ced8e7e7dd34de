/**
 * Values for the input fuzz (model-input-fuzz.test.ts): recipes (plain data, printed in
 * a counterexample) made into the real value when the call runs, each with what the
 * README says it must do. 'read' values must read back as `expected` (deep strict
 * equality: exactly the value, or the documented form msgpackr returns: -0 as 0, a Map
 * as an object, a class instance as its own properties...); the others must be refused
 * with their error's code. A value whose own getter or proxy trap throws ('own-throw')
 * may end the call with that very throw, or with a typed error caused by it: the
 * caller's own exception is not the store's to rename.
 * The store under test has maxValueBytes 1024 (VALUE_BYTES_MAX), so the size limit is
 * met exactly and by one byte over: msgpack frames a string of n < 32 bytes with 1 byte,
 * n < 256 with 2, n < 65536 with 3; msgpackr writes a plain Uint8Array of n bytes as an
 * extension of n + 1 bytes (n + 4 under 255, n + 5 from there) and a Buffer as bin (n + 3).
 */
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { ErrorCode } from '../src/index.js';

export const VALUE_BYTES_MAX = 1024;

export type ValueRecipe =
  | { value: 'plain'; plain: unknown }
  | { value: 'special'; name: SpecialValueName }
  | { value: 'nested'; container: 'object' | 'array' | 'set'; inner: ValueRecipe };

export type ValueVerdict =
  | { kind: 'read'; expected: unknown }
  | { kind: 'refuse'; code: string }
  | { kind: 'own-throw'; thrown: unknown };

interface SpecialValue {
  make(): unknown;
  /** The verdict of the value alone; `nestable`: the same verdict, wrapped, inside a container. */
  verdict(made: unknown): ValueVerdict;
  nestable: boolean;
}

const read = (expected: unknown): ValueVerdict => ({ kind: 'read', expected });
const invalid: ValueVerdict = { kind: 'refuse', code: ErrorCode.InvalidValue };
const tooLarge: ValueVerdict = { kind: 'refuse', code: ErrorCode.ValueTooLarge };
const same = (made: unknown): ValueVerdict => read(made);

class Plain { q = 1; r = [2]; }
class WithJson { toJSON(): unknown { return { json: true }; } }
class Bytes extends Uint8Array {}
class NoJson { toJSON(): undefined { return undefined; } }
class MapKind extends Map<string, number> {}
const thrownByGetter = new Error('getter of the value');

function detachedBytes(): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(4));
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

function cycle(): unknown {
  const node: Record<string, unknown> = { a: 1 };
  node.self = [node];
  return node;
}

function deeplyNested(depth: number): unknown {
  let value: unknown = [];
  for (let level = 1; level < depth; level++) value = [value];
  return value;
}

const SPECIAL_VALUES = {
  'undefined': { make: () => undefined, verdict: () => invalid, nestable: false },
  'function': { make: () => () => 1, verdict: () => invalid, nestable: false },
  'symbol': { make: () => Symbol('v'), verdict: () => invalid, nestable: false },
  'bigint-huge': { make: () => -(2n ** 80n) + 1n, verdict: same, nestable: true },
  'date': { make: () => new Date(1_700_000_000_123), verdict: same, nestable: true },
  'negative-zero': { make: () => -0, verdict: () => read(0), nestable: true },
  'nan': { make: () => NaN, verdict: same, nestable: true },
  'infinity': { make: () => -Infinity, verdict: same, nestable: true },
  'map': { make: () => new Map<unknown, unknown>([['x', 1], [2, 'y']]), verdict: () => read({ x: 1, 2: 'y' }), nestable: true },
  'map-colliding-keys': { make: () => new Map<unknown, unknown>([[1, 'a'], ['1', 'b']]), verdict: () => invalid, nestable: true },
  'map-proto-key': { make: () => new Map([['__proto__', 1]]), verdict: () => invalid, nestable: true },
  'map-subclass': { make: () => new MapKind([['a', 1]]), verdict: () => invalid, nestable: true },
  'set': { make: () => new Set([1, 'a']), verdict: same, nestable: true },
  'sparse-array': { make: () => [1, , 3], verdict: () => read([1, undefined, 3]), nestable: true },
  'boxed-number': { make: () => new Number(5), verdict: () => invalid, nestable: true },
  'own-proto-key': { make: () => JSON.parse('{"a":1,"__proto__":2}') as unknown, verdict: () => invalid, nestable: true },
  'lone-surrogate': { make: () => 'x\udbff', verdict: () => invalid, nestable: true },
  'lone-surrogate-key': { make: () => ({ ['\ud800']: 1 }), verdict: () => invalid, nestable: true },
  'cycle': { make: cycle, verdict: () => invalid, nestable: true },
  'depth-512': { make: () => deeplyNested(512), verdict: same, nestable: false },
  'depth-513': { make: () => deeplyNested(513), verdict: () => invalid, nestable: true },
  'class-instance': { make: () => new Plain(), verdict: () => read({ q: 1, r: [2] }), nestable: true },
  'class-with-tojson': { make: () => new WithJson(), verdict: () => read({ json: true }), nestable: true },
  'tojson-undefined': { make: () => new NoJson(), verdict: () => invalid, nestable: false },
  'tojson-undefined-nested': { make: () => ({ a: new NoJson(), b: 1 }), verdict: () => read({ a: undefined, b: 1 }), nestable: true },
  'symbol-keyed-property': { make: () => ({ [Symbol('meta')]: 1, a: 1 }), verdict: () => read({ a: 1 }), nestable: true },
  'array-with-property': { make: () => Object.assign([1, 2], { extra: 3 }), verdict: () => read([1, 2]), nestable: true },
  'null-prototype': { make: () => Object.assign(Object.create(null) as object, { a: 1 }), verdict: () => read({ a: 1 }), nestable: true },
  'frozen': { make: () => Object.freeze({ a: Object.freeze([1, 2]) }), verdict: () => read({ a: [1, 2] }), nestable: true },
  'proxied-object': { make: () => new Proxy({ a: 1 }, {}), verdict: () => read({ a: 1 }), nestable: true },
  'throwing-getter': {
    make: () => ({ get a(): unknown { throw thrownByGetter; } }),
    verdict: () => ({ kind: 'own-throw', thrown: thrownByGetter }), nestable: true,
  },
  'throwing-getter-string': {
    make: () => ({ get a(): unknown { throw 'not an error'; } }),
    verdict: () => ({ kind: 'own-throw', thrown: 'not an error' }), nestable: true,
  },
  'bytes': { make: () => new Uint8Array([0, 255, 7]), verdict: same, nestable: true },
  'buffer': { make: () => Buffer.from([1, 2, 3]), verdict: same, nestable: true },
  'bytes-subclass': { make: () => new Bytes([4, 5]), verdict: () => read(new Uint8Array([4, 5])), nestable: false },
  'bytes-shared': { make: () => new Uint8Array(new SharedArrayBuffer(3)).fill(9), verdict: () => read(new Uint8Array([9, 9, 9])), nestable: false },
  'bytes-offset': { make: () => new Uint8Array([1, 2, 3, 4]).subarray(1, 3), verdict: () => read(new Uint8Array([2, 3])), nestable: true },
  'bytes-detached': { make: detachedBytes, verdict: () => invalid, nestable: false },
  'bytes-length-over': {
    make: () => Object.defineProperty(new Uint8Array([1, 2]), 'length', { get: () => 64 }),
    verdict: () => read(new Uint8Array([1, 2])), nestable: false,
  },
  'bytes-length-under': {
    make: () => Object.defineProperty(new Uint8Array([1, 2, 3]), 'length', { get: () => 1 }),
    verdict: () => read(new Uint8Array([1, 2, 3])), nestable: false,
  },
  'int16array': { make: () => new Int16Array([1, -1]), verdict: same, nestable: true },
  'float64array': { make: () => new Float64Array([0.5, NaN]), verdict: same, nestable: true },
  'bytes-at-limit': { make: () => new Uint8Array(VALUE_BYTES_MAX - 5).fill(3), verdict: same, nestable: false },
  'bytes-over-limit': { make: () => new Uint8Array(VALUE_BYTES_MAX - 4).fill(3), verdict: () => tooLarge, nestable: true },
  'buffer-at-limit': { make: () => Buffer.alloc(VALUE_BYTES_MAX - 3, 4), verdict: same, nestable: false },
  'buffer-over-limit': { make: () => Buffer.alloc(VALUE_BYTES_MAX - 2, 4), verdict: () => tooLarge, nestable: true },
  'string-at-limit': { make: () => 's'.repeat(VALUE_BYTES_MAX - 3), verdict: same, nestable: false },
  'string-over-limit': { make: () => 's'.repeat(VALUE_BYTES_MAX - 2), verdict: () => tooLarge, nestable: true },
  'two-byte-string-at-limit': { make: () => '\u00e9'.repeat((VALUE_BYTES_MAX - 3) >> 1), verdict: same, nestable: false },
  'string-huge': { make: () => 'h'.repeat(70_000), verdict: () => tooLarge, nestable: true },
} satisfies Record<string, SpecialValue>;

export type SpecialValueName = keyof typeof SPECIAL_VALUES;

export interface MadeValue {
  value: unknown;
  verdict: ValueVerdict;
}

function wrap(container: 'object' | 'array' | 'set', inner: unknown): unknown {
  if (container === 'object') return { inner, n: 1 };
  if (container === 'array') return [inner, 'tail'];
  return new Set([inner]);
}

/** The value of a recipe and its verdict (a container's is its member's, wrapped). */
export function makeValue(recipe: ValueRecipe): MadeValue {
  if (recipe.value === 'plain') return { value: recipe.plain, verdict: read(recipe.plain) };
  if (recipe.value === 'special') {
    const special: SpecialValue = SPECIAL_VALUES[recipe.name];
    const value = special.make();
    return { value, verdict: special.verdict(value) };
  }
  const inner = makeValue(recipe.inner);
  const value = wrap(recipe.container, inner.value);
  const verdict = inner.verdict.kind === 'read' ? read(wrap(recipe.container, inner.verdict.expected)) : inner.verdict;
  return { value, verdict };
}

/** Small valid values msgpackr reads back exactly (no -0, no lone surrogates, no '__proto__' key). */
const plainValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer(), fc.double({ noDefaultInfinity: false }).filter((number) => !Object.is(number, -0)),
    fc.string({ unit: 'binary', maxLength: 12 }), fc.boolean(), fc.constant(null), fc.bigInt(),
    fc.uint8Array({ maxLength: 8 }), fc.date({ noInvalidDate: true }),
  ),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  array: fc.array(tie('node'), { maxLength: 4 }),
  object: fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }).filter((name) => name !== '__proto__'), tie('node'), { maxKeys: 4, noNullPrototype: true }),
})).node;

const specialRecipe = fc.constantFrom(...(Object.keys(SPECIAL_VALUES) as SpecialValueName[]))
  .map((name): ValueRecipe => ({ value: 'special', name }));

const nestableNames = (Object.keys(SPECIAL_VALUES) as SpecialValueName[]).filter((name) => SPECIAL_VALUES[name].nestable);

export const valueRecipe: fc.Arbitrary<ValueRecipe> = fc.oneof(
  { weight: 3, arbitrary: plainValue.map((plain): ValueRecipe => ({ value: 'plain', plain })) },
  { weight: 3, arbitrary: specialRecipe },
  {
    weight: 2,
    arbitrary: fc.record({
      container: fc.constantFrom('object' as const, 'array' as const, 'set' as const),
      name: fc.constantFrom(...nestableNames),
    }).map(({ container, name }): ValueRecipe => ({ value: 'nested', container, inner: { value: 'special', name } })),
  },
);
