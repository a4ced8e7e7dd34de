/**
 * Loads keys 0..count-1 through the engine's batch API before a read workload;
 * not measured. Binary: 16-byte keys, one shared 100 B random value. String:
 * 16-character keys, distinct 100-character values (see data.ts).
 */
import type { BenchKey, EngineHandle, Entry, KeyType } from '../engines/engine.js';
import { keyAt, makeValue, SMALL_VALUE, stringKeyAt, stringValueAt, type KeyOrder } from '../data.js';

const PRELOAD_BATCH_SIZE = 1_000;

export async function preloadKeys(engine: EngineHandle, count: number, order: KeyOrder, keyType: KeyType = 'binary'): Promise<void> {
  const value = makeValue(SMALL_VALUE.bytes);
  const entryAt = (index: number): Entry =>
    keyType === 'string' ? { key: stringKeyAt(index, order), value: stringValueAt(index, order) } : { key: keyAt(index, order), value };
  await loadEntries(engine, count, PRELOAD_BATCH_SIZE, entryAt);
}

/** Writes entryAt(0..count-1) with awaited batches of `batchSize`. */
export async function loadEntries(engine: EngineHandle, count: number, batchSize: number, entryAt: (index: number) => Entry): Promise<void> {
  for (let first = 0; first < count; first += batchSize) {
    const entries: Entry[] = [];
    const end = Math.min(count, first + batchSize);
    for (let index = first; index < end; index += 1) entries.push(entryAt(index));
    await engine.batch(entries);
  }
}

/** The preloaded keys, materialized once so reads do not pay for key building. */
export function preloadedKeys(count: number, order: KeyOrder): Buffer[] {
  const keys: Buffer[] = [];
  for (let index = 0; index < count; index += 1) keys.push(keyAt(index, order));
  return keys;
}

/** The preloaded keys of either type. */
export function preloadedKeysOfType(count: number, order: KeyOrder, keyType: KeyType): BenchKey[] {
  if (keyType === 'binary') return preloadedKeys(count, order);
  const keys: string[] = [];
  for (let index = 0; index < count; index += 1) keys.push(stringKeyAt(index, order));
  return keys;
}
