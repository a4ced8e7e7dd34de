/**
 * Review 10 (a new user's typos): the README says an unknown option is refused with
 * InvalidOptionError, never ignored, and openStore, reads, writes, watch and the lease
 * calls do so; transaction() and compact() ignored theirs. transaction(body, { retry: 3 })
 * ran with the default 10 retries; compact({ retainfrom: v }) raised no floor and
 * compact({ gt: 'a' }) or ({ lte: 'b' }) merged every run. Both now refuse an unknown
 * name before doing anything; the known names work as before.
 */
import { describe, expect, it } from 'vitest';
import { useMemoryStores } from './support/memory-stores.js';
import { optionRefusal as refusal } from './support/option-refusal.js';

const memoryStore = useMemoryStores();


describe('review10: unknown options of transaction() and compact() are refused', () => {
  it('transaction(): a typo is refused and the body never runs', async () => {
    const store = await memoryStore();
    let ran = 0;
    const body = async (): Promise<void> => {
      ran++;
    };
    for (const options of [{ retry: 3 }, { isolaton: 'snapshot' }, { retries: 2, timeoutMs: 5 }]) {
      const error = await refusal(() => store.transaction(body, options as never));
      expect(Object.keys(options)).toContain(error.option);
    }
    expect(ran).toBe(0);
    expect(store.version).toBe(0);
    await store.transaction(async (tx) => {
      tx.put('k', 1);
    }, { isolation: 'snapshot', retries: 2, signal: new AbortController().signal });
    expect(await store.get('k')).toBe(1);
  });

  it('compact(): a typo or a bound it does not take is refused, nothing merged, no floor raised', async () => {
    const store = await memoryStore();
    for (let round = 0; round < 3; round++) {
      await store.put('a', round);
      await store.put('b', round);
      await store.checkpoint();
    }
    const runsBefore = store.stats().storage.runs;
    for (const options of [{ retainfrom: 2 }, { gt: 'a' }, { lte: 'b' }, { level: 1 }]) {
      const error = await refusal(() => store.compact(options as never));
      expect(error.option).toBe(Object.keys(options)[0]);
    }
    expect(store.stats().storage.runs).toBe(runsBefore);
    expect(store.stats().storage.compaction.retentionFloor).toBe(0);
    expect(await store.get('a', { asOf: 1 })).toBe(0);
    const compacted = await store.compact({ gte: 'a', lt: 'c', retainFrom: 2, onProgress: () => undefined });
    expect(compacted.retentionFloor).toBe(2);
  });
});
