/**
 * close() while acquires wait for a held lease (waitMs): they end with
 * StoreClosedError when the store closes. Before, a waiting acquire slept out its
 * whole waitMs (up to 2^31 - 1 ms, 24.8 days) after close() had resolved, and its
 * timer kept the process alive meanwhile (probe: close took 35 ms, the acquire
 * rejected 8 s later, at its waitMs). No timing: "still waiting" is checked after
 * event-loop turns, and a wait left over is aborted through its signal at the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreClosedError } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { settled } from './helpers.js';

const WAIT_MS_MAX = 2 ** 31 - 1;
const leftOver: AbortController[] = [];

afterEach(() => {
  for (const controller of leftOver.splice(0)) controller.abort();
});

const turns = async (count: number): Promise<void> => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('close() ends waiting acquires', () => {
  it('acquires waiting on two held leases reject with StoreClosedError once close() resolved', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(5) });
    await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
    await store.leases.acquire('jobs/b', { owner: 'holder', ttlMs: 600_000 });
    const waits = ['jobs/a', 'jobs/a', 'jobs/b'].map((name, index) => {
      const controller = new AbortController();
      leftOver.push(controller);
      const acquire = store.leases.acquire(name, { owner: `waiter-${index}`, ttlMs: 1000, waitMs: WAIT_MS_MAX, signal: controller.signal });
      return { acquire, state: settled(acquire) };
    });
    await turns(5);
    expect(waits.map((wait) => wait.state.done), 'they wait for the holder').toEqual([false, false, false]);
    expect(store.leases.stats().waitingAcquires).toBe(3);

    await store.close();
    await turns(5);
    expect(waits.map((wait) => wait.state.done), 'settled once the store closed').toEqual([true, true, true]);
    for (const wait of waits) await expect(wait.acquire).rejects.toBeInstanceOf(StoreClosedError);
  });
});
