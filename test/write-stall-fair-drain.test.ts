/**
 * The write stall lets its waiters out in FIFO order and in one go (issue 12 p99,
 * issue 7 backpressure). Stalled writers used to leave one per event-loop turn (a
 * setImmediate ended each let-through), so 32 stalled writers took 32 turns, each
 * possibly holding a group's fdatasync; meanwhile a new writer that found no stall
 * went straight through, ahead of writers that had waited longer (out of order:
 * sequential keys lost the memtable's ascending fast path).
 *
 * Now the next waiter re-checks as soon as the one let through has enqueued its
 * commit (counted as unapplied), and new writers queue behind the stalled ones.
 * No timing: turns are counted with setImmediate, and the stall comes from an
 * oversized batch whose fdatasync a gated file system holds (the writers behind it
 * wait for its apply, write-stall.ts).
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { CommitResult } from '../src/commit/commit-pipeline.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { settled } from './helpers.js';

const BUDGET_BYTES = 1024 * 1024;
/** Keys of one batch well above the sealed memtables' share of the budget. */
const LARGE_BATCH_KEYS = 3000;
const WRITERS = 32;
/** New writers when the drain begins (and one a turn while it lasts). */
const NEWCOMERS = 4;
/** Turns the whole drain may take (it took one per stalled writer). */
const DRAIN_TURNS_MAX = 4;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function largeBatch(): Array<{ type: 'put'; key: string; value: string }> {
  return Array.from({ length: LARGE_BATCH_KEYS }, (_, index) => ({ type: 'put' as const, key: `big/${String(index).padStart(5, '0')}`, value: `big ${index} `.padEnd(120, 'v') }));
}

interface Drain {
  bigVersion: number;
  /** The stalled writers' versions, in the order they called put. */
  versions: number[];
  newcomerVersions: number[];
  /** The event-loop turn after the release in which each stalled writer's put resolved. */
  resolvedAtTurn: number[];
}

/** WRITERS puts stalled behind an oversized batch held at its fdatasync, then released; `newcomers` new puts as the drain begins. */
async function drain(newcomers: number, readOnlyAfter?: number): Promise<Drain> {
  const fileSystem = new GatedFileSystem(new FaultFileSystem(17));
  const store = await openStore('/db', { fileSystem, memoryBudgetBytes: BUDGET_BYTES, checkpointOnClose: false });
  fileSystem.armed = true;
  const big = store.batch(largeBatch());
  const held = await fileSystem.nextHeld();

  let turns = 0;
  const resolvedAtTurn: number[] = [];
  const stalled: Array<Promise<CommitResult>> = [];
  let readOnly: Promise<unknown> | undefined;
  for (let index = 0; index < WRITERS; index++) {
    stalled.push(store.put(`stalled/${String(index).padStart(3, '0')}`, index).then((result) => {
      resolvedAtTurn[index] = turns;
      return result;
    }));
    // A read-only transaction among them is let through and enqueues nothing (the fallback turn hands on).
    if (index === readOnlyAfter) readOnly = store.transactionSync((tx) => tx.get('stalled/000'));
  }
  const waiting = settled(Promise.all(stalled));
  for (let step = 0; step < 10; step++) await turn();
  expect(waiting.done, 'the writers wait behind the unapplied batch').toBe(false);
  expect(store.stats().storage.writeStalls).toBe(WRITERS + (readOnly === undefined ? 0 : 1));

  const late: Array<Promise<CommitResult>> = [];
  // The batch is acknowledged as it is applied, when the drain begins: newcomers then, and one a turn while it lasts.
  const bigDone = big.then(() => {
    for (let index = 0; index < newcomers; index++) late.push(store.put(`new/ack-${index}`, index));
  });
  fileSystem.armed = false;
  held.release();
  for (; turns < 10 * WRITERS && !waiting.done; turns++) {
    if (turns >= 1 && newcomers > 0) late.push(store.put(`new/turn-${turns}`, turns));
    await turn();
  }
  await bigDone;
  const result: Drain = {
    bigVersion: (await big).version,
    versions: (await Promise.all(stalled)).map((commit) => commit.version),
    newcomerVersions: (await Promise.all(late)).map((commit) => commit.version),
    resolvedAtTurn,
  };
  if (readOnly !== undefined) expect(await readOnly, 'it reads the write queued ahead of it').toBe(0);
  expect(await store.get('stalled/031')).toBe(WRITERS - 1);
  await store.close();
  return result;
}

describe('the write stall drains fairly', () => {
  it('lets stalled writers out in FIFO order, and a writer that comes during the drain after them', async () => {
    const { bigVersion, versions, newcomerVersions } = await drain(NEWCOMERS);
    // FIFO: the stalled writers commit in the order they called put, right after the batch.
    expect(versions).toEqual(Array.from({ length: WRITERS }, (_, index) => bigVersion + 1 + index));
    // Nobody overtakes them: a writer that came during the drain commits after all of them.
    expect(newcomerVersions.length).toBeGreaterThanOrEqual(NEWCOMERS);
    for (const version of newcomerVersions) expect(version).toBeGreaterThan(versions.at(-1)!);
  });

  it('drains the stalled writers in a few turns, not one per writer', async () => {
    const { resolvedAtTurn } = await drain(0);
    expect(resolvedAtTurn).toHaveLength(WRITERS);
    // It was one turn per writer: every stalled writer let through in a turn of its own.
    expect(Math.max(...resolvedAtTurn)).toBeLessThanOrEqual(DRAIN_TURNS_MAX);
  });

  it('hands on past a let-through writer that enqueues nothing (a read-only transaction), a turn later', async () => {
    const { bigVersion, versions, resolvedAtTurn } = await drain(0, 9);
    expect(versions).toEqual(Array.from({ length: WRITERS }, (_, index) => bigVersion + 1 + index));
    expect(Math.max(...resolvedAtTurn)).toBeLessThanOrEqual(DRAIN_TURNS_MAX + 1);
  });
});
