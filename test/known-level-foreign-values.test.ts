/**
 * The level adapter over store values it did not write. The store key 0x00 (the pair
 * slot, key-slots.ts) or an ordinary key written through the Store API (`db.store`)
 * with a value that is not the adapter's made every level read and write that met it
 * fail an internal assertion (AssertionFailedError, LADYBUG_ASSERTION_FAILED: "a bug"),
 * not a typed error. It is now ForeignValueError (LADYBUG_FOREIGN_VALUE) naming the
 * store key, and the stored value is left as it was.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, ForeignValueError } from '../src/errors.js';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const ZERO = Buffer.of(0);
const EMPTY = Buffer.alloc(0);

afterEach(() => removeTemporaryDirectories());

async function open(): Promise<LadybugLevel<Buffer, string>> {
  const db = new LadybugLevel<Buffer, string>(temporaryDirectory(), { keyEncoding: 'buffer', valueEncoding: 'utf8' });
  await db.open();
  return db;
}

async function refusal(operation: () => Promise<unknown>): Promise<unknown> {
  return operation().then(() => 'no error', (error: unknown) => error);
}

async function iterateAll(db: LadybugLevel<Buffer, string>, options: object = {}): Promise<unknown> {
  const entries: unknown[] = [];
  for await (const entry of db.iterator(options)) entries.push(entry);
  return entries;
}

function expectForeign(error: unknown, storeKey: Uint8Array): void {
  expect(error).toBeInstanceOf(ForeignValueError);
  expect((error as ForeignValueError).code).toBe(ErrorCode.ForeignValue);
  expect((error as ForeignValueError).key).toEqual(Uint8Array.from(storeKey));
}

describe('level adapter: a store value the adapter did not write', () => {
  for (const [name, foreign] of [['a string', 'written by the store API'], ['a pair of the wrong kinds', [1, 2]], ['an array of three', [null, null, null]], ['bytes', Uint8Array.of(1)]] as const) {
    it(`the pair slot holding ${name}: reads and writes of '' and 0x00 refuse it with ForeignValueError; it stays as stored`, async () => {
      const db = await open();
      await db.put(Buffer.from('a'), 'level value');
      await db.store.put(ZERO, foreign);
      for (const key of [EMPTY, ZERO]) {
        expectForeign(await refusal(() => db.get(key)), ZERO);
        expectForeign(await refusal(() => db.put(key, 'x')), ZERO);
        expectForeign(await refusal(() => db.del(key)), ZERO);
      }
      expectForeign(await refusal(() => db.batch([{ type: 'put', key: Buffer.from('b'), value: 'b' }, { type: 'del', key: EMPTY }])), ZERO);
      expectForeign(await refusal(() => iterateAll(db)), ZERO);
      expectForeign(await refusal(() => iterateAll(db, { reverse: true })), ZERO);
      // Past the slot, iterators and reads answer as before.
      expect(await iterateAll(db, { gte: Buffer.from('a') })).toEqual([[Buffer.from('a'), 'level value']]);
      expect(await db.get(Buffer.from('b'))).toBeUndefined();
      expect(await db.store.get(ZERO)).toEqual(foreign);
      // Removed through the store, the slot is the adapter's again.
      await db.store.delete(ZERO);
      await db.put(EMPTY, 'empty');
      expect(await iterateAll(db)).toEqual([[EMPTY, 'empty'], [Buffer.from('a'), 'level value']]);
      await db.close();
    });
  }

  it('an ordinary key holding a value that is not bytes: get and iterators refuse it with ForeignValueError; it stays as stored', async () => {
    const db = await open();
    await db.put(Buffer.from('a'), 'level value');
    const key = Buffer.from('user/1');
    await db.store.put(key, { name: 'Ada' });
    expectForeign(await refusal(() => db.get(key)), key);
    expectForeign(await refusal(() => db.getMany([Buffer.from('a'), key])), key);
    expectForeign(await refusal(() => iterateAll(db)), key);
    expect(await iterateAll(db, { lt: Buffer.from('b') })).toEqual([[Buffer.from('a'), 'level value']]);
    expect(await db.store.get(key)).toEqual({ name: 'Ada' });
    await db.close();
  });
});
