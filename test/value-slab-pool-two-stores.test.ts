/**
 * One pool of commit value slabs serves every store open in the process
 * (src/codec/slab-pool.ts): a store's close takes back only its own bounds. The free
 * list keeps to the bounds the other open store's last drop gave, so that store keeps
 * reusing the slabs on it; it is emptied once no store that dropped a memtable is open.
 */
import { describe, expect, it } from 'vitest';
import { commitSlabPool } from '../src/codec/value-slabs.js';
import { MEMTABLE_BUDGET_SHARE } from '../src/engine/memory-budget.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';

// A memtable of 512 KiB: up to eight 64 KiB slabs held; 4 KB byte values, 15 to a slab.
const BUDGET_BYTES = 6 * 1024 * 1024;
const VALUE_BYTES = 4000;

function valueOf(index: number, round: number): Uint8Array {
  return new Uint8Array(VALUE_BYTES).fill((index * 7 + round * 13) & 0xff);
}

/** Writes only (no read captures a memtable): memtables are flushed, dropped, their slabs released. */
async function writeRounds(store: Store, fromRound: number, rounds: number): Promise<void> {
  for (let round = fromRound; round < fromRound + rounds; round++) {
    for (let index = 0; index < 200; index += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, offset) => store.put(`key-${String(index + offset).padStart(4, '0')}`, valueOf(index + offset, round))));
    }
  }
  await store.checkpoint();
}

const open = (seed: number): Promise<Store> => openStore('/db', { memoryBudgetBytes: BUDGET_BYTES, segmentSizeBytes: 256 * 1024, fileSystem: new FaultFileSystem(seed) });

describe('the commit slab pool with two stores open', () => {
  it("closing one keeps the other's reusable slabs, within the other's bounds; closing the last lets them go", async () => {
    const first = await open(51);
    const second = await open(52);
    let secondClosed = false;
    try {
      await writeRounds(second, 0, 8);
      await writeRounds(first, 0, 8);
      expect(commitSlabPool.heldBytes).toBeGreaterThan(0);
      await first.close();
      // The second store's bounds hold: slabs stay on the free list for its next memtables.
      expect(commitSlabPool.freeBytes, 'slabs left on the free list').toBeGreaterThan(0);
      expect(commitSlabPool.heldBytes, 'slabs held strongly').toBeGreaterThan(0);
      expect(commitSlabPool.freeBytes).toBeLessThanOrEqual(Math.floor(BUDGET_BYTES * MEMTABLE_BUDGET_SHARE));
      expect(second.stats().storage.valueSlabPoolBytes).toBe(commitSlabPool.heldBytes);
      // The second store takes them: more writes reuse slabs rather than allocating them all.
      const { reused } = commitSlabPool.counts;
      await writeRounds(second, 8, 2);
      expect(commitSlabPool.counts.reused).toBeGreaterThan(reused);
      for (let index = 0; index < 200; index++) expect(await second.get(`key-${String(index).padStart(4, '0')}`)).toEqual(valueOf(index, 9));
      await second.close();
      secondClosed = true;
      expect(commitSlabPool.freeBytes).toBe(0);
      expect(commitSlabPool.heldBytes).toBe(0);
    } finally {
      if (!secondClosed) await second.close();
    }
  });
});
