/**
 * A Map subclass is refused whether or not it holds entries (value-shape.ts
 * refuseLossyContainer: the rule is by class, as the README states it). Not a defect
 * fix: this pins the empty case, which an earlier review listed as refused "while a
 * non-empty one ..." without saying what. Both are refused with InvalidValueError, at
 * the top and nested, and nothing is written; an exact empty Map is stored and reads
 * back as {} (a Map reads back as a plain object); a subclass with a toJSON is stored
 * as what toJSON returns.
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../src/errors.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

class SubclassedMap<K, V> extends Map<K, V> {}
class JsonMap<K, V> extends Map<K, V> {
  toJSON(): unknown {
    return [...this.entries()];
  }
}

describe('a Map subclass as a value', () => {
  it('empty or not, at the top or nested: InvalidValueError, nothing written', async () => {
    const store = await memoryStore();
    for (const value of [new SubclassedMap(), new SubclassedMap([['a', 1]]), { nested: new SubclassedMap() }, [new SubclassedMap([['a', 1]])]]) {
      await expect(store.put('k', value)).rejects.toBeInstanceOf(InvalidValueError);
    }
    expect(await store.get('k')).toBeUndefined();
    expect(store.version).toBe(0);
  });

  it('an exact empty Map reads back as {}; a subclass with a toJSON as what toJSON returns', async () => {
    const store = await memoryStore();
    await store.put('m', new Map());
    expect(await store.get('m')).toEqual({});
    await store.put('j', new JsonMap());
    expect(await store.get('j')).toEqual([]);
    await store.put('j', new JsonMap([['a', 1]]));
    expect(await store.get('j')).toEqual([['a', 1]]);
  });
});
