/**
 * next() called again before the previous one answered (Promise.all over a scan's
 * steps, or a consumer that prefetches) skipped entries: each call found the chunk
 * used up and read the next one into the same place, so three next() at once on a
 * fresh scan of 600 keys answered k0512, k0513, k0514 and keys 0-511 were never
 * returned. Found by the input review's probe of scan iterators. A scan's steps now
 * run one at a time in call order, as an async generator's (and a transaction's scan,
 * which is one) do: every entry once, in order, within the limit.
 */
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

const KEYS = Array.from({ length: 600 }, (_, index) => `k${String(index).padStart(4, '0')}`);

async function filled(): Promise<Store> {
  const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
  for (let start = 0; start < KEYS.length; start += 100) {
    await store.batch(KEYS.slice(start, start + 100).map((key, index) => ({ type: 'put' as const, key, value: start + index })));
  }
  return store;
}

/** Steps taken `width` at a time with Promise.all until the scan is done; the keys answered, in call order. */
async function keysInParallelSteps(scan: AsyncIterator<[string | Uint8Array, unknown]>, width: number): Promise<unknown[]> {
  const keys: unknown[] = [];
  for (;;) {
    const steps = await Promise.all(Array.from({ length: width }, () => scan.next()));
    for (const step of steps) if (!step.done) keys.push(step.value[0]);
    if (steps.some((step) => step.done)) return keys;
  }
}

describe('a scan answers steps asked before the previous one answered, in order, each entry once', () => {
  it('store.scan and snapshot.scan, forward and reverse, with and without a limit', async () => {
    const store = await filled();
    expect(await keysInParallelSteps(store.scan(), 3)).toEqual(KEYS);
    expect(await keysInParallelSteps(store.scan({ reverse: true }), 7)).toEqual([...KEYS].reverse());
    expect(await keysInParallelSteps(store.scan({ gte: 'k0100', limit: 300 }), 64)).toEqual(KEYS.slice(100, 400));
    await using snapshot = await store.snapshot();
    await store.put('k0000', 'after the snapshot');
    expect(await keysInParallelSteps(snapshot.scan(), 5)).toEqual(KEYS);
    await store.close();
  });

  it('a transaction scan (an async generator) answers the same', async () => {
    const store = await filled();
    const keys = await store.transaction(async (tx) => keysInParallelSteps(tx.scan(), 3));
    expect(keys).toEqual(KEYS);
    await store.close();
  });
});
