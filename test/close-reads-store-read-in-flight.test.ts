/**
 * A store's read from disk (get, get asOf, history, scan; a snapshot's scan) in flight
 * when close() begins. close() closes the run files under the read, and the read
 * rejected with IoError (LADYBUG_IO, EBADF): told of an I/O failure, a user would look
 * for a failing disk. README: a read after close rejects with StoreClosedError; a read
 * the store closed under does too. A read that ends while the store is open answers, and
 * a disk fault while the store is open is still an IoError.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IoError, StoreClosedError } from '../src/errors.js';
import type { Store } from '../src/store/store.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { closeStallStores, storeWithColdKeys } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

async function firstEntries(iterator: AsyncIterableIterator<[string | Uint8Array, unknown]>): Promise<number> {
  let entries = 0;
  for await (const _entry of iterator) entries++;
  return entries;
}

/** Each starts one read of keys only in runs and answers what it resolves with. */
const READS: Record<string, (store: Store) => Promise<unknown>> = {
  'store.get': (store) => store.get('cold/042'),
  'store.get asOf': (store) => store.get('cold/042', { asOf: store.version }),
  'store.history': async (store) => (await store.history('cold/042')).map((entry) => entry.value),
  'store.scan': (store) => firstEntries(store.scan({ gte: 'cold/', lt: 'cold0' })),
  'snapshot.scan': async (store) => {
    const snapshot = await store.snapshot();
    return firstEntries(snapshot.scan({ gte: 'cold/', lt: 'cold0' }));
  },
};

const ANSWERS: Record<string, unknown> = {
  'store.get': 'cold 42',
  'store.get asOf': 'cold 42',
  'store.history': ['cold 42'],
  'store.scan': 200,
  'snapshot.scan': 200,
};

describe('a store read from disk in flight when close() begins', () => {
  for (const [name, read] of Object.entries(READS)) {
    it(`${name}: StoreClosedError, not an IoError of the closed run file`, async () => {
      const { store, fileSystem } = await storeWithColdKeys();
      fileSystem.readsArmed = true;
      const outcome = track(read(store));
      await settleUntil(() => fileSystem.heldReads.length > 0);
      expect(fileSystem.heldReads.length).toBeGreaterThan(0);
      const closing = store.close();
      await settle();
      fileSystem.releaseReads();
      await settleUntil(() => outcome.settled);
      await closing;
      expect(outcome.error).toBeInstanceOf(StoreClosedError);
    });

    it(`${name}: a read that ends while the store is open answers`, async () => {
      const { store, fileSystem } = await storeWithColdKeys();
      fileSystem.readsArmed = true;
      const outcome = track(read(store));
      await settleUntil(() => fileSystem.heldReads.length > 0);
      fileSystem.releaseReads();
      await settleUntil(() => outcome.settled);
      expect(outcome.error).toBeUndefined();
      expect(outcome.value).toEqual(ANSWERS[name]);
    });
  }

  for (const name of ['store.get', 'store.history', 'store.scan'] as const) {
    it(`${name}: a disk fault while the store is open is still an IoError`, async () => {
      const { store, fileSystem } = await storeWithColdKeys();
      const fault = (fileSystem.inner as FaultFileSystem).injectFault({ operation: 'read', error: 'EIO', path: /\/db\/runs\//, persistent: true });
      const outcome = track(READS[name]!(store));
      await settleUntil(() => outcome.settled);
      expect(fault.triggeredCount).toBeGreaterThan(0);
      expect(outcome.error).toBeInstanceOf(IoError);
      expect(outcome.error).toMatchObject({ errno: 'EIO' });
      fault.remove();
    });
  }
});
