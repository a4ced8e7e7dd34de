/**
 * New-user review (installed tarball): in a transaction() body, tx.put(key, value,
 * { lease }) committed the key unbound (it outlived the lease it was meant to die
 * with) and tx.delete(key, { fence }) committed unfenced: the third argument was
 * ignored, where the README says options are refused, never ignored. Both are now
 * refused with InvalidOptionError: the body rejects with it and nothing is written.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, type Transaction } from '../src/index.js';
import { useMemoryStores } from './support/memory-stores.js';

const memoryStore = useMemoryStores();

/** The tx as a JavaScript caller sees it: the typed handle takes no write options. */
function loose(tx: Transaction): { put(key: string, value: unknown, options: unknown): void; delete(key: string, options: unknown): void } {
  return tx as unknown as ReturnType<typeof loose>;
}

describe('user review: transaction() tx.put and tx.delete refuse options', () => {
  it('a lease or fence given to tx.put / tx.delete is refused, nothing is written', async () => {
    const store = await memoryStore();
    const lease = await store.leases.acquire('job', { owner: 'w', ttlMs: 60_000 });
    const version = store.version;
    let attempts = 0;
    for (const body of [
      async (tx: Transaction) => loose(tx).put('presence', 1, { lease }),
      async (tx: Transaction) => loose(tx).delete('presence', { fence: lease }),
    ]) {
      const error = await store.transaction(async (tx) => {
        attempts++;
        await body(tx);
      }).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe(ErrorCode.InvalidOption);
      expect((error as InvalidOptionError).option).toBe('options');
    }
    expect(attempts).toBe(2);
    expect(store.version).toBe(version);
    expect(await store.get('presence')).toBeUndefined();
    await store.transaction(async (tx) => {
      loose(tx).put('presence', 1, undefined);
      tx.delete('other');
    });
    expect(await store.get('presence')).toBe(1);
  });
});
