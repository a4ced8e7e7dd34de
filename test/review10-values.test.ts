/**
 * Review 10 (a new user's values): values msgpackr writes so that they read back with
 * data lost were accepted, the put resolved, and the loss showed only at the next read:
 * - a Map whose keys share a property name (1 and '1', null and 'null', 1n and '1')
 *   read back as a plain object with one entry left;
 * - a Map with the key "__proto__" read back with the key "__proto_" (the README says an
 *   own __proto__ key is refused anywhere, Map keys included);
 * - a Map subclass read back as {} (its entries dropped);
 * - a boxed primitive (new Number(5), new Boolean(false), Object(5n)) read back as {},
 *   new String('ab') as { 0: 'a', 1: 'b' }.
 * Each is now refused with InvalidValueError at put, nested or at the top, with nothing
 * written; Maps whose keys stay distinct still read back as the object they always did.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidValueError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

class SubclassedMap<K, V> extends Map<K, V> {}

const lossy: Record<string, () => unknown> = {
  'Map keys 1 and "1"': () => new Map<unknown, string>([[1, 'a'], ['1', 'b']]),
  'Map keys null and "null"': () => new Map<unknown, string>([[null, 'a'], ['null', 'b']]),
  'Map keys 1n and "1"': () => new Map<unknown, string>([[1n, 'a'], ['1', 'b']]),
  'Map keys true and "true"': () => new Map<unknown, string>([[true, 'a'], ['true', 'b']]),
  'Map key "__proto__"': () => new Map([['__proto__', { polluted: true }]]),
  'Map subclass': () => new SubclassedMap([['k', 1]]),
  'boxed number': () => new Number(5),
  'boxed string': () => new String('ab'),
  'boxed boolean': () => new Boolean(false),
  'boxed bigint': () => Object(5n) as object,
};

describe('review10: values that would read back with data lost are refused', () => {
  for (const [name, make] of Object.entries(lossy)) {
    for (const [where, wrap] of [['top level', (value: unknown) => value], ['nested', (value: unknown) => ({ outer: [value] })]] as const) {
      it(`${name}, ${where}: InvalidValueError, nothing written`, async () => {
        const store = await memoryStore();
        await store.put('k', 'before');
        const versionBefore = store.version;
        const error = await store.put('k', wrap(make())).then(() => undefined, (caught: unknown) => caught);
        expect(error).toBeInstanceOf(InvalidValueError);
        expect((error as InvalidValueError).code).toBe(ErrorCode.InvalidValue);
        await expect(store.batch([{ type: 'put', key: 'k', value: wrap(make()) }])).rejects.toBeInstanceOf(InvalidValueError);
        expect(store.version).toBe(versionBefore);
        expect(await store.get('k')).toBe('before');
      });
    }
  }

  it('a Map whose keys stay distinct as property names is stored and reads back as that object', async () => {
    const store = await memoryStore();
    await store.put('m', new Map<unknown, unknown>([[1, 'a'], ['b', 2], [null, 3], [2n, 4], ['nested', new Map([['x', 1]])]]));
    expect(await store.get('m')).toEqual({ 1: 'a', b: 2, null: 3, 2: 4, nested: { x: 1 } });
    await store.put('empty', new Map());
    expect(await store.get('empty')).toEqual({});
  });
});
