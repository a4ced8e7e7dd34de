/**
 * A tx.scan step reading from disk when close() begins. close() closes the run files
 * under the read, and the step rejected with that read's IoError (LADYBUG_IO, EBADF): the
 * scan checked the transaction again after a chunk's read only when the read succeeded
 * (e32c859). README: the tx throws StoreClosedError after close; an abort's
 * TransactionClosedError likewise. A step that ends while the transaction is open answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { closeStallStores, storeWithColdKeys } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

type Step = { entries: number } | { error: unknown };

describe('a tx.scan step reading from disk when close() begins', () => {
  it('rejects with StoreClosedError, not the read\'s IoError', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.readsArmed = true;
    let step: Step | undefined;
    const outcome = track(store.transaction(async (tx) => {
      let entries = 0;
      try {
        for await (const _entry of tx.scan({ gte: 'cold/', lt: 'cold0' })) entries++;
        step = { entries };
      } catch (error) {
        step = { error };
      }
    }));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    const closing = store.close();
    await settle();
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
    fileSystem.releaseReads();
    await settleUntil(() => step !== undefined);
    await closing;
    expect(step).toEqual({ error: expect.any(StoreClosedError) });
  });

  it('a scan whose reads end while the transaction is open answers every entry', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.readsArmed = true;
    const outcome = track(store.transaction(async (tx) => {
      let entries = 0;
      for await (const _entry of tx.scan({ gte: 'cold/', lt: 'cold0' })) entries++;
      return entries;
    }));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    fileSystem.releaseReads();
    await settleUntil(() => outcome.settled);
    expect(outcome.value).toBe(200);
  });
});
