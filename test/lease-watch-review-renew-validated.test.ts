/**
 * Lease-watch review: a renewal whose commit was validated before the deadline holds the
 * lease for fenced writes validated after it, while its commit is still being made
 * durable. The lease's deadline in memory moved only once the renewal's transaction
 * resolved (after its fdatasync), so a fenced write of the holder made in that window,
 * past the old deadline, was refused with LeaseLostError ('expired (acquire it again)'),
 * and then the renewal resolved: the holder was told it lost a lease it kept, as
 * 6b49c4a's review found the other way round. The renewal now moves the deadline when its
 * commit passes validation under the commit lock (the fence's accepted hook), so every
 * commit ordered after it sees the lease renewed.
 *
 * The renewal's commit is held at its WAL fdatasync (GatedFileSystem); the test waits
 * (no timing threshold: it only waits) until the old deadline passed, then writes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

const TTL_MS = 200;

describe('lease-watch review: a validated renewal holds the lease while its commit becomes durable', () => {
  it('a fenced write past the old deadline, after the renewal was validated, commits', async () => {
    const gated = new GatedFileSystem(new FaultFileSystem(71));
    const store = await openStore('/db', { fileSystem: gated });
    stores.push(store);
    const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: TTL_MS });
    const acquiredAt = performance.now(); // the deadline was set before this, TTL_MS after the acquire began
    gated.armed = true;
    const renewing = store.leases.renew('job', { owner: 'w', token: lease.token, ttlMs: 600_000 });
    const held = await gated.nextHeld(); // the renewal's commit is validated, its fdatasync held
    gated.armed = false;
    while (performance.now() <= acquiredAt + TTL_MS + 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const writing = store.put('report', 'done', { fence: lease }).then(() => 'committed', (error: unknown) => (error as Error).name);
    held.release();
    expect(await renewing).toMatchObject({ expiresAt: expect.any(Number) });
    expect(await writing).toBe('committed');
    expect(await store.get('report')).toBe('done');
    expect((await store.leases.get('job'))?.token).toBe(lease.token);
  });
});
