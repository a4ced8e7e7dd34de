/**
 * WriteStall#admit's rejoin (write-stall.ts): a writer that comes back for a write it
 * was admitted for before (a transactionSync's next round after a read miss) queues at
 * the front, behind the writers that rejoined before it and still wait, ahead of every
 * writer queued for the first time. Its use by transactionSync against a real store:
 * test/serial-stall-rejoin.test.ts. The engine is a stand-in: only the fields the
 * stall reads.
 */
import { describe, expect, it } from 'vitest';
import type { Compactor } from '../src/compaction/compactor.js';
import type { Flusher } from '../src/engine/flusher.js';
import type { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a writer that rejoins the write stall keeps its place', () => {
  it('queues ahead of first-time writers, behind the rejoined ones still waiting, and at the head once none is', async () => {
    const memtables = { immutableBytes: 3 * 1024, immutableCount: 3 };
    const flusher = { failure: undefined, lastDiskFull: undefined };
    const compactor = { backlogged: false, schedule: (): void => undefined };
    const stall = new WriteStall({
      memoryBudgetBytes: 1024, immutableBudgetShare: 0.5, runsDirectory: '/db/runs',
      memtables: memtables as unknown as Memtables, flusher: flusher as unknown as Flusher, compactor: compactor as unknown as Compactor,
    });
    const order: string[] = [];
    const admits: Array<Promise<void>> = [];
    /** A writer that, once admitted, enqueues its commit (as the store's write path) and then runs `then`. */
    const writer = (name: string, rejoin: boolean, then?: () => void): void => {
      admits.push(stall.admit(rejoin).then(() => {
        order.push(name);
        stall.enqueued();
        then?.();
      }));
    };
    writer('first-1', false, () => writer('rejoin-4', true));
    writer('first-2', false);
    writer('rejoin-1', true, () => writer('rejoin-3', true));
    writer('rejoin-2', true);
    writer('first-3', false);
    await turn();
    expect(order, 'nobody goes on while the stall holds').toEqual([]);
    memtables.immutableBytes = 0;
    memtables.immutableCount = 0;
    stall.wake();
    // Each writer joins the array of admissions when it is called, so wait until it stops growing.
    for (let awaited = 0; awaited < admits.length;) {
      awaited = admits.length;
      await Promise.all(admits);
    }
    // rejoin-3 joins behind rejoin-2, still waiting; rejoin-4 finds no rejoined writer left and goes first.
    expect(order).toEqual(['rejoin-1', 'rejoin-2', 'rejoin-3', 'first-1', 'rejoin-4', 'first-2', 'first-3']);
    expect(stall.stalled).toBe(false);
  });
});
