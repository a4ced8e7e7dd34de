/**
 * A tx.scan step in flight when the transaction ends (close(), the signal's abort, the
 * lifetime's end). The scan checked the tx before a step's chunk read but not after its
 * await, so the step that was waiting when close() began still delivered an entry to a
 * body whose transaction() had already rejected, read through a view whose pins were
 * gone; the README says the tx throws from then on (StoreClosedError after close,
 * TransactionClosedError after an abort).
 */
import { describe, expect, it } from 'vitest';
import { StoreClosedError, TransactionClosedError } from '../src/errors.js';
import { memoryStore, settleUntil } from './transaction-support.js';

describe('a tx.scan step in flight when the transaction ends', () => {
  it('close(): the step rejects with StoreClosedError, no entry is delivered', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    let step: unknown;
    let closing: Promise<void> | undefined;
    const outcome = store.transaction(async (tx) => {
      const entries = tx.scan();
      const next = entries.next();
      closing = store.close();
      step = await next.then((result) => result, (error: unknown) => error);
    }).catch((error: unknown) => error);
    expect(await outcome).toBeInstanceOf(StoreClosedError);
    await closing;
    await settleUntil(() => step !== undefined);
    expect(step).toBeInstanceOf(StoreClosedError);
  });

  it('an abort: the step rejects with TransactionClosedError, no entry is delivered', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    const controller = new AbortController();
    let step: unknown;
    const outcome = store.transaction(async (tx) => {
      const entries = tx.scan();
      const next = entries.next();
      await Promise.resolve();
      controller.abort();
      step = await next.then((result) => result, (error: unknown) => error);
    }, { signal: controller.signal }).catch((error: unknown) => error);
    expect((await outcome as Error).name).toBe('AbortError');
    await settleUntil(() => step !== undefined);
    expect(step).toBeInstanceOf(TransactionClosedError);
    await store.close();
  });
});
