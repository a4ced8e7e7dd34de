/**
 * The level adapter's errors carry a stable code. A bad `location` threw a plain TypeError
 * and `db.store` on a database not open (opening, closed) another one, neither with a
 * `code`; open() refused by createIfMissing / errorIfExists rejected with abstract-level's
 * LEVEL_DATABASE_NOT_OPEN around a plain Error. Now: InvalidOptionError (a TypeError,
 * LADYBUG_INVALID_OPTION) for the arguments and as that cause (abstract-level's own
 * convention for open() is kept: its code outside, the reason as the cause, whose
 * message its suite matches), StoreClosedError (LADYBUG_STORE_CLOSED) for db.store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, StoreClosedError } from '../src/errors.js';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('level adapter: typed errors', () => {
  it('a location that is not a non-empty string is InvalidOptionError (a TypeError with a code)', () => {
    for (const location of ['', 42, undefined, null]) {
      const error = thrown(() => new LadybugLevel(location as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'location' });
    }
  });

  it('db.store while opening and after close is StoreClosedError; while open, the store', async () => {
    const db = new LadybugLevel(temporaryDirectory());
    expect(db.status).toBe('opening');
    const opening = thrown(() => db.store);
    expect(opening).toBeInstanceOf(StoreClosedError);
    expect(opening).toMatchObject({ code: ErrorCode.StoreClosed });
    await db.open();
    await db.store.put('k', 1);
    expect(await db.store.get('k')).toBe(1);
    await db.close();
    const closed = thrown(() => db.store);
    expect(closed).toBeInstanceOf(StoreClosedError);
    expect(closed).toMatchObject({ code: ErrorCode.StoreClosed });
    expect((closed as Error).message).toMatch(/not open \(status 'closed'\)/);
  });

  it('open() refused by createIfMissing or errorIfExists: LEVEL_DATABASE_NOT_OPEN, its cause InvalidOptionError', async () => {
    const location = temporaryDirectory();
    const missing = new LadybugLevel(`${location}/absent`, { createIfMissing: false });
    const refused = await missing.open().then(() => undefined, (error: unknown) => error);
    expect(refused).toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    const cause = (refused as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(InvalidOptionError);
    expect(cause).toMatchObject({ code: ErrorCode.InvalidOption, option: 'createIfMissing' });
    expect((cause as Error).message).toMatch(/does not exist/);

    const db = new LadybugLevel(location);
    await db.open();
    await db.close();
    const again = await db.open({ errorIfExists: true }).then(() => undefined, (error: unknown) => error);
    expect(again).toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    expect((again as { cause?: unknown }).cause).toMatchObject({ code: ErrorCode.InvalidOption, option: 'errorIfExists' });
    expect(((again as { cause: Error }).cause).message).toMatch(/exists/);
    await missing.close();
    await db.close();
  });
});
