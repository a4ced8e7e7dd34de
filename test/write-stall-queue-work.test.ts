/**
 * Leaving the write stall's queue costs a constant per writer (write-stall.ts): the
 * queue was an array, and each writer that left found itself with indexOf and
 * removed itself with splice, both linear in the queue, so N stalled writers cost
 * N * N / 2 element moves in one event-loop turn (40,000 writers: seconds). No
 * timing: the work is counted as the lengths of the arrays that the Array methods
 * linear in their array's length (scans, splice, shift, unshift) are called on while
 * the writers leave. The engine is a stand-in: only the fields the stall reads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Compactor } from '../src/compaction/compactor.js';
import type { Flusher } from '../src/engine/flusher.js';
import type { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';

const WRITERS = 4000;
/** Array work allowed per leaving writer (it was about WRITERS / 2 on average). */
const WORK_PER_WRITER_MAX = 2;

const LINEAR_METHODS = ['indexOf', 'lastIndexOf', 'includes', 'findIndex', 'findLastIndex', 'splice', 'shift', 'unshift'] as const;
type LinearMethod = (typeof LINEAR_METHODS)[number];
const originals = new Map<LinearMethod, unknown>();

afterEach(() => {
  for (const [name, original] of originals) Object.defineProperty(Array.prototype, name, { value: original, writable: true, configurable: true });
  originals.clear();
});

/** Counts, until stopped, the lengths of the arrays the linear Array methods are called on (an upper bound of their work). */
function countArrayWork(): { stop: () => number } {
  let work = 0;
  for (const name of LINEAR_METHODS) {
    const original = Array.prototype[name] as (this: unknown[], ...args: unknown[]) => unknown;
    originals.set(name, original);
    Object.defineProperty(Array.prototype, name, {
      value: function counted(this: unknown[], ...args: unknown[]): unknown {
        work += this.length;
        return original.apply(this, args);
      },
      writable: true,
      configurable: true,
    });
  }
  return {
    stop: () => {
      for (const [name, original] of originals) Object.defineProperty(Array.prototype, name, { value: original, writable: true, configurable: true });
      originals.clear();
      return work;
    },
  };
}

interface Parts {
  stall: WriteStall;
  memtables: { immutableBytes: number; immutableCount: number };
  flusher: { failure: Error | undefined; lastDiskFull: Error | undefined };
}

/** A stall that holds on its sealed memtables (three, over the share), with no compaction backlog. */
function stalledEngine(): Parts {
  const memtables = { immutableBytes: 3 * 1024, immutableCount: 3 };
  const flusher = { failure: undefined as Error | undefined, lastDiskFull: undefined as Error | undefined };
  const compactor = { backlogged: false, schedule: (): void => undefined };
  const stall = new WriteStall({
    memoryBudgetBytes: 1024, immutableBudgetShare: 0.5, runsDirectory: '/db/runs',
    memtables: memtables as unknown as Memtables, flusher: flusher as unknown as Flusher, compactor: compactor as unknown as Compactor,
  });
  return { stall, memtables, flusher };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('leaving the write stall costs a constant per writer', () => {
  it('a stall that ends: every writer is let through, in call order, each enqueuing its commit', async () => {
    const { stall, memtables } = stalledEngine();
    const order: number[] = [];
    const admits: Array<Promise<void>> = [];
    for (let index = 0; index < WRITERS; index++) {
      // As the store's write path: once admitted, the writer enqueues its commit (CommitTarget#unappliedRose).
      admits.push(stall.admit().then(() => {
        order.push(index);
        stall.enqueued();
      }));
    }
    await turn();
    expect(order, 'nobody goes on while the stall holds').toEqual([]);
    const counter = countArrayWork();
    memtables.immutableBytes = 0;
    memtables.immutableCount = 0;
    stall.wake();
    await Promise.all(admits);
    const work = counter.stop();
    expect(order).toEqual(Array.from({ length: WRITERS }, (_, index) => index));
    // Was about WRITERS * WRITERS (16,000,000 here): indexOf and splice over the whole queue per writer.
    expect(work).toBeLessThanOrEqual(WORK_PER_WRITER_MAX * WRITERS);
    expect(stall.writeStalls).toBe(WRITERS);
  });

  it('a full disk behind the stall: every writer leaves with DiskFullError', async () => {
    const { stall, memtables, flusher } = stalledEngine();
    const outcomes = Promise.all(Array.from({ length: WRITERS }, () => stall.admit().then(() => 'admitted', (error: { code?: string }) => error.code ?? String(error))));
    await turn();
    const counter = countArrayWork();
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    stall.wake();
    const codes = await outcomes;
    const work = counter.stop();
    expect(new Set(codes)).toEqual(new Set(['LADYBUG_DISK_FULL']));
    expect(work).toBeLessThanOrEqual(WORK_PER_WRITER_MAX * WRITERS);
    // Nobody is left queued: once the flushes catch up, nothing stalls.
    memtables.immutableBytes = 0;
    memtables.immutableCount = 0;
    expect(stall.stalled).toBe(false);
  });
});
