/**
 * A transactionSync whose round misses memory keeps its place in the write stall's
 * queue (serial-transaction.ts, WriteStall#admit's rejoin). Each round is admitted
 * past the stall; a round after a miss queued again at the back, behind every writer
 * that came during its disk read, at each round, so under a steady stall it waited
 * the whole queue once per round. Now it rejoins at the front: it runs before those
 * writers. The interleaving is forced: the stall is an oversized batch whose WAL
 * fdatasync is held, and the transaction's disk read is held until the writers queued.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CommitResult } from '../src/commit/commit-pipeline.js';
import { settleUntil, track } from './transaction-support.js';
import { LATE_WRITERS, closeStallStores, largeBatch, storeWithColdKeys } from './support/serial-stall-store.js';

afterEach(closeStallStores);

describe('a transactionSync that misses memory keeps its place in the write stall', () => {
  it('its next round runs before the writers that queued during its disk read', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    // A steady stall: an oversized batch, its fdatasync held; the transaction queues behind it.
    fileSystem.armed = true;
    const first = track(store.batch(largeBatch('first')));
    const firstHeld = await fileSystem.nextHeld();
    fileSystem.readsArmed = true;
    let rounds = 0;
    const serial = track(store.transactionSync((tx) => {
      rounds++;
      const cold = tx.get('cold/123');
      const seen = tx.get('late');
      tx.put('serial', cold);
      return seen;
    }));
    await settleUntil(() => store.stats().storage.writeStalls === 1);
    // The stall ends: the transaction is let through, misses 'cold/123' and reads it from disk (held).
    firstHeld.release();
    await settleUntil(() => fileSystem.heldReads.length > 0 && first.settled);
    expect(rounds).toBe(1);
    // The stall holds again while its read waits: writers come and queue.
    const second = track(store.batch(largeBatch('second')));
    const secondHeld = await fileSystem.nextHeld();
    const stallsBefore = store.stats().storage.writeStalls;
    const late: Array<Promise<CommitResult>> = [];
    for (let index = 0; index < LATE_WRITERS; index++) late.push(store.put('late', index));
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS);
    // The read completes: the transaction's next round asks for admission again, the stall still holding.
    fileSystem.releaseReads();
    await settleUntil(() => store.stats().storage.writeStalls === stallsBefore + LATE_WRITERS + 1);
    expect(serial.settled).toBe(false);
    expect(rounds).toBe(1);
    fileSystem.armed = false;
    secondHeld.release();
    await settleUntil(() => serial.settled && second.settled);
    const lateVersions = (await Promise.all(late)).map((result) => result.version);
    expect(serial.error).toBeUndefined();
    expect(rounds).toBe(2);
    // Its second round ran before the writers that came during its read: it saw none of them (it saw all five).
    expect(serial.value).toBeUndefined();
    expect(await store.get('serial')).toBe('cold 123');
    expect(await store.get('late')).toBe(LATE_WRITERS - 1);
    expect(lateVersions).toEqual([...lateVersions].sort((a, b) => a - b));
  });
});
