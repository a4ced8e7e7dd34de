/**
 * Loads keys 0..count-1 (100 B values) through the engine's batch API before a
 * read workload; not measured.
 */
import type { EngineHandle, Entry } from '../engines/engine.js';
import { keyAt, makeValue, SMALL_VALUE, type KeyOrder } from '../data.js';

const PRELOAD_BATCH_SIZE = 1_000;

export async function preloadKeys(engine: EngineHandle, count: number, order: KeyOrder): Promise<void> {
  const value = makeValue(SMALL_VALUE.bytes);
  for (let first = 0; first < count; first += PRELOAD_BATCH_SIZE) {
    const entries: Entry[] = [];
    const end = Math.min(count, first + PRELOAD_BATCH_SIZE);
    for (let index = first; index < end; index += 1) entries.push({ key: keyAt(index, order), value });
    await engine.batch(entries);
  }
}

/** The preloaded keys, materialized once so reads do not pay for key building. */
export function preloadedKeys(count: number, order: KeyOrder): Buffer[] {
  const keys: Buffer[] = [];
  for (let index = 0; index < count; index += 1) keys.push(keyAt(index, order));
  return keys;
}
