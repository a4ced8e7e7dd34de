/**
 * The store's records of leases (the lease record with its bound keys, a force release's
 * audit entry) are the store's own values: their fields have their own limits (a name and an
 * owner or actor of 256 bytes, a reason of 1024, 1024 bound keys), checked at the call, and
 * the user's `maxValueBytes` does not apply to them. With maxValueBytes 1024 (its least), a
 * force release with a 1000-byte reason, an acquire by a 256-byte owner and a lease binding
 * many keys all failed with ValueTooLargeError, a limit meant for the user's own values.
 * The user's values are still held to it, and the fields to their own limits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, ValueTooLargeError } from '../src/index.js';
import { LEASE_OWNER_BYTES_MAX, LEASE_REASON_BYTES_MAX } from '../src/limits.js';
import { auditKey } from '../src/lease/lease-record.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function smallValueStore(directory = temporaryDirectory('tidy-lease-limit-')) {
  return openStore(directory, { maxValueBytes: 1024, authorize: () => true });
}

describe('lease records and the store maxValueBytes', () => {
  it('a force release with a 1000-byte reason is recorded whole under maxValueBytes 1024', async () => {
    const directory = temporaryDirectory('tidy-lease-limit-');
    const store = await smallValueStore(directory);
    const reason = 'r'.repeat(1000);
    try {
      await store.leases.acquire('jobs/a', { owner: 'w', ttlMs: 60_000 });
      await store.leases.forceRelease('jobs/a', { authorization: 'ok', reason, actor: 'a'.repeat(LEASE_OWNER_BYTES_MAX) });
      expect(await store.leases.get('jobs/a')).toBeUndefined();
      expect(await store.get(auditKey('jobs/a'))).toMatchObject({ action: 'force-release', reason, previousOwner: 'w' });
      await store.checkpoint(); // into a run too
    } finally {
      await store.close();
    }
    const reopened = await smallValueStore(directory);
    try {
      expect(await reopened.get(auditKey('jobs/a'))).toMatchObject({ action: 'force-release', reason, previousOwner: 'w' });
    } finally {
      await reopened.close();
    }
  });

  it('an acquire by a 256-byte owner binding 40 keys of 60 bytes is taken; renew and release end it', async () => {
    const store = await smallValueStore();
    try {
      const owner = 'o'.repeat(LEASE_OWNER_BYTES_MAX);
      const lease = await store.leases.acquire(`jobs/${'n'.repeat(200)}`, { owner, ttlMs: 60_000 });
      for (let i = 0; i < 40; i++) await store.put(`bound/${String(i).padStart(54, '0')}`, i, { lease });
      await store.leases.renew(lease.name, { owner, token: lease.token, ttlMs: 60_000 });
      expect((await store.leases.get(lease.name))?.owner).toBe(owner);
      await store.leases.release(lease.name, { owner, token: lease.token });
      expect(await store.get(`bound/${'0'.repeat(54)}`)).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('user values are still held to maxValueBytes, lease fields to their own limits', async () => {
    const store = await smallValueStore();
    try {
      await expect(store.put('big', 'x'.repeat(2000))).rejects.toBeInstanceOf(ValueTooLargeError);
      await expect(store.transaction((tx) => tx.put('big', 'x'.repeat(2000)))).rejects.toBeInstanceOf(ValueTooLargeError);
      const lease = await store.leases.acquire('jobs/b', { owner: 'w', ttlMs: 60_000 });
      await expect(store.put('bound', 'x'.repeat(2000), { lease })).rejects.toBeInstanceOf(ValueTooLargeError);
      const refusal = await store.leases.forceRelease('jobs/b', { authorization: 'ok', reason: 'r'.repeat(LEASE_REASON_BYTES_MAX + 1) }).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(InvalidOptionError);
      expect(refusal).toMatchObject({ code: ErrorCode.InvalidOption, message: expect.stringContaining('reason') });
      await expect(store.leases.acquire('jobs/c', { owner: 'o'.repeat(LEASE_OWNER_BYTES_MAX + 1), ttlMs: 1000 })).rejects.toThrow(/owner/);
      expect((await store.leases.get('jobs/b'))?.owner).toBe('w');
    } finally {
      await store.close();
    }
  });
});
