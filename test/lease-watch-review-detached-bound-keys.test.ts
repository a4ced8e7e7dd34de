/**
 * Lease-watch review: the 1,024 keys a lease may bind (README: "binds the put keys
 * (strings, at most 1,024 per lease)") are the keys it owns, not every key it ever
 * bound. A key a later put or delete detached (README: "a later put or delete of it ...
 * detaches it") stayed in the lease's record for good, and counted: a long-lived lease
 * (renewed for days) that binds a presence key per job and deletes it when the job is
 * done was refused every bound write after its 1,024th job (InvalidOptionError 'lease',
 * "a lease binds at most 1024 keys") while it owned none. Detached keys are now let go
 * when the bound count would pass the limit; the lease's end still deletes exactly the
 * keys it owns and keeps those written since by others.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

const ROUND_KEYS = 128;
const ROUNDS = 9; // 1,152 keys bound over the lease's life, each detached after its round

describe('lease-watch review: detached keys do not count against a lease\'s bound keys', () => {
  it('a lease whose 1,152 earlier bound keys were all detached binds more, and its end deletes only what it owns', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(23) });
    stores.push(store);
    const lease = await store.leases.acquire('worker', { owner: 'w1', ttlMs: 600_000 });
    for (let round = 0; round < ROUNDS; round++) {
      const keys = Array.from({ length: ROUND_KEYS }, (_, index) => `job/${String(round * ROUND_KEYS + index).padStart(5, '0')}`);
      await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: round })), { lease });
      // The job is done: most keys are deleted, the first of each round is taken over by a plain put.
      await store.batch(keys.map((key, index) => (index === 0 ? { type: 'put' as const, key, value: 'kept' } : { type: 'del' as const, key })));
    }
    // The lease owns no key now: a new bound write is within its 1,024.
    await store.put('presence/w1', { alive: true }, { lease });
    await store.batch([{ type: 'put', key: 'presence/w1-extra', value: 1 }], { lease });
    await store.leases.renew('worker', { owner: 'w1', token: lease.token });
    await store.leases.release('worker', { owner: 'w1', token: lease.token });
    expect(await store.get('presence/w1'), 'a key the lease owned is deleted at its end').toBeUndefined();
    expect(await store.get('presence/w1-extra')).toBeUndefined();
    for (let round = 0; round < ROUNDS; round++) {
      expect(await store.get(`job/${String(round * ROUND_KEYS).padStart(5, '0')}`), 'a key detached by a plain put is kept').toBe('kept');
    }
  });

  it('a lease that owns 1,024 keys is still refused a 1,025th, and keeps all it owns', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(29) });
    stores.push(store);
    const lease = await store.leases.acquire('worker', { owner: 'w1', ttlMs: 600_000 });
    const keys = Array.from({ length: 1024 }, (_, index) => `own/${String(index).padStart(5, '0')}`);
    await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: 1 })), { lease });
    await expect(store.put('own/one-more', 1, { lease })).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION', option: 'lease' });
    expect(await store.get('own/one-more')).toBeUndefined();
    // One detached by a plain delete frees one place.
    await store.delete('own/00000');
    await store.put('own/one-more', 2, { lease });
    await store.leases.release('worker', { owner: 'w1', token: lease.token });
    let left = 0;
    for await (const _ of store.scan({ gte: 'own/', lt: 'own0' })) left++;
    expect(left, 'every owned key deleted at the end').toBe(0);
  });
});
