/**
 * A transactionSync that rejoined the write stall's queue at the front after a read
 * miss (serial-transaction.ts, WriteStall#admit's rejoin) and the store closed while
 * it waits there: the transaction fails with StoreClosedError once let through (its
 * round checks the store is open after the admission) and commits nothing, the writers
 * queued behind it are not held by it, close completes, and the reopened store holds
 * no write of the transaction. Interleaving forced as in serial-stall-rejoin.test.ts:
 * an oversized batch's WAL fdatasync held, the transaction's disk read held.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { ErrorCode } from '../src/errors.js';
import { settleUntil, track } from './transaction-support.js';
import { LATE_WRITERS, closeStallStores, keepOpen, largeBatch, storeWithColdKeys } from './support/serial-stall-store.js';

afterEach(closeStallStores);

describe('a transactionSync rejoined in the write stall when the store closes', () => {
  it('fails with StoreClosedError, commits nothing, and holds neither the writers behind it nor close', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.armed = true;
    const first = track(store.batch(largeBatch('first')));
    const firstHeld = await fileSystem.nextHeld();
    fileSystem.readsArmed = true;
    let rounds = 0;
    const serial = track(store.transactionSync((tx) => {
      rounds++;
      tx.put('serial', tx.get('cold/123'));
    }));
    await settleUntil(() => store.stats().storage.writeStalls === 1);
    firstHeld.release();
    await settleUntil(() => fileSystem.heldReads.length > 0 && first.settled);
    const second = track(store.batch(largeBatch('second')));
    const secondHeld = await fileSystem.nextHeld();
    const stallsBefore = store.stats().storage.writeStalls;
    const late = Array.from({ length: LATE_WRITERS }, (_, index) => track(store.put('late', index)));
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS);
    fileSystem.releaseReads();
    // The transaction's second round waits in the queue, at its front.
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS + 1);
    expect(rounds).toBe(1);
    const closing = track(store.close());
    fileSystem.armed = false;
    secondHeld.release();
    await settleUntil(() => serial.settled && second.settled && closing.settled && late.every((writer) => writer.settled));
    expect(closing.error).toBeUndefined();
    expect(rounds).toBe(1);
    expect(serial.error).toMatchObject({ code: ErrorCode.StoreClosed });
    for (const writer of late) expect(writer.error ?? 'committed').toSatisfy((outcome: unknown) => outcome === 'committed' || (outcome as { code?: string }).code === ErrorCode.StoreClosed);
    const reopened = await openStore('/db', { fileSystem: fileSystem.inner });
    keepOpen(reopened);
    expect(await reopened.get('serial')).toBeUndefined();
    expect(await reopened.get('cold/123')).toBe('cold 123');
  });
});
