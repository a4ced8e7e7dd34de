/**
 * A closed store leaves nothing in the process that keeps it reachable: stores opened
 * and closed one after another (a process that opens a store per tenant, per job or
 * per test) are collected with their memtables and caches, whatever they ran.
 *
 * Debug mode (every test run) records where each lock was taken; a timer set inside a
 * critical section keeps that record (its async context), and the record's stack
 * keeps the objects on it. The transactions' lifetime timer (one per store, armed at
 * a transaction's start, transactionLifetimeMs ahead) was left armed at close: a lease
 * operation (a transaction under lease.operations) kept the closed store reachable
 * through it until the timer fired, 60 s later by default and up to an hour.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { debugEnabled } from '../src/util/debug.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

afterEach(() => removeTemporaryDirectories());

const STORES = 5;

/** What each store runs before its close. */
const WORKLOADS: Record<string, (store: Store) => Promise<void>> = {
  'a lease read': async (store) => {
    expect(await store.leases.get('jobs/nightly')).toBeUndefined();
  },
  'a lease acquired, renewed and released': async (store) => {
    const lease = await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 600_000 });
    await store.leases.renew('jobs/nightly', { owner: 'worker-7', token: lease.token });
    await store.leases.release('jobs/nightly', { owner: 'worker-7', token: lease.token });
  },
  'a lease still held at close': async (store) => {
    await store.leases.acquire('jobs/nightly', { owner: 'worker-7', ttlMs: 600_000 });
  },
  'a transaction': async (store) => {
    await store.transaction(async (tx) => {
      tx.put('counter', ((await tx.get('counter')) as number | undefined ?? 0) + 1);
    });
  },
};

/**
 * Opens a store, runs `workload`, closes it; answers a weak reference to it. A function
 * of its own: a suspended async function's frame keeps its locals (the last store).
 */
async function openRunClose(workload: (store: Store) => Promise<void>): Promise<WeakRef<Store>> {
  const store = await openStore(temporaryDirectory(), { memoryBudgetBytes: 1024 * 1024 });
  await store.put('payload', 'x'.repeat(10_000));
  await workload(store);
  await store.close();
  return new WeakRef(store);
}

/** Opens, runs and closes STORES stores; answers how many are still reachable after collections. */
async function storesLeftAfterClose(workload: (store: Store) => Promise<void>): Promise<number> {
  const closed: WeakRef<Store>[] = [];
  for (let index = 0; index < STORES; index++) closed.push(await openRunClose(workload));
  for (let round = 0; round < 6; round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return closed.filter((reference) => reference.deref() !== undefined).length;
}

describe('a closed store is collected', () => {
  it('the test run is in debug mode (where lock records are kept)', () => {
    expect(debugEnabled()).toBe(true);
  });

  for (const [name, workload] of Object.entries(WORKLOADS)) {
    it(`after ${name}`, async () => {
      expect(await storesLeftAfterClose(workload), `closed stores still reachable of ${STORES}`).toBe(0);
    }, 30_000);
  }
});
