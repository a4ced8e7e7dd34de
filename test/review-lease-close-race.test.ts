/**
 * close() while an acquire with waitMs is between its attempt and its wait: the attempt
 * (a store transaction reading the lease record) found the lease held, and the acquire
 * goes on to wait for it. close() wakes the acquires waiting at that moment (057725e),
 * but one that enqueued after that was never woken: it slept out its whole waitMs (up
 * to 24.8 days, its timer keeping the process alive) after close() resolved. close()
 * is called after every count of microtask steps from the acquire's start, so it lands
 * in that window for some of them. No timing: "still pending" is checked after
 * event-loop turns; a wait left over is aborted through its signal at the end.
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

describe('close() racing an acquire about to wait', () => {
  it('every acquire ends once close() resolved, wherever close() lands in its attempt', async () => {
    const pending: number[] = [];
    for (let steps = 0; steps < 60; steps++) {
      const store = await openStore(`/db${steps}`, { fileSystem: new FaultFileSystem(steps) });
      await store.leases.acquire('jobs/a', { owner: 'holder', ttlMs: 600_000 });
      const controller = new AbortController();
      leftOver.push(controller);
      const acquire = store.leases.acquire('jobs/a', { owner: 'waiter', ttlMs: 1000, waitMs: WAIT_MS_MAX, signal: controller.signal });
      const state = settled(acquire);
      acquire.catch(() => undefined);
      for (let step = 0; step < steps; step++) await Promise.resolve();
      await store.close();
      await turns(5);
      if (!state.done) pending.push(steps);
      else await expect(acquire).rejects.toBeInstanceOf(StoreClosedError);
    }
    expect(pending, 'microtask steps after which the acquire was still waiting').toEqual([]);
  });
});
