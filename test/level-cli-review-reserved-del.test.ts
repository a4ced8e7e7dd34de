/**
 * A level key under the store's reserved prefix ("\u0000ladybug/", lease records) is never
 * a level key: get answers it absent and iterators skip it (review4-level-reserved), and a
 * put of one is refused (InvalidKeyError 'reserved'). A del of one, alone or in a batch,
 * does nothing, as a del of any absent key does in level (and as a del of a key over the
 * length limit does, c5a2b83): it was refused with InvalidKeyError, failing the whole batch
 * around it. A lease record the store holds there stays as it is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { InvalidKeyError } from '../src/errors.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

describe('level del of a key under the store reserved prefix', () => {
  it('does nothing, alone or in a batch; a put stays refused; lease records stay', async () => {
    const db = new LadybugLevel<string, string>(temporaryDirectory());
    await db.open();
    const lease = await db.store.leases.acquire('jobs/a', { owner: 'w', ttlMs: 60_000 });
    const reserved = await db.store.scan({ gte: '\u0000ladybug/', lt: '\u0000ladybug0' }).next();
    expect(reserved.done).toBe(false);
    const reservedKey = new TextDecoder().decode(reserved.value![0] as Uint8Array);
    await db.put('a', 'a1');
    await db.del(reservedKey);
    await db.del('\u0000ladybug/not-there');
    await db.batch([{ type: 'del', key: reservedKey }, { type: 'put', key: 'b', value: 'b1' }, { type: 'del', key: 'a' }]);
    const chained = db.batch().del('\u0000ladybug/x').put('c', 'c1');
    await chained.write();
    expect(await db.iterator().all()).toEqual([['b', 'b1'], ['c', 'c1']]);
    expect(await db.get(reservedKey)).toBeUndefined();
    await expect(db.put(reservedKey, 'v')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(db.batch([{ type: 'put', key: 'd', value: 'd' }, { type: 'put', key: '\u0000ladybug/y', value: 'v' }])).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await db.get('d')).toBeUndefined();
    expect((await db.store.leases.get('jobs/a'))?.token).toBe(lease.token);
    await db.close();
  });
});
