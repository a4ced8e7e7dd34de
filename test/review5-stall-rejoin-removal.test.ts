/**
 * The write stall's linked queue (write-stall.ts) when writers leave it other than as
 * the head going on: a rejoining writer (admit's `rejoin`, a transactionSync's later
 * round) linked into the middle of the queue while the disk is full leaves at once with
 * DiskFullError from there; every queued writer then leaves with it; a failure for good
 * empties it too. After each, the queue must be whole again: the next writers, rejoined
 * and first-time, are admitted in order (a stale head, tail or last-rejoined link would
 * leave one asleep for good or admit one twice). A rejoined writer admitted that never
 * enqueues (its transaction failed or the store closed before it ran) does not hold the
 * writers behind it. The engine is a stand-in: only the fields the stall reads.
 */
import { describe, expect, it } from 'vitest';
import type { Compactor } from '../src/compaction/compactor.js';
import type { Flusher } from '../src/engine/flusher.js';
import type { Memtables } from '../src/engine/memtables.js';
import { WriteStall } from '../src/engine/write-stall.js';
import { DiskFullError, StoreFailedError } from '../src/errors.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function standIn() {
  const memtables = { immutableBytes: 3 * 1024, immutableCount: 3 };
  const flusher: { failure: Error | undefined; lastDiskFull: Error | undefined } = { failure: undefined, lastDiskFull: undefined };
  const compactor = { backlogged: false, schedule: (): void => undefined };
  const stall = new WriteStall({
    memoryBudgetBytes: 1024, immutableBudgetShare: 0.5, runsDirectory: '/db/runs',
    memtables: memtables as unknown as Memtables, flusher: flusher as unknown as Flusher, compactor: compactor as unknown as Compactor,
  });
  const order: string[] = [];
  const outcomes = new Map<string, Promise<string>>();
  /** A writer: admitted, it records itself and enqueues its commit unless `enqueues` is false (a transaction that failed or was closed). */
  const writer = (name: string, rejoin: boolean, enqueues = true): void => {
    outcomes.set(name, stall.admit(rejoin).then(() => {
      order.push(name);
      if (enqueues) stall.enqueued();
      return 'admitted';
    }, (error: unknown) => (error instanceof Error ? error.constructor.name : String(error))));
  };
  const stallHolds = (holds: boolean): void => {
    memtables.immutableBytes = holds ? 3 * 1024 : 0;
    memtables.immutableCount = holds ? 3 : 0;
  };
  const settled = async (): Promise<Record<string, string>> => {
    const entries = await Promise.all([...outcomes].map(async ([name, outcome]) => [name, await outcome] as const));
    outcomes.clear();
    return Object.fromEntries(entries);
  };
  return { stall, flusher, order, writer, stallHolds, settled };
}

/** The queue is whole: with the stall ended, rejoined and first-time writers are admitted once each, rejoined first. */
async function admitsInOrder(parts: ReturnType<typeof standIn>): Promise<void> {
  const { stall, order, writer, stallHolds, settled } = parts;
  stallHolds(true);
  order.length = 0;
  writer('f-a', false);
  writer('r-a', true);
  writer('f-b', false);
  writer('r-b', true);
  await turn();
  expect(order).toEqual([]);
  stallHolds(false);
  stall.wake();
  expect(await settled()).toEqual({ 'f-a': 'admitted', 'r-a': 'admitted', 'f-b': 'admitted', 'r-b': 'admitted' });
  expect(order).toEqual(['r-a', 'r-b', 'f-a', 'f-b']);
  await turn();
  expect(stall.stalled).toBe(false);
}

describe('the write stall queue after writers leave it other than at its head', () => {
  it('a rejoiner linked into the middle while the disk is full leaves from there, and every writer with it', async () => {
    const parts = standIn();
    const { stall, flusher, writer, settled } = parts;
    writer('r1', true);
    writer('f1', false);
    writer('f2', false);
    await turn();
    // The disk fills (no wake yet): the next rejoiner links in behind r1, ahead of f1, and fails at once.
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    writer('r2', true);
    expect(await settled()).toEqual({ r1: 'DiskFullError', f1: 'DiskFullError', f2: 'DiskFullError', r2: 'DiskFullError' });
    expect(stall.stalled).toBe(true); // the memory stall itself still holds
    flusher.lastDiskFull = undefined;
    await admitsInOrder(parts);
  });

  it('a rejoiner at the tail of the rejoined writers leaves with the disk full while the rest stay queued, then they go on in order', async () => {
    const parts = standIn();
    const { stall, flusher, writer, order, stallHolds, settled } = parts;
    writer('f1', false);
    writer('r1', true);
    await turn();
    // A rejoiner comes while the disk is full: it fails alone; the wake its failure sends finds the disk
    // free again (a flush went through in between) and leaves the others asleep in order.
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    writer('r2', true);
    flusher.lastDiskFull = undefined;
    await turn();
    writer('r3', true);
    writer('f2', false);
    stallHolds(false);
    stall.wake();
    expect(await settled()).toEqual({ f1: 'admitted', r1: 'admitted', r2: 'DiskFullError', r3: 'admitted', f2: 'admitted' });
    expect(order).toEqual(['r1', 'r3', 'f1', 'f2']);
    await admitsInOrder(parts);
  });

  it('a head woken but not yet run, overtaken by a rejoiner, then failing with the disk full, leaves from behind it', async () => {
    const parts = standIn();
    const { stall, flusher, writer, stallHolds, settled } = parts;
    writer('f1', false);
    await turn();
    stallHolds(false);
    stall.wake(); // f1 is resumed; its continuation has not run yet
    stallHolds(true);
    writer('r1', true); // links in ahead of f1 (the head) and sleeps: the stall holds again
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    // f1 runs: no longer the head, the disk full: it leaves from the tail, and its wake fails r1 too.
    expect(await settled()).toEqual({ f1: 'DiskFullError', r1: 'DiskFullError' });
    flusher.lastDiskFull = undefined;
    await admitsInOrder(parts);
  });

  it('flushing failed for good: every queued writer, rejoined or not, leaves with StoreFailedError and the queue is empty', async () => {
    const { stall, flusher, writer, settled } = standIn();
    writer('f1', false);
    writer('r1', true);
    writer('r2', true);
    writer('f2', false);
    await turn();
    flusher.failure = new Error('EIO');
    stall.wake();
    expect(await settled()).toEqual({ f1: 'StoreFailedError', r1: 'StoreFailedError', r2: 'StoreFailedError', f2: 'StoreFailedError' });
    expect(stall.stalled).toBe(true); // the memory stall holds; a new writer is refused at once
    await expect(stall.admit(true)).rejects.toBeInstanceOf(StoreFailedError);
    await expect(stall.admit(false)).rejects.toBeInstanceOf(StoreFailedError);
  });

  it('a rejoiner let through that never enqueues (its transaction failed or was closed) does not hold the writers behind it', async () => {
    const parts = standIn();
    const { stall, writer, order, stallHolds, settled } = parts;
    writer('f1', false);
    writer('r1', true, false);
    writer('r2', true, false);
    writer('f2', false, false);
    writer('f3', false);
    await turn();
    stallHolds(false);
    stall.wake();
    expect(await settled()).toEqual({ f1: 'admitted', r1: 'admitted', r2: 'admitted', f2: 'admitted', f3: 'admitted' });
    expect(order).toEqual(['r1', 'r2', 'f1', 'f2', 'f3']);
    await admitsInOrder(parts);
  });

  it('DiskFullError is what a rejoiner gets when it joins behind a full disk with nobody queued', async () => {
    const parts = standIn();
    const { flusher } = parts;
    flusher.lastDiskFull = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    await expect(parts.stall.admit(true)).rejects.toBeInstanceOf(DiskFullError);
    flusher.lastDiskFull = undefined;
    await admitsInOrder(parts);
  });
});
