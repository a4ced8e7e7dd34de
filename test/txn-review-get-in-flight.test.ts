/**
 * A tx.get reading from disk when its transaction ends. The get's read was not checked
 * again once it ended: after an abort of the transaction's signal it resolved with the
 * value (read through a view whose pins were already released), and after close() began
 * it rejected with IoError EBADF (close() closes the run files under the read), though
 * README says the tx throws TransactionClosedError after an abort and StoreClosedError
 * after close from then on, as a tx.scan step in flight does (e32c859). Now the read
 * answers only while the transaction may still read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StoreClosedError, TransactionClosedError } from '../src/errors.js';
import { closeStallStores, storeWithColdKeys } from './support/serial-stall-store.js';
import { settle, settleUntil, track } from './transaction-support.js';

afterEach(closeStallStores);

type Read = { value: unknown } | { error: unknown };

async function readOf(tx: { get(key: string): Promise<unknown> }, key: string): Promise<Read> {
  try {
    return { value: await tx.get(key) };
  } catch (error) {
    return { error };
  }
}

describe('a tx.get reading from disk when its transaction ends', () => {
  it('after an abort of its signal: TransactionClosedError, not the value', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.readsArmed = true;
    const controller = new AbortController();
    let read: Read | undefined;
    const outcome = track(store.transaction(async (tx) => {
      read = await readOf(tx, 'cold/042');
    }, { signal: controller.signal }));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    const reason = new Error('stop');
    controller.abort(reason);
    await settle();
    expect(outcome.error).toBe(reason);
    fileSystem.releaseReads();
    await settleUntil(() => read !== undefined);
    expect(read).toEqual({ error: expect.any(TransactionClosedError) });
  });

  it('after close() began: StoreClosedError, not an IoError of the closed run file', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.readsArmed = true;
    let read: Read | undefined;
    const outcome = track(store.transaction(async (tx) => {
      read = await readOf(tx, 'cold/042');
    }));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    const closing = store.close();
    await settle();
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
    fileSystem.releaseReads();
    await settleUntil(() => read !== undefined);
    await closing;
    expect(read).toEqual({ error: expect.any(StoreClosedError) });
  });

  it('while the transaction is open: the value, and the transaction commits', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.readsArmed = true;
    const outcome = track(store.transaction(async (tx) => {
      const value = await tx.get('cold/042');
      tx.put('copy', value);
      return value;
    }));
    await settleUntil(() => fileSystem.heldReads.length > 0);
    fileSystem.releaseReads();
    await settleUntil(() => outcome.settled);
    expect(outcome.value).toBe('cold 42');
    expect(await store.get('copy')).toBe('cold 42');
  });
});
