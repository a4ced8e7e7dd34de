/**
 * Second review of 3b7ea36 (an option of the wrong type, null included, is InvalidOptionError
 * naming it): the level adapter's `store` option (the store's options) of null or a
 * primitive made new LadybugLevel() throw a bare TypeError (no code) from its own
 * keyEncoding check ("Cannot use 'in' operator to search for 'keyEncoding' in null"),
 * where README has the adapter's bad arguments be InvalidOptionError as the store's are.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../src/index.js';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

describe('the level adapter\'s store option of the wrong type', () => {
  it('is InvalidOptionError naming store; an object still opens', async () => {
    for (const store of [null, 5, 'x', true]) {
      let thrown: unknown;
      try {
        new LadybugLevel(temporaryDirectory(), { store } as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, String(store)).toBeInstanceOf(InvalidOptionError);
      expect(thrown).toMatchObject({ code: ErrorCode.InvalidOption, option: 'store' });
    }
    const db = new LadybugLevel(temporaryDirectory(), { store: { memoryBudgetBytes: 1 << 22 } });
    await db.put('a', '1');
    expect(await db.get('a')).toBe('1');
    await db.close();
  });
});
