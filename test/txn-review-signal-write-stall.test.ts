/**
 * transaction({ signal }) aborted while its commit waits in the write stall. The body had
 * settled and the commit waited for admission (flushes behind: here an oversized batch
 * whose fdatasync is held), nothing submitted yet; the abort was not heard there, so the
 * transaction stayed pending for the whole stall and then committed, resolving though
 * its signal had aborted (an AbortSignal.timeout as its deadline did not bound it). It
 * now rejects with the signal's reason at once and commits nothing; the writers queued
 * behind it in the stall still go through when the stall ends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeStallStores, largeBatch, storeWithColdKeys } from './support/serial-stall-store.js';
import { type HeldDatasync, settle, settleUntil, track } from './transaction-support.js';

const holds: HeldDatasync[] = [];
afterEach(async () => {
  for (const held of holds.splice(0)) held.release();
  await closeStallStores();
});

describe('transaction() with a signal, its commit waiting in the write stall', () => {
  it('rejects with the reason at once; nothing of it is written; the writers behind it go on', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.armed = true;
    const stall = track(store.batch(largeBatch('first')));
    const held = await fileSystem.nextHeld();
    holds.push(held);
    const controller = new AbortController();
    let bodyEnded = false;
    const outcome = track(store.transaction(async (tx) => {
      tx.put('x', 1);
      bodyEnded = true;
    }, { signal: controller.signal }));
    await settleUntil(() => bodyEnded && store.stats().storage.writeStalls === 1);
    const behind = track(store.put('behind', 1));
    await settleUntil(() => store.stats().storage.writeStalls === 2);
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(outcome.settled).toBe(false);
    const reason = new Error('deadline');
    controller.abort(reason);
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBe(reason);
    fileSystem.armed = false;
    held.release();
    await settleUntil(() => stall.settled && behind.settled);
    expect(stall.error).toBeUndefined();
    expect(behind.error).toBeUndefined();
    expect(await store.get('x')).toBeUndefined();
    expect(await store.get('behind')).toBe(1);
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('without an abort it commits once the stall ends', async () => {
    const { store, fileSystem } = await storeWithColdKeys();
    fileSystem.armed = true;
    const stall = track(store.batch(largeBatch('first')));
    const held = await fileSystem.nextHeld();
    holds.push(held);
    const controller = new AbortController();
    const outcome = track(store.transaction(async (tx) => {
      tx.put('x', ((await tx.get('cold/007')) as string).length);
      return 'done';
    }, { signal: controller.signal }));
    await settleUntil(() => store.stats().storage.writeStalls === 1);
    fileSystem.armed = false;
    held.release();
    await settleUntil(() => stall.settled && outcome.settled);
    expect(outcome.value).toBe('done');
    expect(await store.get('x')).toBe('cold 7'.length);
  });
});
