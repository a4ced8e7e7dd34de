/**
 * Transaction lifetimes with one timer per store (src/transaction/transaction-lifetimes.ts,
 * issue 12): a body stuck in an await past transactionLifetimeMs loses its pins while
 * it is still stuck (retention and the conflict log are not held forever), each
 * transaction is expired once and in start order, a transaction that ended is never
 * expired, and one that starts after the timer went idle is still expired; the queue
 * of open transactions stays bounded behind a long open one while short ones come and
 * go, and ended ones among open ones are skipped in start order. A body
 * that outlives its lifetime without yielding (the timer cannot fire) keeps its pin
 * for its reads and writes, and its commit is refused by the clock.
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionLimitError } from '../src/errors.js';
import { type ExpirableTransaction, expireTransaction, TransactionLifetimes } from '../src/transaction/transaction-lifetimes.js';
import { gate, memoryStore } from './transaction-support.js';

/** Waits (in steps of `stepMs`) until `condition` holds; a bound on the wait only, nothing timed is asserted. */
async function waitUntil(condition: () => boolean, stepMs = 5, steps = 2000): Promise<void> {
  for (let step = 0; step < steps && !condition(); step++) await sleep(stepMs);
  if (!condition()) throw new Error('condition never became true');
}

function recorder(expired: string[], name: string): ExpirableTransaction {
  return { startedAtMs: performance.now(), [expireTransaction]: () => expired.push(name) };
}

describe('TransactionLifetimes', () => {
  it('expires open transactions once, oldest first; an ended one never; a later one after the timer went idle', async () => {
    const lifetimes = new TransactionLifetimes(20);
    const expired: string[] = [];
    const first = recorder(expired, 'first');
    const ended = recorder(expired, 'ended');
    lifetimes.add(first);
    lifetimes.add(ended);
    await sleep(5);
    const second = recorder(expired, 'second');
    lifetimes.add(second);
    lifetimes.remove(ended);
    await waitUntil(() => expired.length === 2);
    expect(expired).toEqual(['first', 'second']);
    expect(lifetimes.openCount).toBe(0);
    // The timer is idle now: a new transaction arms it again.
    const late = recorder(expired, 'late');
    lifetimes.add(late);
    await waitUntil(() => expired.length === 3);
    expect(expired).toEqual(['first', 'second', 'late']);
    await sleep(30);
    expect(expired).toHaveLength(3);
  });
});

describe('TransactionLifetimes queue', () => {
  it('stays bounded behind a long open transaction while short ones come and go, and still expires the long one', async () => {
    const lifetimes = new TransactionLifetimes(40);
    const expired: string[] = [];
    const long = recorder(expired, 'long');
    lifetimes.add(long);
    let maxQueued = 0;
    for (let index = 0; index < 10_000; index++) {
      const short = recorder(expired, `short-${index}`);
      lifetimes.add(short);
      maxQueued = Math.max(maxQueued, lifetimes.queuedCount);
      lifetimes.remove(short);
    }
    expect(lifetimes.openCount).toBe(1);
    // Ended entries are dropped once they outnumber the open ones (2 * open + 64 after an add).
    expect(maxQueued).toBeLessThanOrEqual(2 * 2 + 64);
    await waitUntil(() => expired.length === 1);
    expect(expired).toEqual(['long']);
    expect(lifetimes.openCount).toBe(0);
    // Removing an expired transaction (its attempt ends after the expiry) changes nothing.
    lifetimes.remove(long);
    expect(lifetimes.openCount).toBe(0);
  });

  it('expires many open transactions in start order, skipping ended ones among them', async () => {
    const lifetimes = new TransactionLifetimes(20);
    const expired: string[] = [];
    const all = Array.from({ length: 300 }, (_unused, index) => recorder(expired, `t${index}`));
    for (const transaction of all) lifetimes.add(transaction);
    for (let index = 0; index < all.length; index += 3) lifetimes.remove(all[index]!);
    await waitUntil(() => expired.length === 200);
    expect(expired).toEqual(all.map((_unused, index) => `t${index}`).filter((_name, index) => index % 3 !== 0));
    expect(lifetimes.openCount).toBe(0);
    expect(lifetimes.queuedCount).toBe(0);
  });
});

describe('a body stuck past transactionLifetimeMs', () => {
  it('loses its pins while still stuck, then fails with TransactionLimitError when it resumes', async () => {
    // 1.5 s, not 30 ms: the pin is checked held once the body read (polled in 5 ms steps),
    // which on a loaded machine came after a 30 ms lifetime had already ended. The end is
    // awaited by its effect (the pin released), so the length is not what is tested.
    const store = await memoryStore({ transactionLifetimeMs: 1_500 });
    await store.put('k', 1);
    const resume = gate();
    let reading = false;
    const outcome = store.transaction(async (tx) => {
      await tx.get('k');
      reading = true;
      await resume.promise;
      tx.put('k', 2);
    }).catch((caught: unknown) => caught);
    await waitUntil(() => reading);
    expect(store.stats().pinnedReads).toBe(1);
    // Still stuck: the lifetime's end alone releases the pin.
    await waitUntil(() => store.stats().pinnedReads === 0);
    resume.open();
    const error = await outcome;
    expect(error).toBeInstanceOf(TransactionLimitError);
    expect((error as TransactionLimitError).limit).toBe('lifetime');
    expect(await store.get('k')).toBe(1);
    // Transactions after it run as usual.
    await store.transaction((tx) => { tx.put('k', 3); });
    expect(await store.get('k')).toBe(3);
    await store.close();
  });
});

describe('a body that outlives its lifetime without yielding', () => {
  it('reads and writes while still pinned; the commit is refused (TransactionLimitError lifetime), nothing written', async () => {
    const store = await memoryStore({ transactionLifetimeMs: 20 });
    await store.put('k', 1);
    let read: unknown;
    const outcome = store.transaction(async (tx) => {
      const readPromise = tx.get('k');
      // Past the lifetime in one synchronous step: the lifetime timer has had no turn to fire.
      const startedMs = performance.now();
      while (performance.now() - startedMs < 40) { /* busy */ }
      tx.put('k', 2);
      read = await readPromise;
    }).catch((caught: unknown) => caught);
    const error = await outcome;
    expect(read).toBe(1);
    expect(error).toBeInstanceOf(TransactionLimitError);
    expect((error as TransactionLimitError).limit).toBe('lifetime');
    expect(await store.get('k')).toBe(1);
    expect(store.stats().pinnedReads).toBe(0);
    await store.close();
  });
});
