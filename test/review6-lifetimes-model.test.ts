/**
 * TransactionLifetimes' queue (8f8e621) against a model, over seeded walks of adds and
 * removes in any order (retries' new attempts start while older ones are still open,
 * attempts end out of start order, bursts behind a long open one), with the timer left
 * to fire between rounds. Checked at every step: openCount is the model's; after an
 * add the queue is within 2 x open + 64 entries; once none is open the queue is empty.
 * Checked over the whole walk: each transaction is expired at most once, never after its
 * removal, in start order within a sweep, and every one left open is expired in the end.
 * Start times are given (ascending, as a store's are), some already past their lifetime,
 * so a sweep has work without a timing assertion; waits only bound how long to wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { type ExpirableTransaction, expireTransaction, TransactionLifetimes } from '../src/transaction/transaction-lifetimes.js';

const LIFETIME_MS = 30;

interface Probe extends ExpirableTransaction {
  readonly id: number;
  removed: boolean;
  expiredTimes: number;
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let step = 0; step < 2000 && !condition(); step++) await sleep(5);
  if (!condition()) throw new Error('condition never became true');
}

describe('TransactionLifetimes against a model', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seeded walk of adds, removes and sweeps (seed ${seed})`, async () => {
      const random = new SeededRandom(seed);
      const lifetimes = new TransactionLifetimes(LIFETIME_MS);
      const open = new Set<Probe>();
      const all: Probe[] = [];
      const expiredOrder: number[] = [];
      let lastStartMs = -Infinity;
      let nextId = 0;
      const add = (): void => {
        // Some start already past their lifetime (their sweep is due), never before an earlier one.
        const backdateMs = random.chance(0.2) ? LIFETIME_MS * 2 : 0;
        const startedAtMs = Math.max(lastStartMs, performance.now() - backdateMs);
        lastStartMs = startedAtMs;
        const probe: Probe = {
          id: nextId++, startedAtMs, removed: false, expiredTimes: 0,
          [expireTransaction]() {
            expect(probe.removed, `t${probe.id} expired after its removal`).toBe(false);
            probe.expiredTimes++;
            expiredOrder.push(probe.id);
            open.delete(probe);
          },
        };
        all.push(probe);
        lifetimes.add(probe);
        open.add(probe);
        expect(lifetimes.queuedCount).toBeLessThanOrEqual(2 * open.size + 64);
      };
      const remove = (probe: Probe): void => {
        lifetimes.remove(probe);
        probe.removed = true;
        open.delete(probe);
      };
      for (let round = 0; round < 30; round++) {
        const steps = random.nextIntInclusive(1, 400);
        for (let step = 0; step < steps; step++) {
          if (open.size === 0 || random.chance(0.55)) {
            add();
          } else {
            const candidates = [...open];
            // Mostly the oldest (ends in about start order), else any.
            const probe = random.chance(0.6) ? candidates[0]! : candidates[random.nextIntInclusive(0, candidates.length - 1)]!;
            remove(probe);
          }
          expect(lifetimes.openCount).toBe(open.size);
          if (open.size === 0) expect(lifetimes.queuedCount).toBe(0);
        }
        // Let the timer fire now and then (an idle turn, or past a lifetime).
        if (random.chance(0.3)) await sleep(random.chance(0.5) ? 0 : LIFETIME_MS + 5);
        expect(lifetimes.openCount).toBe(open.size);
        if (open.size === 0) expect(lifetimes.queuedCount).toBe(0);
      }
      await waitUntil(() => lifetimes.openCount === 0);
      expect(open.size).toBe(0);
      expect(lifetimes.queuedCount).toBe(0);
      for (const probe of all) expect(probe.expiredTimes, `t${probe.id}`).toBe(probe.removed ? 0 : 1);
      // Start order is id order: each sweep expires oldest first, and sweeps follow each other.
      expect(expiredOrder).toEqual([...expiredOrder].sort((left, right) => left - right));
    }, 30_000);
  }
});
