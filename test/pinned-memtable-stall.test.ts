/**
 * The write stall weighs retired memtables that readers still hold
 * (engine/memtable-holds.ts) with the sealed ones: while readers hold memory, a second
 * sealed memtable stalls writers as soon as the two and the retained ones pass the
 * sealed share (memory-budget.ts IMMUTABLE_BUDGET_SHARE), where before only the sealed
 * ones counted, so writers ran as far ahead of the flusher as with no reader. One sealed
 * memtable never stalls, whatever readers hold: the flusher ends it without any reader's
 * help, so a writer never waits for a reader to let go (a reader awaiting its own writes
 * would wait for good). The engine is a stand-in: only the fields the stall reads.
 */
import { describe, expect, it } from 'vitest';
import type { Compactor } from '../src/compaction/compactor.js';
import type { Flusher } from '../src/engine/flusher.js';
import { IMMUTABLE_BUDGET_SHARE, MEMTABLE_BUDGET_SHARE } from '../src/engine/memory-budget.js';
import type { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';

const BUDGET = 64 * 1024 * 1024;
const MEMTABLE = Math.floor(BUDGET * MEMTABLE_BUDGET_SHARE);

function stallWith(immutableCount: number, retainedBytes: number): WriteStall {
  const memtables = { immutableBytes: immutableCount * MEMTABLE, immutableCount };
  return new WriteStall({
    memoryBudgetBytes: BUDGET, immutableBudgetShare: IMMUTABLE_BUDGET_SHARE, runsDirectory: '/db/runs',
    memtables: memtables as unknown as Memtables,
    flusher: { failure: undefined, lastDiskFull: undefined } as unknown as Flusher,
    compactor: { backlogged: false, schedule: (): void => undefined } as unknown as Compactor,
    retainedMemtableBytes: () => retainedBytes,
  });
}

describe('the write stall and memtables readers hold after their flush', () => {
  it('two sealed memtables alone fit the share; with retained ones beside them they stall', () => {
    expect(stallWith(2, 0).stalled).toBe(false);
    // Two sealed and one retained fill the share exactly (3 x 1/12 = 1/4): over it by a byte, they stall.
    expect(stallWith(2, MEMTABLE).stalled).toBe(false);
    expect(stallWith(2, MEMTABLE + 1024).stalled).toBe(true);
    expect(stallWith(2, 4 * MEMTABLE).stalled).toBe(true);
  });

  it('one sealed memtable never stalls, whatever readers hold', () => {
    expect(stallWith(1, 0).stalled).toBe(false);
    expect(stallWith(1, 10 * MEMTABLE).stalled).toBe(false);
    expect(stallWith(0, 10 * MEMTABLE).stalled).toBe(false);
  });
});
