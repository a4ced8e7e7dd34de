/**
 * A transaction whose body is stuck past transactionLifetimeMs. Its lifetime's end
 * released its pins, but transaction() stayed pending until the body resumed, for ever
 * if it never did (before a87ebe1, even past close()), though the README gives the
 * lifetime as the longest an attempt may run (TransactionLimitError). It now rejects
 * with TransactionLimitError ('lifetime') when the lifetime ends; nothing is written.
 */
import { describe, expect, it } from 'vitest';
import { TransactionLimitError } from '../src/errors.js';
import { memoryStore, settleUntil, track } from './transaction-support.js';

describe('a body stuck past its lifetime', () => {
  it('transaction() rejects with TransactionLimitError (lifetime) at the lifetime\'s end', async () => {
    const store = await memoryStore({ transactionLifetimeMs: 20 });
    await store.put('a', 1);
    const stuck = track(store.transaction(async (tx) => {
      tx.put('a', 2);
      await new Promise(() => {});
    }));
    await settleUntil(() => stuck.settled, 100_000);
    expect(stuck.error).toBeInstanceOf(TransactionLimitError);
    expect((stuck.error as TransactionLimitError).limit).toBe('lifetime');
    expect(await store.get('a')).toBe(1);
    expect(store.stats().pinnedReads).toBe(0);
    await store.close();
  });
});
