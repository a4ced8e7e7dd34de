/**
 * Lease-watch review probes that found nothing (kept: each asserts what a regression
 * would break).
 * - A commit holding one key several times (a batch putting it twice, deleting and
 *   putting another; a transaction putting then deleting) is delivered the same live as
 *   from history: its last operation per key, once.
 * - With maxVersionsPerKey 1 and compact({ retainFrom }) past the versions of a lease's
 *   record and of its bound key, renew, a further bound write and release still work
 *   (their history reads still find the newest versions), and release deletes both keys.
 * - With keyEncoding 'binary' (scans answer Uint8Array keys), the restart rule still finds
 *   the earlier open's records by name and deletes them with their bound keys.
 * - A commit held at its WAL fdatasync is delivered to no feed, live or catching up
 *   ("durable commits only"), and to both once durable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

describe('lease-watch review probes', () => {
  it('a commit with one key several times: the same changes live and from history', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(53) });
    stores.push(store);
    const live = store.watch();
    const first = live.next();
    await store.batch([{ type: 'put', key: 'k', value: 1 }, { type: 'put', key: 'k', value: 2 }, { type: 'del', key: 'j' }, { type: 'put', key: 'j', value: 3 }]);
    await store.transaction(async (tx) => { tx.put('t', 1); tx.put('t', 2); tx.delete('t'); });
    await store.put('end', 1);
    const delivered = [(await first).value];
    while (delivered.at(-1)?.key !== 'end') delivered.push((await live.next()).value);
    await live.return(undefined);
    const fromHistory = [];
    for await (const change of store.watch({ sinceVersion: 0, untilVersion: store.version })) fromHistory.push(change);
    const expected = [
      { version: 1, key: 'j', value: 3, deleted: false }, { version: 1, key: 'k', value: 2, deleted: false },
      { version: 2, key: 't', deleted: true }, { version: 3, key: 'end', value: 1, deleted: false },
    ];
    expect(delivered).toEqual(expected);
    expect(fromHistory).toEqual(expected);
  });

  it('maxVersionsPerKey 1, the retention floor past a lease record and its bound key: renew, bind and release still work', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(59), maxVersionsPerKey: 1 });
    stores.push(store);
    const lease = await store.leases.acquire('a', { owner: 'o', ttlMs: 600_000 });
    await store.put('k', 1, { lease });
    await store.put('other', 1);
    await store.checkpoint();
    await store.compact({ retainFrom: store.version });
    await store.leases.renew('a', { owner: 'o', token: lease.token });
    await store.put('k2', 1, { lease });
    await store.leases.release('a', { owner: 'o', token: lease.token });
    expect([await store.get('k'), await store.get('k2'), await store.get('other')]).toEqual([undefined, undefined, 1]);
    expect(await store.leases.list()).toEqual([]);
  });

  it("keyEncoding 'binary': the restart rule deletes the earlier open's records and bound keys", async () => {
    const fileSystem = new FaultFileSystem(61);
    const store = await openStore('/db', { fileSystem, keyEncoding: 'binary' });
    const lease = await store.leases.acquire('jobs/a', { owner: 'o', ttlMs: 600_000 });
    await store.put('presence', 1, { lease });
    expect((await store.leases.list({ prefix: 'jobs/' })).map((info) => info.name)).toEqual(['jobs/a']);
    await store.close();
    const reopened = await openStore('/db', { fileSystem, keyEncoding: 'binary' });
    stores.push(reopened);
    expect(await reopened.get('presence')).toBeUndefined();
    const reserved: unknown[] = [];
    for await (const [key] of reopened.scan({ lt: '\u0001' })) reserved.push(key);
    expect(reserved).toEqual([]);
  });

  it('a commit held at its fdatasync reaches no feed, live or catching up, until durable', async () => {
    const gated = new GatedFileSystem(new FaultFileSystem(67));
    const store = await openStore('/db', { fileSystem: gated });
    stores.push(store);
    await store.put('a', 1);
    const live = store.watch();
    const liveNext = live.next();
    gated.armed = true;
    const putting = store.put('x', 1);
    const held = await gated.nextHeld();
    gated.armed = false;
    const catchingUp = store.watch({ sinceVersion: 0 });
    expect((await catchingUp.next()).value).toMatchObject({ version: 1, key: 'a' });
    const settledEarly: string[] = [];
    const second = catchingUp.next();
    void second.then(() => settledEarly.push('catch-up'));
    void liveNext.then(() => settledEarly.push('live'));
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(settledEarly, 'nothing delivered before the commit is durable').toEqual([]);
    expect(store.version).toBe(1);
    held.release();
    await putting;
    expect((await second).value).toMatchObject({ version: 2, key: 'x' });
    expect((await liveNext).value).toMatchObject({ version: 2, key: 'x' });
    await live.return(undefined);
    await catchingUp.return(undefined);
  });
});
