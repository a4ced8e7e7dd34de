/**
 * Review of 865a645 (the memtables charged what they hold; the caches resize at the
 * end of each WAL record, after flushes, compactions and replay). The budget identity
 * (charge + caches + the runs' resident indexes = budget, with the caches above their
 * floor) and "the charge covers what the memtables hold, up to their two shares" must
 * hold at every observable point: a fresh open, the end of a replay at open (no WAL
 * record is applied through the pipeline there), a batch larger than the memtable
 * share, transactions, commits while writes stall, a checkpoint, a compaction, and a
 * reopen after a clean close. The block cache never holds more than its bound, and
 * the charge moves up a step at a time as a memtable fills (no resize per record).
 */
import { describe, expect, it } from 'vitest';
import { IMMUTABLE_BUDGET_SHARE, MEMTABLE_BUDGET_SHARE, MEMTABLE_CHARGE_STEP_SHARE } from '../src/engine/memory-budget.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, type Store } from '../src/index.js';

const BUDGET_BYTES = 16 * 1024 * 1024;
const STEP_BYTES = Math.floor(BUDGET_BYTES * MEMTABLE_CHARGE_STEP_SHARE);
const CHARGE_MAX_BYTES = Math.floor(BUDGET_BYTES * (MEMTABLE_BUDGET_SHARE + IMMUTABLE_BUDGET_SHARE));

function checkBudget(store: Store, where: string): number {
  const storage = store.stats().storage;
  const heldBytes = storage.memtableBytes + storage.immutableMemtableBytes;
  expect(storage.memtableChargeBytes + storage.cacheMaxBytes + storage.runIndexBytes, `${where}: budget identity`).toBe(BUDGET_BYTES);
  expect(storage.memtableChargeBytes, `${where}: charge at most the two shares`).toBeLessThanOrEqual(CHARGE_MAX_BYTES);
  expect(storage.memtableChargeBytes, `${where}: charge covers the memtables`).toBeGreaterThanOrEqual(Math.min(CHARGE_MAX_BYTES, heldBytes));
  expect(storage.blockCacheBytes, `${where}: block cache within its bound`).toBeLessThanOrEqual(storage.blockCacheMaxBytes);
  return storage.memtableChargeBytes;
}

const valueOf = (index: number): string => `value-${index}-${'v'.repeat(60)}`;

describe('review read16: the memtable charge keeps the budget identity', () => {
  it('at open, after a replay, through a large batch, transactions, stalls, checkpoint, compaction and reopen', async () => {
    const fileSystem = new FaultFileSystem(31);
    const options = { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false };
    let store = await openStore('/store', options);
    expect(checkBudget(store, 'fresh open')).toBe(STEP_BYTES);
    // No resize storm: the charge only moves up a step at a time while the memtable fills (nothing is flushed here).
    let charge = STEP_BYTES;
    let chargeChanges = 0;
    for (let index = 0; index < 6_000; index++) {
      await store.put(`a${index}`, valueOf(index));
      const now = store.stats().storage.memtableChargeBytes;
      if (now !== charge) {
        expect(now, `charge after put ${index}`).toBeGreaterThan(charge);
        chargeChanges++;
        charge = now;
      }
    }
    const beforeClose = checkBudget(store, 'after 6k puts');
    expect(chargeChanges).toBeLessThanOrEqual(Math.ceil(beforeClose / STEP_BYTES));
    expect(beforeClose).toBeGreaterThan(STEP_BYTES);
    await store.close(); // no checkpoint: the reopen replays every record
    store = await openStore('/store', options);
    try {
      expect(store.stats().recovery.commits).toBe(6_000);
      // Replay applies outside the pipeline: finishReplay must charge what it filled.
      expect(checkBudget(store, 'after replay')).toBeGreaterThanOrEqual(beforeClose - STEP_BYTES);
      // One batch larger than the memtable share (2 MiB of 16): one record, one resize at its end.
      const operations = [];
      for (let index = 0; index < 30_000; index++) operations.push({ type: 'put' as const, key: `b${index}`, value: valueOf(index) });
      await store.batch(operations);
      expect(checkBudget(store, 'after a batch over the memtable share')).toBe(CHARGE_MAX_BYTES);
      // Many writers at once (stalls while flushes catch up), checked after each settles.
      const writers = Array.from({ length: 8 }, async (_, writer) => {
        for (let index = 0; index < 1_500; index++) {
          await store.put(`c${writer}-${index}`, valueOf(index));
          if (index % 250 === 0) checkBudget(store, `writer ${writer} at ${index}`);
        }
      });
      await Promise.all(writers);
      checkBudget(store, 'after concurrent writers');
      for (let index = 0; index < 200; index++) {
        await store.transaction(async (tx) => {
          tx.put(`t${index}`, ((await tx.get(`a${index}`)) as string).toUpperCase());
        });
      }
      checkBudget(store, 'after transactions');
      await store.checkpoint();
      expect(checkBudget(store, 'after checkpoint')).toBe(STEP_BYTES);
      await store.compact();
      checkBudget(store, 'after compaction');
      for (let index = 0; index < 6_000; index += 97) expect(await store.get(`a${index}`)).toBe(valueOf(index));
      checkBudget(store, 'after reads');
    } finally {
      await store.close();
    }
    store = await openStore('/store', options);
    try {
      expect(checkBudget(store, 'clean reopen')).toBe(STEP_BYTES);
      for (let index = 0; index < 30_000; index += 997) expect(await store.get(`b${index}`)).toBe(valueOf(index));
      checkBudget(store, 'reads after reopen');
    } finally {
      await store.close();
    }
  }, 120_000);
});
