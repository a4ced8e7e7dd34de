/**
 * OrderedMutex's own FIFO mutex (it replaced async-mutex for the commit path's
 * speed): the properties the commit pipeline relies on, with debug mode on and off.
 * - the lock is handed straight to the oldest waiter: it never looks free while
 *   someone is queued, so the synchronous fast path cannot barge ahead;
 * - runExclusive on a free lock marks it taken at once but runs fn in a later
 *   microtask (code after the call runs first, as with async-mutex);
 * - tryRunExclusiveSync runs fn(argument) only on a free lock and releases after a throw.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OrderedMutex } from '../src/lock/ordered-mutex.js';
import { setDebugForTesting } from '../src/util/debug.js';

for (const debug of [true, false]) {
  describe(`FIFO mutex, debug mode ${debug ? 'on' : 'off'}`, () => {
    afterEach(() => setDebugForTesting(true));

    it('runExclusive on a free lock takes it at once and runs fn after the caller continues', async () => {
      setDebugForTesting(debug);
      const lock = new OrderedMutex('commit');
      const order: string[] = [];
      const done = lock.runExclusive(() => order.push('fn'));
      order.push('caller');
      expect(lock.isLocked()).toBe(true);
      expect(lock.tryRunExclusiveSync(() => order.push('barged'), undefined)).toBe(false);
      await done;
      expect(order).toEqual(['caller', 'fn']);
      expect(lock.isLocked()).toBe(false);
    });

    it('hands the lock to waiters in FIFO order; the sync fast path never barges while any wait', async () => {
      setDebugForTesting(debug);
      const lock = new OrderedMutex('commit');
      const order: number[] = [];
      const runs: Array<Promise<unknown>> = [];
      for (let index = 0; index < 5; index++) {
        runs.push(lock.runExclusive(async () => {
          await Promise.resolve();
          order.push(index);
        }));
      }
      // From outside the holders, between every microtask until the last one ran: never free.
      let barged = 0;
      while (order.filter((entry) => entry >= 0).length < 5) {
        if (lock.tryRunExclusiveSync(() => order.push(-1), undefined)) barged += 1;
        await Promise.resolve();
      }
      expect(barged).toBe(0);
      await Promise.all(runs);
      expect(order).toEqual([0, 1, 2, 3, 4]);
      expect(lock.isLocked()).toBe(false);
      expect(lock.stats().acquisitions).toBe(5);
    });

    it('tryRunExclusiveSync passes its argument, releases after a throw, and a rejected fn releases too', async () => {
      setDebugForTesting(debug);
      const lock = new OrderedMutex('commit');
      const seen: number[] = [];
      expect(lock.tryRunExclusiveSync((value: number) => seen.push(value), 7)).toBe(true);
      expect(seen).toEqual([7]);
      expect(() => lock.tryRunExclusiveSync(() => {
        throw new Error('boom');
      }, 0)).toThrow('boom');
      expect(lock.isLocked()).toBe(false);
      await expect(lock.runExclusive(() => Promise.reject(new Error('rejected')))).rejects.toThrow('rejected');
      expect(lock.isLocked()).toBe(false);
      const lease = await lock.acquire();
      expect(lock.isLocked()).toBe(true);
      lease.release();
      expect(lock.isLocked()).toBe(false);
    });
  });
}
