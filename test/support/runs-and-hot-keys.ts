/**
 * The store the event-loop-turn tests loop over (scan-turns-compaction,
 * gaps-transaction-scan-turns): six runs for a compaction to merge, and keys only the
 * memtable holds, so a scan of them reads no file and settles in microtasks alone.
 */
import type { Store } from '../../src/index.js';

/** Six batches, each checkpointed into a run of its own; returns the model of what they wrote. */
export async function storeWithRuns(store: Store): Promise<Map<string, string>> {
  const model = new Map<string, string>();
  for (let round = 0; round < 6; round++) {
    const entries = Array.from({ length: 1_500 }, (_, index) => {
      const key = `key-${String((index * 7 + round * 311) % 4_000).padStart(5, '0')}`;
      const value = `value-${round}-${index}`;
      model.set(key, value);
      return { type: 'put' as const, key, value };
    });
    await store.batch(entries);
    await store.checkpoint();
  }
  return model;
}

/** Writes 20 keys 'hot-00'..'hot-19' (no run's key span meets them: no I/O to scan them); returns them in key order. */
export async function putHotKeys(store: Store): Promise<Array<[string, string]>> {
  const hot = Array.from({ length: 20 }, (_, index) => [`hot-${String(index).padStart(2, '0')}`, `memtable-${index}`] as [string, string]);
  await store.batch(hot.map(([key, value]) => ({ type: 'put' as const, key, value })));
  return hot;
}
