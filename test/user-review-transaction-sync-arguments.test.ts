/**
 * New-user review (installed tarball): store.transactionSync(body, { signal }) (or
 * { retries }, { isolation }) ran the body and ignored the second argument, where the
 * README says options are refused, never ignored: a signal meant to bound the call
 * bounded nothing. transactionSync() takes no options; one given is refused with
 * InvalidOptionError and the body does not run.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

describe('user review: transactionSync() refuses an options argument', () => {
  it('options are refused, the body never runs; without them it commits', async () => {
    const store = await memoryStore();
    let ran = 0;
    const body = (tx: { put(key: string, value: unknown): void }): void => {
      ran++;
      tx.put('k', ran);
    };
    const call = store.transactionSync as (body: unknown, options: unknown) => Promise<unknown>;
    for (const options of [{ signal: AbortSignal.abort() }, { retries: 1 }, { isolation: 'snapshot' }]) {
      const error = await call.call(store, body, options).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
    }
    expect(ran).toBe(0);
    expect(store.version).toBe(0);
    await store.transactionSync(body);
    expect(await store.get('k')).toBe(1);
  });
});
