/**
 * The level adapter beside the store's own keys. `db.store` is the underlying Store;
 * using its leases writes lease records under the reserved prefix "\u0000ladybug/",
 * which every level iteration then met: iterator(), keys() and clear() failed with
 * AssertionFailedError ("an ordinary adapter key holds bytes") until a reopen expired
 * the lease. No level key can be a reserved key (the store refuses the write), so
 * reads and iterators skip them, and clear() leaves the lease alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

const RESERVED = '\u0000ladybug/lease/job';

describe('level adapter and the store reserved keys', () => {
  it('iterators, keys(), get and clear() skip lease records written through db.store', async () => {
    const db = new LadybugLevel<string, unknown>(`${temporaryDirectory()}/db`, { valueEncoding: 'json' });
    await db.open();
    await db.put('', 'empty');
    await db.put('\u0000', 'zero');
    await db.put('\u0000a', 'after zero');
    await db.put('b', 'b');
    const lease = await db.store.leases.acquire('job', { owner: 'o', ttlMs: 60_000 });
    expect(await db.iterator().all()).toEqual([['', 'empty'], ['\u0000', 'zero'], ['\u0000a', 'after zero'], ['b', 'b']]);
    expect(await db.iterator({ reverse: true }).all()).toEqual([['b', 'b'], ['\u0000a', 'after zero'], ['\u0000', 'zero'], ['', 'empty']]);
    expect(await db.keys({ gt: '\u0000', lt: '\u0001' }).all()).toEqual(['\u0000a']);
    expect(await db.get(RESERVED)).toBeUndefined();
    expect(await db.has(RESERVED)).toBe(false);
    await db.clear({ gte: '\u0000a' });
    expect(await db.keys().all()).toEqual(['', '\u0000']);
    await db.clear();
    expect(await db.keys().all()).toEqual([]);
    expect(await db.store.leases.get('job')).toMatchObject({ owner: 'o', token: lease.token });
    await db.close();
  });
});
