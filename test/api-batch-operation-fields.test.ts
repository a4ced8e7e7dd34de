/**
 * A batch operation's fields are checked like an option's names: an operation with a
 * field it does not take ({ type: 'put', key, value, asof: 3 }, a `vaule` for `value`,
 * a `lease` meant for the batch's options, a del carrying a value) was accepted and the
 * field silently ignored: the put wrote at the newest version, the del deleted. Now
 * InvalidOptionError 'operations' naming the operation's index and the field, and
 * nothing of the batch is written; a bad type names the index too. `value: undefined`
 * on a del is accepted (operations built by one mapping for both types), and so are
 * properties an operation inherits (only its own fields are the caller's). The level
 * adapter (whose operations abstract-level fills with keyEncoding, valueEncoding and the
 * caller's options) still writes its batches.
 */
import { describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { ErrorCode, InvalidOptionError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';
import { optionRefusal } from './support/option-refusal.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const memoryStore = useMemoryStores();

describe('batch(): an operation field it does not take is refused', () => {
  it('a misspelled or extra field: InvalidOptionError naming the index and the field, nothing written', async () => {
    const store = await memoryStore();
    await store.put('k', 'old');
    const refused: Array<[unknown[], string]> = [
      [[{ type: 'put', key: 'a', value: 1 }, { type: 'put', key: 'k', value: 2, asof: 1 }], 'operation 1 (put) has a field asof'],
      [[{ type: 'put', key: 'k', vaule: 2 }], 'operation 0 (put) has a field vaule'],
      [[{ type: 'del', key: 'k', value: 'new' }], 'operation 0 (del) has a field value'],
      [[{ type: 'del', key: 'a' }, { type: 'del', key: 'k', ifVersion: 1 }], 'operation 1 (del) has a field ifVersion'],
      [[{ type: 'put', key: 'k', value: 2, lease: { name: 'x' } }], 'operation 0 (put) has a field lease'],
      [[{ type: 'put', key: 'a', value: 1 }, { type: 'delete', key: 'k' }], "operation 1: type must be 'put' or 'del', got delete"],
      [[{ type: 'put', key: 'a', value: 1 }, 5], 'operation 1 must be an object'],
    ];
    for (const [operations, message] of refused) {
      const error = await optionRefusal(() => store.batch(operations as never));
      expect(error.option).toBe('operations');
      expect(error.message).toContain(message);
    }
    expect(store.version).toBe(1);
    expect(await store.get('k')).toBe('old');
    expect(await store.get('a')).toBeUndefined();
  });

  it('what a batch takes is still written: value undefined on a del, inherited properties', async () => {
    const store = await memoryStore();
    await store.put('d', 1);
    const inherited = Object.assign(Object.create({ note: 'from a prototype' }) as object, { type: 'put', key: 'i', value: 2 });
    await store.batch([{ type: 'del', key: 'd', value: undefined } as never, inherited as never, { type: 'put', key: 'p', value: 3 }]);
    expect(await store.get('d')).toBeUndefined();
    expect(await store.get('i')).toBe(2);
    expect(await store.get('p')).toBe(3);
  });

  it('the level adapter: batches with abstract-level fields and per-operation options are written', async () => {
    const db = new LadybugLevel<string, string>('/level', { store: { fileSystem: new FaultFileSystem(4) } });
    await db.open();
    await db.batch([
      { type: 'put', key: 'a', value: 'one', keyEncoding: 'utf8', valueEncoding: 'utf8' },
      { type: 'put', key: 'b', value: 'two' },
      { type: 'del', key: 'c' },
    ]);
    await db.batch().put('c', 'three').del('a').write();
    expect(await db.get('a')).toBeUndefined();
    expect(await db.get('b')).toBe('two');
    expect(await db.get('c')).toBe('three');
    await db.close();
  });

  it('the refusal carries the stable code', async () => {
    const store = await memoryStore();
    const error = await store.batch([{ type: 'put', key: 'a', value: 1, extra: true } as never]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ code: ErrorCode.InvalidOption });
  });
});
