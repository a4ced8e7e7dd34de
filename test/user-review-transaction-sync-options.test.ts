/**
 * New-user review (installed tarball): the tx of a transactionSync() body ignored what
 * it was given beyond the key and value. tx.get('a', { asOf: 1 }) answered the latest
 * value, where the README says asOf on a transaction's get is refused, never ignored
 * (transaction()'s tx.get refuses it); tx.put(key, value, { lease }) committed the key
 * unbound, so it outlived the lease it was meant to die with. Each is now refused with
 * InvalidOptionError, the body rejects with it and nothing is written; calls without
 * options behave as before.
 */
import { describe, expect, it } from 'vitest';
import { type SerialTransaction as SerialTransactionHandle } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';
import { optionRefusal as refusal } from './support/option-refusal.js';

const memoryStore = useMemoryStores();


describe('user review: transactionSync() tx refuses options instead of ignoring them', () => {
  it('tx.get with asOf, a typo or null is refused; without options it reads the latest', async () => {
    const store = await memoryStore();
    await store.put('a', 1);
    await store.put('a', 2);
    const asOf = await refusal(() => store.transactionSync((tx) => loose(tx).get('a', { asOf: 1 })));
    expect(asOf.option).toBe('asOf');
    expect(asOf.message).toMatch(/does not apply/);
    expect((await refusal(() => store.transactionSync((tx) => loose(tx).get('a', { bogus: 1 })))).option).toBe('bogus');
    await refusal(() => store.transactionSync((tx) => loose(tx).get('a', null)));
    expect(await store.transactionSync((tx) => tx.get('a'))).toBe(2);
  });

  it('tx.put and tx.delete with options are refused and nothing is written', async () => {
    const store = await memoryStore();
    const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: 60_000 });
    const version = store.version;
    expect((await refusal(() => store.transactionSync((tx) => loose(tx).put('presence', 1, { lease })))).option).toBe('options');
    expect((await refusal(() => store.transactionSync((tx) => loose(tx).delete('presence', { fence: lease })))).option).toBe('options');
    expect(store.version).toBe(version);
    expect(await store.get('presence')).toBeUndefined();
    await store.transactionSync((tx) => {
      tx.put('presence', 1);
      tx.delete('other');
    });
    expect(await store.get('presence')).toBe(1);
  });
});

/** The tx as a JavaScript caller sees it: the typed handle takes no options, so TypeScript refuses these calls. */
function loose(tx: SerialTransactionHandle): { get(key: string, options: unknown): unknown; put(key: string, value: unknown, options: unknown): void; delete(key: string, options: unknown): void } {
  return tx as unknown as ReturnType<typeof loose>;
}
