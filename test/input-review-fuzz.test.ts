/**
 * Bad input at every public entry point, seeded. A store holds a known data set (several
 * versions, a delete, a binary key, a backup); then every method (openStore and its options,
 * put/delete/batch, get/history/scan and their options, snapshot reads, transaction and
 * transactionSync with the tx methods, checkpoint, compact, scrub, stats, metrics, backup,
 * restoreBackup, verifyBackup, the lease methods, watch) is called with wrong input from a
 * pool: null, undefined, NaN, -0, Infinity, out-of-range and unsafe integers, a bigint, a
 * symbol, a function, a Promise, lone-surrogate and over-long strings, empty/frozen/null-prototype
 * objects, an own __proto__ key, Proxies and getters that throw, an aborted AbortSignal,
 * Dates, Maps, typed arrays, unknown option names. A batch mixes a valid operation with the
 * bad one (all or nothing).
 *
 * Each call must settle (no hang) as README documents: refused with an error whose `code` is
 * one of ErrorCode and listed in README, thrown or rejected as the method does (a promise-
 * returning method rejects, never throws); a refused call leaves the store's version as it
 * was; or, where README accepts the input, succeed, a written value reading back in its
 * documented form (-0 as 0, a Map as an object, a class instance as its own properties),
 * also after close and reopen. The caller's own throw (a Proxy's trap, a getter) may come
 * back as itself when the options object itself is the Proxy; a signal already aborted may
 * end the call with the signal's reason (README). At the end the known data set reads back
 * exactly, verify and verifyBackup are clean, and Object.prototype is untouched.
 *
 * INPUT_REVIEW_SEED and INPUT_REVIEW_SAMPLE run others.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isLadybugError, openStore, verifyBackup, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { verifyStore } from '../src/store/verify-store.js';
import { fuzzSites, type Site } from './input-review-fuzz-sites.js';
import { mulberry32 as random } from './support/seeded-random.js';

const SEED = Number(process.env.INPUT_REVIEW_SEED ?? 20261204);
const SAMPLE = Number(process.env.INPUT_REVIEW_SAMPLE ?? 14);
const CALL_TIMEOUT_MS = 5_000;

/** The codes README documents: every `LADYBUG_...` in backticks that is an error code. */
const DOCUMENTED = new Set(
  [...readFileSync(new URL('../README.md', import.meta.url), 'utf8').matchAll(/`(LADYBUG_[A-Z0-9_]+)`/g)].map((match) => match[1]!)
    .filter((code) => (Object.values(ErrorCode) as string[]).includes(code)),
);

export const ownThrow = new Error('thrown by the caller\'s own getter or trap');

function proxyThrowing(): object {
  const trap = (): never => { throw ownThrow; };
  return new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap });
}

function aborted(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

class Plain { q = 1; }

/** The pool of inputs, by name; `read` is what a value-site write reads back as (README's forms). */
export const POOL: Record<string, { make: () => unknown; read?: (made: unknown) => unknown }> = {
  null: { make: () => null }, undefined: { make: () => undefined }, zero: { make: () => 0 }, negativeZero: { make: () => -0, read: () => 0 },
  NaN: { make: () => NaN }, Infinity: { make: () => Infinity }, minusInfinity: { make: () => -Infinity }, minusOne: { make: () => -1 },
  fraction: { make: () => 1.5 }, twoTo53: { make: () => 2 ** 53 }, unsafe: { make: () => 2 ** 53 + 2 }, huge: { make: () => 1e308 },
  twoTo31: { make: () => 2 ** 31 }, true: { make: () => true }, emptyString: { make: () => '' }, string: { make: () => 's' },
  loneSurrogate: { make: () => 'a\ud800' }, longString: { make: () => 'k'.repeat(2000) }, symbol: { make: () => Symbol('s') },
  function: { make: () => () => 1 }, bigint: { make: () => 10n }, emptyObject: { make: () => ({}) }, emptyArray: { make: () => [] },
  frozen: { make: () => Object.freeze({}) }, nullPrototype: { make: () => Object.create(null), read: () => ({}) },
  ownProto: { make: () => JSON.parse('{"__proto__":{"polluted":1}}') }, proxy: { make: proxyThrowing }, abortedSignal: { make: aborted, read: () => ({}) },
  date: { make: () => new Date(86_400_000) }, map: { make: () => new Map([['m', 1]]), read: () => ({ m: 1 }) }, emptyBytes: { make: () => new Uint8Array(0) },
  floats: { make: () => new Float64Array([1.5, -2]) }, unknownName: { make: () => ({ bogus: 1 }) },
  throwingGetter: { make: () => Object.defineProperty({}, 'x', { get() { throw ownThrow; }, enumerable: true }) },
  classInstance: { make: () => new Plain(), read: () => ({ q: 1 }) }, promise: { make: () => Promise.resolve(1) },
};
const CALLERS_OWN = new Set(['proxy', 'throwingGetter']);

type Ending = { how: 'returned' | 'resolved' | 'threw' | 'rejected' | 'hung'; value: unknown };

/** Runs `call`, awaiting what it returns if that is a promise, at most CALL_TIMEOUT_MS ('hung' then). */
async function settle(call: () => unknown): Promise<Ending> {
  let returned: unknown;
  try {
    returned = call();
  } catch (error) {
    return { how: 'threw', value: error };
  }
  if (!(returned instanceof Promise)) return { how: 'returned', value: returned };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Ending>((resolve) => { timer = setTimeout(() => resolve({ how: 'hung', value: undefined }), CALL_TIMEOUT_MS); });
  try {
    return await Promise.race([returned.then((value) => ({ how: 'resolved' as const, value }), (value: unknown) => ({ how: 'rejected' as const, value })), hang]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}${isLadybugError(error) ? ` ${error.code}` : ''}: ${error.message.slice(0, 160)}` : String(error);
}

function sample<T>(items: readonly T[], count: number, next: () => number): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(next() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy.slice(0, count);
}

const KNOWN: [string | Uint8Array, unknown][] = [
  ['a', 1], ['a', { n: [1, 2] }], ['b', 'two'], [new Uint8Array([0xff, 0]), [3n]], ['c', new Uint8Array([1, 2, 3])], ['gone', true],
];

async function writeKnown(store: Store): Promise<void> {
  for (const [key, value] of KNOWN) await store.put(key, value);
  await store.delete('gone');
  await store.checkpoint();
  await store.put('after', { late: true });
}

async function expectKnown(store: Store, where: string): Promise<void> {
  expect(await store.get('a'), where).toEqual({ n: [1, 2] });
  expect((await store.history('a')).map((entry) => entry.value), where).toEqual([{ n: [1, 2] }, 1]);
  expect(await store.get('b'), where).toBe('two');
  expect(await store.get(new Uint8Array([0xff, 0])), where).toEqual([3n]);
  expect(await store.get('c'), where).toEqual(new Uint8Array([1, 2, 3]));
  expect(await store.get('gone'), where).toBeUndefined();
  expect(await store.get('gone', { asOf: 6 }), where).toBe(true);
  expect(await store.get('after'), where).toEqual({ late: true });
}

interface Context { store: Store; fileSystem: FaultFileSystem; written: Map<string, unknown> }

/** Runs one site with one input and judges its ending; returns a problem, or undefined. */
async function judge(context: Context, site: Site, name: string, index: number): Promise<string | undefined> {
  const { store } = context;
  const input = POOL[name]!;
  const made = input.make();
  const what = `${site.name} <- ${name}`;
  const versionBefore = store.version;
  const key = `w/${index}`;
  const ending = await settle(() => site.call({ store, fileSystem: context.fileSystem, key, unique: `${index}` }, made));
  const accepted = site.accepts.includes(name);
  if (ending.how === 'hung') return `${what}: no answer within ${CALL_TIMEOUT_MS} ms`;
  if (ending.how === 'threw' && site.promise) return `${what}: threw synchronously (${describeError(ending.value)}); a promise-returning method rejects`;
  if (ending.how === 'returned' || ending.how === 'resolved') {
    if (!accepted) return `${what}: accepted (${ending.how}), README refuses it`;
    if (site.writesValue) {
      const expected = (input.read ?? ((value: unknown) => value))(made);
      const read = await store.get(key);
      if (!isDeepStrictEqual(read, expected)) return `${what}: reads back as ${String(read)}, not as written`;
      context.written.set(key, expected);
    }
    return undefined;
  }
  const error = ending.value;
  if (store.version !== versionBefore) return `${what}: refused (${describeError(error)}) but the version moved from ${versionBefore} to ${store.version}`;
  if (accepted) return `${what}: refused (${describeError(error)}), README accepts it`;
  if (isLadybugError(error) && DOCUMENTED.has(error.code)) return undefined;
  if (error === ownThrow && CALLERS_OWN.has(name)) return undefined;
  if (name === 'abortedSignal' && site.signal && error instanceof DOMException && error.name === 'AbortError') return undefined;
  return `${what}: ended with ${describeError(error)}, not a documented code`;
}

describe('bad input at every public entry point (seeded)', () => {
  it(`seed ${SEED}: each call refused with a documented code or accepted as README says; the data set intact`, async () => {
    const fileSystem = new FaultFileSystem(SEED);
    let store = await openStore('/db', { fileSystem });
    await writeKnown(store);
    await store.backup('/backup');
    const context: Context = { store, fileSystem, written: new Map() };
    const next = random(SEED);
    const problems: string[] = [];
    const sites = sample(fuzzSites(), Infinity, next);
    let index = 0;
    for (const site of sites) {
      for (const name of sample(Object.keys(POOL), SAMPLE, next)) {
        if (site.skip?.includes(name)) continue;
        const problem = await judge(context, site, name, index++);
        if (problem !== undefined) problems.push(problem);
      }
    }
    expect(problems).toEqual([]);
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    await expectKnown(store, 'after the fuzz');
    await store.close();
    store = await openStore('/db', { fileSystem });
    context.store = store;
    try {
      await expectKnown(store, 'after close and reopen');
      for (const [key, expected] of context.written) expect(await store.get(key), `${key} after reopen`).toStrictEqual(expected);
    } finally {
      await store.close();
    }
    const report = await verifyStore('/db', { fileSystem });
    expect(report.ok, JSON.stringify(report).slice(0, 400)).toBe(true);
    expect((await verifyBackup('/backup', { fileSystem })).ok).toBe(true);
  }, 60_000);
});
