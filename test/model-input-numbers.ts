/**
 * Numbers and odd arguments for the options the input fuzz throws at every method
 * (model-input-fuzz.test.ts): named constants (printed by name in a counterexample) and
 * versions relative to the store's newest one, made into the real argument at the call.
 */
import fc from 'fast-check';

const ODD_ARGUMENTS = {
  'nan': () => NaN,
  'infinity': () => Infinity,
  'minus-infinity': () => -Infinity,
  'minus-one': () => -1,
  'minus-zero': () => -0,
  'half': () => 0.5,
  'two-pow-53': () => 2 ** 53,
  'two-pow-60': () => 2 ** 60,
  'max-value': () => Number.MAX_VALUE,
  'string-one': () => '1',
  'empty-string': () => '',
  'null': () => null,
  'true': () => true,
  'object': () => ({}),
  'array': () => [1],
  'bigint-one': () => 1n,
  'symbol': () => Symbol('option'),
  'function': () => () => 1,
  'boxed-one': () => new Number(1),
  'date': () => new Date(1),
} as const;

export type OddName = keyof typeof ODD_ARGUMENTS;

/** An argument: a named odd one, a version relative to the newest (`by` 0 is the newest), or a small integer. */
export type NumberRecipe = { odd: OddName } | { newestPlus: number } | { integer: number };

export function makeNumber(recipe: NumberRecipe, newest: number): unknown {
  if ('odd' in recipe) return ODD_ARGUMENTS[recipe.odd]();
  if ('newestPlus' in recipe) return newest + recipe.newestPlus;
  return recipe.integer;
}

export const oddRecipe: fc.Arbitrary<NumberRecipe> = fc.constantFrom(...(Object.keys(ODD_ARGUMENTS) as OddName[])).map((odd) => ({ odd }));

export const numberRecipe: fc.Arbitrary<NumberRecipe> = fc.oneof(
  oddRecipe,
  fc.integer({ min: -3, max: 2 }).map((newestPlus): NumberRecipe => ({ newestPlus })),
  fc.integer({ min: -2, max: 12 }).map((integer): NumberRecipe => ({ integer })),
);

/** asOf: an integer version 0..newest (README: a future one is refused, as is any other form). */
export function validAsOf(asOf: unknown, newest: number): boolean {
  return typeof asOf === 'number' && Number.isInteger(asOf) && asOf >= 0 && asOf <= newest;
}

/** limit of scan and history: a non-negative integer or Infinity. */
export function validLimit(limit: unknown): boolean {
  return limit === Infinity || (typeof limit === 'number' && Number.isInteger(limit) && limit >= 0);
}

/** compact()'s retainFrom: a non-negative safe integer, at most the newest version. */
export function validRetainFrom(retainFrom: unknown, newest: number): boolean {
  return typeof retainFrom === 'number' && Number.isSafeInteger(retainFrom) && retainFrom >= 0 && retainFrom <= newest;
}
