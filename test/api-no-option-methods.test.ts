/**
 * snapshot(), checkpoint() and stats() take no argument, and ignored one: a caller of
 * snapshot({ asOf: 3 }) got a snapshot of the newest version and read it as version 3,
 * checkpoint({ force: true }) or stats({ reset: true }) looked like they did what they
 * said. Any argument but undefined is now refused with InvalidOptionError 'options'
 * naming the method, as transactionSync(body, options) is, and nothing is done: no
 * pin, no checkpoint. snapshot and checkpoint reject; stats, which is synchronous,
 * throws. On a closed store snapshot and checkpoint still say StoreClosedError first.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, StoreClosedError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';
import { optionRefusal } from './support/option-refusal.js';

const memoryStore = useMemoryStores();

const ARGUMENTS: unknown[] = [{ asOf: 1 }, { force: true }, {}, true, 3, null, 'prometheus'];

describe('snapshot(), checkpoint(), stats(): an argument is refused, not ignored', () => {
  it('snapshot(x): InvalidOptionError, no pin taken', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    await store.put('a', 2);
    for (const argument of ARGUMENTS) {
      const error = await optionRefusal(() => store.snapshot(argument as never));
      expect(error.option).toBe('options');
      expect(error.message).toContain('snapshot() takes no options');
    }
    expect(store.stats().pinnedReads).toBe(0);
    await using snapshot = await store.snapshot(undefined);
    expect(await snapshot.get('a')).toBe(2);
  });

  it('checkpoint(x): InvalidOptionError, no checkpoint', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    for (const argument of ARGUMENTS) {
      const error = await optionRefusal(() => store.checkpoint(argument as never));
      expect(error.message).toContain('checkpoint() takes no options');
    }
    expect(store.stats().storage.runs).toBe(0);
    await store.checkpoint();
    expect(store.stats().storage.runs).toBe(1);
  });

  it('stats(x): throws InvalidOptionError; stats() works, also on a closed store', async () => {
    const store = await memoryStore();
    for (const argument of ARGUMENTS) {
      let thrown: unknown;
      try {
        store.stats(argument as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect(thrown).toMatchObject({ code: ErrorCode.InvalidOption, option: 'options' });
      expect((thrown as Error).message).toContain('stats() takes no options');
    }
    expect(store.stats().version).toBe(0);
    await store.close();
    expect(() => store.stats({ reset: true } as never)).toThrow(InvalidOptionError);
    expect(store.stats().closed).toBe(true);
    await expect(store.checkpoint({ force: true } as never)).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.snapshot({ asOf: 0 } as never)).rejects.toBeInstanceOf(StoreClosedError);
  });
});
