/**
 * transaction({ signal }) whose body is stuck when the signal aborts. The signal was
 * checked only before the body, after it and during the backoff, so a body awaiting
 * something that never settles kept transaction() pending for ever after the abort
 * (AbortSignal.timeout as a deadline for a transaction did not work). It now rejects
 * with the signal's reason when the signal aborts, as the README says a call stopped
 * through its own signal does; nothing is written, and the tx refuses later use.
 */
import { describe, expect, it } from 'vitest';
import { TransactionClosedError } from '../src/errors.js';
import { gate, memoryStore, settle, settleUntil, track } from './transaction-support.js';

describe('transaction() with a signal and a stuck body', () => {
  it('rejects with the signal\'s reason when it aborts; nothing is written; the tx is closed', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    const controller = new AbortController();
    const resume = gate();
    let started = false;
    let later: unknown;
    const outcome = track(store.transaction(async (tx) => {
      tx.put('a', 2);
      started = true;
      await resume.promise;
      later = await Promise.resolve().then(() => tx.get('a')).then(() => 'no error', (error: unknown) => error);
    }, { signal: controller.signal }));
    await settleUntil(() => started);
    const reason = new Error('deadline');
    controller.abort(reason);
    await settle();
    expect(outcome.settled).toBe(true);
    expect(outcome.error).toBe(reason);
    resume.open();
    await settleUntil(() => later !== undefined);
    expect(later).toBeInstanceOf(TransactionClosedError);
    expect(await store.get('a')).toBe(1);
    expect(store.stats().pinnedReads).toBe(0);
    await store.close();
  });

  it('AbortSignal.timeout ends a body that never settles with a TimeoutError', async () => {
    const store = await memoryStore();
    const error = await store.transaction(async () => {
      await new Promise(() => {});
    }, { signal: AbortSignal.timeout(20) }).then(() => undefined, (caught: unknown) => caught);
    expect((error as DOMException).name).toBe('TimeoutError');
    await store.close();
  });

  it('a body that settles first is not affected by a later abort', async () => {
    const store = await memoryStore();
    const controller = new AbortController();
    await store.transaction((tx) => { tx.put('b', 1); }, { signal: controller.signal });
    controller.abort();
    expect(await store.get('b')).toBe(1);
    await store.close();
  });
});
