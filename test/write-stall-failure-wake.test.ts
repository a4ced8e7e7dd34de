/**
 * A failure wakes every stalled writer once (write-stall.ts WriteStall#wake): a full
 * disk behind a memory stall, and flushing failed for good. Each writer that leaves
 * with DiskFullError calls wake() again so the next head re-checks; that wake resumed
 * the whole queue again, so N stalled writers cost N * (N + 1) / 2 resumes (10,000
 * writers took seconds of one event-loop turn to fail). No timing: the resumes are
 * counted, through the Promise the stall sleeps on (each stalled writer's resolve).
 * The engine is a stand-in: only the fields the stall reads.
 */
import { describe, expect, it } from 'vitest';
import type { Compactor } from '../src/compaction/compactor.js';
import type { Flusher } from '../src/engine/flusher.js';
import type { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';

const WRITERS = 2000;

interface Parts {
  stall: WriteStall;
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
  return { stall, flusher };
}

/**
 * `count` admits, each stalled; the returned counter counts the calls of their sleeps'
 * resolve functions (the global Promise is swapped only while they go to sleep, which
 * is synchronous in admit()).
 */
function stallWriters(stall: WriteStall, count: number): { outcomes: Promise<string[]>; resumes: () => number } {
  let resumes = 0;
  let sleeping = false;
  const NativePromise = Promise;
  // Only the promises made while the writers go to sleep count (not those `then` derives later).
  class CountingPromise<T> extends NativePromise<T> {
    constructor(executor: (resolve: (value: T | PromiseLike<T>) => void, reject: (reason?: unknown) => void) => void) {
      const counted = sleeping;
      super((resolve, reject) => executor((value) => {
        if (counted) resumes++;
        resolve(value);
      }, reject));
    }
  }
  const admits: Array<Promise<void>> = [];
  globalThis.Promise = CountingPromise as PromiseConstructor;
  sleeping = true;
  try {
    for (let index = 0; index < count; index++) admits.push(stall.admit());
  } finally {
    sleeping = false;
    globalThis.Promise = NativePromise;
  }
  const outcomes = NativePromise.all(admits.map((admit) => admit.then(() => 'admitted', (error: { code?: string }) => error.code ?? String(error))));
  return { outcomes, resumes: () => resumes };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a failure wakes the stalled writers once each', () => {
  it('a full disk behind a memory stall: every writer leaves with DiskFullError, each resumed once', async () => {
    const { stall, flusher } = stalledEngine();
    const { outcomes, resumes } = stallWriters(stall, WRITERS);
    await turn();
    expect(stall.writeStalls).toBe(WRITERS);
    expect(resumes(), 'nobody is woken while the stall holds').toBe(0);
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    stall.wake();
    expect(new Set(await outcomes)).toEqual(new Set(['LADYBUG_DISK_FULL']));
    // Was WRITERS * (WRITERS + 1) / 2 (2,001,000): every leaving writer woke the whole queue again.
    expect(resumes()).toBe(WRITERS);
    expect(stall.stalled, 'the queue is empty; the memory stall itself still holds').toBe(true);
  });

  it('flushing failed for good: every writer leaves with StoreFailedError, each resumed once', async () => {
    const { stall, flusher } = stalledEngine();
    const { outcomes, resumes } = stallWriters(stall, WRITERS);
    await turn();
    flusher.failure = new Error('EIO: i/o error, fsync');
    stall.wake();
    expect(new Set(await outcomes)).toEqual(new Set(['LADYBUG_STORE_FAILED']));
    expect(resumes()).toBe(WRITERS);
    // Later writers are refused at once, typed.
    await expect(stall.admit()).rejects.toMatchObject({ code: 'LADYBUG_STORE_FAILED' });
  });
});
