/**
 * The level adapter's own choices, beyond abstract-level's suite: the empty key and
 * the key 0x00 share the store's pair slot (key-slots.ts) without colliding, in
 * order, through ranges, seeks, batches and clear(); the full 1,024-byte key limit
 * stays usable; data survives a reopen.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { ErrorCode } from '../src/errors.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const ZERO = Buffer.of(0);
const EMPTY = Buffer.alloc(0);

function open(location = temporaryDirectory()): LadybugLevel<Buffer, string> {
  return new LadybugLevel<Buffer, string>(location, { keyEncoding: 'buffer', valueEncoding: 'utf8' });
}

afterEach(() => removeTemporaryDirectories());

describe('level adapter: the pair slot', () => {
  it('keeps the empty key and 0x00 apart through put, get, del and batch', async () => {
    const db = open();
    await db.put(EMPTY, 'empty');
    await db.put(ZERO, 'zero');
    await db.put(Buffer.of(0, 0), 'zero-zero');
    expect(await db.getMany([EMPTY, ZERO, Buffer.of(0, 0)])).toEqual(['empty', 'zero', 'zero-zero']);
    await db.del(EMPTY);
    expect(await db.get(EMPTY)).toBeUndefined();
    expect(await db.get(ZERO)).toBe('zero');
    await db.batch([{ type: 'put', key: EMPTY, value: 'again' }, { type: 'del', key: ZERO }, { type: 'put', key: Buffer.from('a'), value: 'a' }]);
    expect(await db.getMany([EMPTY, ZERO, Buffer.from('a')])).toEqual(['again', undefined, 'a']);
    expect(await db.hasMany([EMPTY, ZERO])).toEqual([true, false]);
    await db.close();
  });

  it('iterates both halves in key order, forward and reverse, with ranges and seek', async () => {
    const db = open();
    await db.batch([
      { type: 'put', key: EMPTY, value: 'e' },
      { type: 'put', key: ZERO, value: 'z' },
      { type: 'put', key: Buffer.of(0, 1), value: 'z1' },
      { type: 'put', key: Buffer.from('b'), value: 'b' },
    ]);
    const keys = async (options: object) => (await db.keys(options).all()).map((key) => key.toString('hex'));
    expect(await keys({})).toEqual(['', '00', '0001', '62']);
    expect(await keys({ reverse: true })).toEqual(['62', '0001', '00', '']);
    expect(await keys({ gt: EMPTY })).toEqual(['00', '0001', '62']);
    expect(await keys({ gte: ZERO, lte: ZERO })).toEqual(['00']);
    expect(await keys({ lte: EMPTY })).toEqual(['']);
    expect(await keys({ lt: EMPTY })).toEqual([]);
    expect(await keys({ lt: ZERO, reverse: true })).toEqual(['']);
    expect(await keys({ limit: 1, gte: ZERO })).toEqual(['00']);

    const iterator = db.keys();
    iterator.seek(ZERO);
    expect((await iterator.next())?.toString('hex')).toBe('00');
    iterator.seek(EMPTY);
    expect((await iterator.next())?.toString('hex')).toBe('');
    await iterator.close();

    const reverse = db.keys({ reverse: true });
    reverse.seek(ZERO);
    expect((await reverse.all()).map((key) => key.toString('hex'))).toEqual(['00', '']);
    await db.close();
  });

  it('clear() removes one half of the pair and keeps the other', async () => {
    const db = open();
    await db.batch([{ type: 'put', key: EMPTY, value: 'e' }, { type: 'put', key: ZERO, value: 'z' }, { type: 'put', key: Buffer.from('c'), value: 'c' }]);
    await db.clear({ gt: EMPTY, lte: ZERO });
    expect(await db.getMany([EMPTY, ZERO, Buffer.from('c')])).toEqual(['e', undefined, 'c']);
    await db.clear();
    expect(await db.keys().all()).toEqual([]);
    await db.close();
  });

  it('an explicit snapshot reads the pair slot as of its version', async () => {
    const db = open();
    await db.put(EMPTY, 'before');
    const snapshot = db.snapshot();
    await db.put(ZERO, 'after');
    await db.put(EMPTY, 'changed');
    expect(await db.get(EMPTY, { snapshot })).toBe('before');
    expect(await db.get(ZERO, { snapshot })).toBeUndefined();
    expect((await db.iterator({ snapshot }).all()).map(([key, value]) => [key.toString('hex'), value])).toEqual([['', 'before']]);
    await snapshot.close();
    await db.close();
  });
});

describe('level adapter: keys and durability', () => {
  it('accepts a 1,024-byte key and refuses 1,025 bytes with the store error', async () => {
    const db = open();
    const longest = Buffer.alloc(1024, 0x61);
    await db.put(longest, 'fits');
    expect(await db.get(longest)).toBe('fits');
    await expect(db.put(Buffer.alloc(1025, 0x61), 'too long')).rejects.toMatchObject({ code: ErrorCode.InvalidKey });
    await db.close();
  });

  it('keeps everything across close and reopen, the pair slot included', async () => {
    const location = temporaryDirectory();
    const first = open(location);
    await first.batch([{ type: 'put', key: EMPTY, value: 'e' }, { type: 'put', key: ZERO, value: 'z' }, { type: 'put', key: Buffer.from('k'), value: 'v' }]);
    await first.close();
    const second = open(location);
    expect((await second.iterator().all()).map(([key, value]) => [key.toString('hex'), value])).toEqual([['', 'e'], ['00', 'z'], ['6b', 'v']]);
    await second.close();
  });

  it('refuses a keyEncoding for the underlying store', () => {
    expect(() => new LadybugLevel(temporaryDirectory(), { store: { keyEncoding: 'utf8' } as never })).toThrow(/set by the level adapter/);
  });
});
