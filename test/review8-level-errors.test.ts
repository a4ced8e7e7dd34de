/**
 * The level adapter's errors carry a stable code. A bad `location` threw a plain TypeError
 * and `db.store` on a database not open (opening, closed) another one, neither with a
 * `code`; open() refused by createIfMissing / errorIfExists rejected with abstract-level's
 * LEVEL_DATABASE_NOT_OPEN around a plain Error. Now: InvalidOptionError (a TypeError,
 * LADYBUG_INVALID_OPTION) for the arguments and as that cause (abstract-level's own
 * convention for open() is kept: its code outside, the reason as the cause, whose
 * message its suite matches), StoreClosedError (LADYBUG_STORE_CLOSED) for db.store.
 * And a db.close() whose store's close() failed left the database 'open' (abstract-level's
 * rule) without its store: db.store threw, and the next db.close() resolved 'closed' without
 * calling the store's close() again (its lock file was never marked released). The store is
 * now let go once its close() resolved.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, InvalidOptionError, IoError, StoreClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
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

describe('level adapter: a close that fails', () => {
  it('keeps the store: the database is open again, db.store answers, and close() again closes that store again', async () => {
    const fileSystem = new FaultFileSystem(11);
    const db = new LadybugLevel<string, string>('/level', { store: { fileSystem } });
    await db.open();
    await db.put('a', '1');
    const store = db.store;
    // The directory lock's release is the close's last write: refused once, the close fails there.
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /LOCK/ });
    const failed = await db.close().then(() => undefined, (error: unknown) => error);
    expect(fault.triggeredCount).toBe(1);
    expect(failed).toMatchObject({ code: 'LEVEL_DATABASE_NOT_CLOSED' });
    expect((failed as { cause?: unknown }).cause).toMatchObject({ code: ErrorCode.DiskFull });
    expect(db.status).toBe('open');
    expect(db.store).toBe(store);
    const closes = vi.spyOn(store, 'close');
    await db.close();
    expect(closes).toHaveBeenCalledTimes(1);
    expect(db.status).toBe('closed');
    // A new database opens the directory and reads what was written.
    const reopened = new LadybugLevel<string, string>('/level', { store: { fileSystem } });
    expect(await reopened.get('a')).toBe('1');
    await reopened.close();
  });
});

describe('level adapter: open() on a directory it cannot look at', () => {
  it('rejects with LEVEL_DATABASE_NOT_OPEN whose cause is IoError (LADYBUG_IO), not the raw error', async () => {
    const raw = Object.assign(new Error("EACCES: permission denied, stat '/level/wal'"), { code: 'EACCES' });
    const inner = new FaultFileSystem(3);
    const fileSystem = new Proxy(inner, {
      get: (target, name) => (name === 'exists' ? () => Promise.reject(raw) : Reflect.get(target, name, target)),
    });
    const db = new LadybugLevel('/level', { store: { fileSystem } });
    const refused = await db.open().then(() => undefined, (error: unknown) => error);
    expect(refused).toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    const cause = (refused as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(IoError);
    expect(cause).toMatchObject({ code: ErrorCode.Io, errno: 'EACCES', cause: raw });
    await db.close();
  });
});
