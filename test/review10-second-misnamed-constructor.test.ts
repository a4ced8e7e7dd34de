/**
 * Review 10, second engineer (beside af88a76's refusals of values msgpackr would change):
 * msgpackr chooses how to write an object by its `constructor` property alone, so a
 * plain object with a `constructor` property of Array ({ constructor: Array, a: 1 })
 * was accepted and read back as [] (its properties lost), and one of Map made the put
 * reject with a bare TypeError ('map is not iterable', no code) from the shape check.
 * Both are refused with InvalidValueError now, nothing written; real arrays and Maps,
 * and objects whose `constructor` property is anything else, are stored as before.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidValueError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

describe('review10 second: objects whose constructor property names Array or Map', () => {
  for (const [name, make] of [
    ['constructor Array', () => ({ constructor: Array, a: 1 })],
    ['constructor Map', () => ({ constructor: Map, a: 1 })],
    ['nested constructor Array', () => ({ outer: [{ constructor: Array, a: 1 }] })],
  ] as const) {
    it(`${name}: InvalidValueError, nothing written`, async () => {
      const store = await memoryStore();
      await store.put('k', 'before');
      const error = await store.put('k', make()).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidValueError);
      expect((error as InvalidValueError).code).toBe(ErrorCode.InvalidValue);
      expect(await store.get('k')).toBe('before');
    });
  }

  it('arrays, Maps and a constructor property of another value are stored as before', async () => {
    const store = await memoryStore();
    await store.put('a', [1, 2]);
    await store.put('m', new Map([['x', 1]]));
    await store.put('s', JSON.parse('{"constructor": "config", "n": 1}'));
    expect(await store.get('a')).toEqual([1, 2]);
    expect(await store.get('m')).toEqual({ x: 1 });
    expect(await store.get('s')).toEqual({ constructor: 'config', n: 1 });
  });
});
