/**
 * The reserved key space "\u0000ladybug/" (src/lease/reserved-keys.ts): user puts,
 * deletes, batches and transaction writes under it are refused with
 * InvalidKeyError 'reserved' (string and byte keys alike) and write nothing; the
 * lease module's own record writes still go through, also while a refused user
 * write interleaves with them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidKeyError, openStore, type Store } from '../src/index.js';
import { LEASE_RECORD_PREFIX } from '../src/lease/lease-record.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

async function refusal(write: () => Promise<unknown>): Promise<InvalidKeyError> {
  const error = await write().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(InvalidKeyError);
  expect((error as InvalidKeyError).code).toBe(ErrorCode.InvalidKey);
  expect((error as InvalidKeyError).reason).toBe('reserved');
  return error as InvalidKeyError;
}

describe('the reserved key prefix', () => {
  it('refuses user writes under "\\u0000ladybug/" with InvalidKeyError reason reserved, and writes nothing', async () => {
    const store: Store = await openStore(temporaryDirectory());
    try {
      const lease = await store.leases.acquire('job', { owner: 'a', ttlMs: 60_000 });
      const record = `${LEASE_RECORD_PREFIX}job`;
      const versionBefore = store.version;
      await refusal(() => store.put(record, { forged: true }));
      await refusal(() => store.put(Buffer.from(record, 'latin1'), 1)); // the same bytes as a Uint8Array key
      await refusal(() => store.delete(record));
      await refusal(() => store.batch([{ type: 'put', key: 'fine', value: 1 }, { type: 'del', key: '\u0000ladybug/other' }]));
      await refusal(() => store.transaction((tx) => tx.put(`${LEASE_RECORD_PREFIX}new`, 1)));
      expect(store.version).toBe(versionBefore);
      expect(await store.get('fine')).toBeUndefined();
      // The lease module still writes its records: renew and release go through, and a key
      // just outside the prefix is an ordinary key.
      await store.leases.renew('job', { owner: 'a', token: lease.token });
      await store.leases.release('job', { owner: 'a', token: lease.token });
      const bound = await store.leases.acquire('bound', { owner: 'a', ttlMs: 60_000 });
      await refusal(() => store.put('\u0000ladybug/lease/job', 1, { lease: bound })); // a misuse of the key, not a lost lease
      await expect(store.put(7 as unknown as string, 1, { lease: bound })).rejects.toMatchObject({ code: ErrorCode.InvalidKey, reason: 'type' });
      await store.put('\u0000ladybu', 'not reserved');
      expect(await store.get('\u0000ladybu')).toBe('not reserved');
    } finally {
      await store.close();
    }
  });

  it('a user write interleaved with a lease transaction is refused; the lease write is not', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      const acquiring = store.leases.acquire('race', { owner: 'a', ttlMs: 60_000 });
      const forged = refusal(() => store.put(`${LEASE_RECORD_PREFIX}race`, { forged: true }));
      const [lease] = await Promise.all([acquiring, forged]);
      expect(await store.leases.get('race')).toEqual(lease);
    } finally {
      await store.close();
    }
  });
});
