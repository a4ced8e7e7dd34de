/**
 * transaction({ signal }) aborted while a retry waits for the commit it lost to. After a
 * conflict the attempt waits until the winner is visible, which includes the winner's
 * fdatasync; the signal was not listened to during that wait, so an abort there (an
 * AbortSignal.timeout as the transaction's deadline, with the disk slow or a datasync
 * stuck) left transaction() pending until the winner's fdatasync ended. It now rejects
 * with the signal's reason at once, as at every other moment before a commit; nothing of
 * it is written, and the wait leaves no listener on the signal.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/index.js';
import { gate, gatedStore, type GatedFileSystem, settle, settleUntil, track } from './transaction-support.js';

const stores: Store[] = [];
const gates: GatedFileSystem[] = [];
afterEach(async () => {
  for (const gated of gates.splice(0)) gated.releaseAll();
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

describe('transaction() with a signal, waiting to retry', () => {
  it('rejects with the reason while the winner is held at its fdatasync; nothing of it is written', async () => {
    const { store, gated } = await gatedStore();
    stores.push(store);
    gates.push(gated);
    await store.put('a', 1);
    const controller = new AbortController();
    const read = gate();
    const resume = gate();
    let attempts = 0;
    const outcome = track(store.transaction(async (tx) => {
      attempts++;
      const a = (await tx.get('a')) as number;
      if (attempts === 1) {
        read.open();
        await resume.promise;
      }
      tx.put('a', a + 10);
      tx.put('b', attempts);
    }, { signal: controller.signal }));
    await read.promise;
    gated.armed = true;
    const winner = track(store.put('a', 2));
    const held = await gated.nextHeld();
    resume.open();
    // The attempt commits, conflicts with the held put and waits for it.
    for (let turn = 0; turn < 20; turn++) await settle();
    expect(outcome.settled).toBe(false);
    const reason = new Error('deadline');
    controller.abort(reason);
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBe(reason);
    expect(winner.settled).toBe(false);
    gated.armed = false;
    held.release();
    await settleUntil(() => winner.settled);
    expect(attempts).toBe(1);
    expect(await store.get('a')).toBe(2);
    expect(await store.get('b')).toBeUndefined();
    expect(store.stats().pinnedReads).toBe(0);
  });

  it('an abort while its own commit is held at its fdatasync does not interrupt it: it resolves, written', async () => {
    const { store, gated } = await gatedStore();
    stores.push(store);
    gates.push(gated);
    const controller = new AbortController();
    gated.armed = true;
    const outcome = track(store.transaction(async (tx) => {
      tx.put('c', 1);
      return 'committed';
    }, { signal: controller.signal }));
    const held = await gated.nextHeld();
    controller.abort(new Error('too late'));
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(outcome.settled).toBe(false);
    gated.armed = false;
    held.release();
    await settleUntil(() => outcome.settled);
    expect(outcome.error).toBeUndefined();
    expect(outcome.value).toBe('committed');
    expect(await store.get('c')).toBe(1);
  });

  it('a retried transaction that commits leaves no listener of its waits on the signal', async () => {
    const { store } = await gatedStore();
    stores.push(store);
    await store.put('k', 0);
    const controller = new AbortController();
    const before = getEventListeners(controller.signal, 'abort').length;
    let calls = 0;
    await store.transaction(async (tx) => {
      calls++;
      const value = (await tx.get('k')) as number;
      if (calls <= 3) await store.put('k', value + 100); // a conflict for each of the first three attempts
      tx.put('k', value + 1);
    }, { signal: controller.signal });
    expect(calls).toBe(4);
    expect(await store.get('k')).toBe(301);
    // The store's one listener for the signal's running attempts stays; the waits' are gone.
    expect(getEventListeners(controller.signal, 'abort').length).toBe(before + 1);
  });
});
