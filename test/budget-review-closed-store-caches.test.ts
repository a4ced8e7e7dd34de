/**
 * A closed store is collected once the application drops it: its block cache's decoded
 * blocks, its point cache's entries and its memtables (up to the whole of
 * memoryBudgetBytes) go with it. Measured as the heap left after a store was filled,
 * read (the caches full), closed and dropped, against the heap before it was opened
 * (forced collections, with event-loop turns between them so FinalizationRegistry
 * callbacks run). A process that opens and closes stores in turn (per tenant, per job,
 * a level database reopened) must not keep every closed one.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;
afterEach(removeTemporaryDirectories);

const MEBIBYTE = 1024 * 1024;

/** Live heap and ArrayBuffer bytes after collections, with turns between them (finalizers run in their own tasks). */
async function heapBytes(): Promise<number> {
  for (let round = 0; round < 4; round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Opens a store, fills its caches (600 values of 16 KiB, flushed, read three times), closes it; returns its cache bytes. */
async function fillAndClose(): Promise<number> {
  const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 16 * MEBIBYTE });
  const value = new Uint8Array(16 * 1024).fill(7);
  for (let start = 0; start < 600; start += 50) {
    await store.batch(Array.from({ length: 50 }, (_, offset) => ({ type: 'put' as const, key: `key-${String(start + offset).padStart(5, '0')}`, value })));
  }
  await store.checkpoint();
  for (let pass = 0; pass < 3; pass++) for (let index = 0; index < 600; index++) await store.get(`key-${String(index).padStart(5, '0')}`);
  const cacheBytes = store.stats().storage.cacheBytes;
  await store.close();
  return cacheBytes;
}

describe('a closed store dropped by the application', () => {
  it('is collected with its caches: three stores opened, filled and closed in turn leave the heap where it was', async () => {
    await fillAndClose(); // module state, code and the checksum's wasm memory, once per process
    const before = await heapBytes();
    let cacheBytes = 0;
    for (let cycle = 0; cycle < 3; cycle++) cacheBytes += await fillAndClose();
    const retained = (await heapBytes()) - before;
    console.log(`three closed stores held ${(cacheBytes / MEBIBYTE).toFixed(1)} MiB of caches; ${(retained / MEBIBYTE).toFixed(2)} MiB of heap left after they were dropped`);
    expect(cacheBytes).toBeGreaterThan(12 * MEBIBYTE); // the reads filled the caches
    expect(retained).toBeLessThan(2 * MEBIBYTE);
  }, 60_000);
});
