/**
 * TransactionLifetimes' queue (8f8e621) after transactions end: an entry keeps its
 * transaction, and with it the attempt's read view (its memtables, its runs acquired
 * until the view is collected) and its write set. Ended transactions at the head leave
 * at their removal, so once every transaction ended the queue holds none of them; before,
 * they stayed until the next add or the timer's sweep (up to transactionLifetimeMs, a
 * minute by default, after the last transaction of a burst). Ended ones behind a long
 * open one are still held, bounded as the header of transaction-lifetimes.ts says.
 * Nothing timed is asserted; collection is forced with gc().
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { type ExpirableTransaction, expireTransaction, TransactionLifetimes } from '../src/transaction/transaction-lifetimes.js';
import type { TransactionHandle } from '../src/transaction/transaction.js';
import { memoryStore } from './transaction-support.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function ended(): ExpirableTransaction {
  return { startedAtMs: performance.now(), [expireTransaction]: () => { throw new Error('an ended transaction is never expired'); } };
}

/** Collects garbage over a few turns (a WeakRef's target is kept for the job that read it). */
async function collect(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('TransactionLifetimes: ended transactions', () => {
  it('leave the queue as they end in start order, and all of them once none is open', () => {
    const lifetimes = new TransactionLifetimes(60_000);
    const all = Array.from({ length: 100 }, ended);
    for (const transaction of all) lifetimes.add(transaction);
    for (const transaction of all.slice(0, 50)) lifetimes.remove(transaction);
    expect(lifetimes.queuedCount).toBe(50);
    // Out of start order: the ones behind the open head stay until it ends.
    for (const transaction of all.slice(51).reverse()) lifetimes.remove(transaction);
    expect(lifetimes.queuedCount).toBe(50);
    lifetimes.remove(all[50]!);
    expect(lifetimes.openCount).toBe(0);
    expect(lifetimes.queuedCount).toBe(0);
  });

  it('a store\'s finished transactions are not kept by its lifetimes (collected with nothing else holding them)', async () => {
    const store = await memoryStore({ transactionLifetimeMs: 60_000 });
    await store.put('k', 0);
    const handles: WeakRef<TransactionHandle>[] = [];
    await Promise.all(Array.from({ length: 16 }, (_unused, client) => store.transaction(async (tx) => {
      handles.push(new WeakRef(tx));
      const value = (await tx.get('k')) as number;
      tx.put(`c${client}`, value + client);
    })));
    await collect();
    expect(handles.filter((handle) => handle.deref() !== undefined)).toHaveLength(0);
    expect(await store.get('c15')).toBe(15);
    await store.close();
  });
});
