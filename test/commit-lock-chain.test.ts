/**
 * The uncontended runExclusive the commit path takes once per group (wal.writer) is a
 * promise chain with handlers made once per mutex, not an async function
 * (src/lock/ordered-mutex.ts). These hold it, with debug mode off (the only mode
 * that takes that path), to what the async form guaranteed: fn runs in a later
 * microtask, its value or error (thrown or rejected) reaches the caller, the lock is
 * released before the caller resumes, and a waiter queued meanwhile is served next.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OrderedMutex } from '../src/lock/ordered-mutex.js';
import { setDebugForTesting } from '../src/util/debug.js';

describe('OrderedMutex#runExclusive on a free lock, debug mode off', () => {
  afterEach(() => setDebugForTesting(true));

  it("passes fn's value on and is released when the caller resumes", async () => {
    setDebugForTesting(false);
    const lock = new OrderedMutex('wal.writer');
    const value = await lock.runExclusive(() => 41 + 1);
    expect(value).toBe(42);
    expect(lock.isLocked()).toBe(false);
    expect(await lock.runExclusive(async () => 'later')).toBe('later');
    expect(lock.isLocked()).toBe(false);
  });

  it('rejects with the error fn throws synchronously, and releases', async () => {
    setDebugForTesting(false);
    const lock = new OrderedMutex('wal.writer');
    const thrown = new Error('thrown in fn');
    const outcome = lock.runExclusive(() => {
      throw thrown;
    });
    expect(lock.isLocked()).toBe(true);
    await expect(outcome).rejects.toBe(thrown);
    expect(lock.isLocked()).toBe(false);
  });

  it('serves a waiter queued while fn runs next, in order, and frees the lock after it', async () => {
    setDebugForTesting(false);
    const lock = new OrderedMutex('wal.writer');
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = lock.runExclusive(() => new Promise<void>((resolve) => {
      order.push('first');
      releaseFirst = resolve;
    }));
    await Promise.resolve();
    const second = lock.runExclusive(() => {
      order.push('second');
    });
    await Promise.resolve();
    expect(order).toEqual(['first']);
    releaseFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(lock.isLocked()).toBe(false);
  });
});
