/**
 * A snapshot's get or history reading from disk when the store's close() begins. close()
 * closes the run files under the read, so it rejected with IoError (LADYBUG_IO, EBADF):
 * told of an I/O failure, a user would look for a failing disk. It now rejects with
 * StoreClosedError, what every use of the snapshot throws once the store is closed; a
 * read that ends while the store is open answers as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { closeStallStores, storeWithColdKeys } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

describe('a snapshot read from disk in flight when close() begins', () => {
  for (const method of ['get', 'history'] as const) {
    it(`${method}: StoreClosedError, not an IoError of the closed run file`, async () => {
      const { store, fileSystem } = await storeWithColdKeys();
      const snapshot = await store.snapshot();
      fileSystem.readsArmed = true;
      const read = track(method === 'get' ? snapshot.get('cold/042') : snapshot.history('cold/042'));
      await settleUntil(() => fileSystem.heldReads.length > 0);
      const closing = store.close();
      await settle();
      fileSystem.releaseReads();
      await settleUntil(() => read.settled);
      await closing;
      expect(read.error).toBeInstanceOf(StoreClosedError);
    });
  }

  it('a read that ends while the store is open answers', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    const snapshot = await store.snapshot();
    fileSystem.readsArmed = true;
    const read = track(snapshot.get('cold/042'));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    fileSystem.releaseReads();
    await settleUntil(() => read.settled);
    expect(read.value).toBe('cold 42');
    expect((await snapshot.history('cold/042')).map((entry) => entry.value)).toEqual(['cold 42']);
    await snapshot.release();
  });
});
