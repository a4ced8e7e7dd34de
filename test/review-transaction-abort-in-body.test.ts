/**
 * transaction() whose body, in its synchronous part (before its first await), aborts
 * the transaction's own signal or begins the store's close(), and then awaits something
 * that never settles. store.transaction() starts listening for the abort and for close
 * only once the body has returned its promise (bodyOrClose), so an abort or a close made
 * before that was missed: transaction() stayed pending for ever, where the README says
 * it rejects as soon as its signal aborts (with the reason) or at once on close()
 * (StoreClosedError), also while the body is still running.
 */
import { describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { memoryStore, settle, track } from './transaction-support.js';

describe('transaction() aborted or closed from its own body\'s synchronous part', () => {
  it('rejects with the signal\'s reason when the body aborts the signal before its first await', async () => {
    const store = await memoryStore();
    const controller = new AbortController();
    const reason = new Error('cancelled by the body');
    const outcome = track(store.transaction(async (tx) => {
      tx.put('a', 1);
      controller.abort(reason);
      await new Promise(() => {});
    }, { signal: controller.signal }));
    await settle();
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBe(reason);
    expect(await store.get('a')).toBeUndefined();
    expect(store.stats().pinnedReads).toBe(0);
    await store.close();
  });

  it('rejects with StoreClosedError when the body begins close() before its first await', async () => {
    const store = await memoryStore();
    let closing: Promise<void> | undefined;
    const outcome = track(store.transaction(async (tx) => {
      tx.put('a', 1);
      closing = store.close();
      await new Promise(() => {});
    }));
    await closing;
    await settle();
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBeInstanceOf(StoreClosedError);
  });
});
