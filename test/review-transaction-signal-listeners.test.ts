/**
 * transaction({ signal }) with one signal shared by many transactions (a server's
 * shutdown signal, a request's signal passed to each of its transactions). Since
 * c8f5544 each asynchronous attempt added its own 'abort' listener while its body ran,
 * removed only when the body settled: 11 transactions at once on one signal made Node
 * print "MaxListenersExceededWarning: Possible EventTarget memory leak detected", and a
 * body that never settled, ended by close() or its lifetime, left its listener (and,
 * through it, its attempt) on the signal for as long as the signal lived.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { gate, memoryStore, settle, settleUntil } from './transaction-support.js';

const warnings: Error[] = [];
const onWarning = (warning: Error): void => { warnings.push(warning); };

afterEach(() => {
  process.off('warning', onWarning);
  warnings.length = 0;
});

describe('transactions sharing one signal', () => {
  it('20 bodies running at once on one signal: no listener per attempt, no leak warning', async () => {
    process.on('warning', onWarning);
    const store = await memoryStore();
    const controller = new AbortController();
    const resume = gate();
    let started = 0;
    const all = Array.from({ length: 20 }, (_, index) => store.transaction(async (tx) => {
      started++;
      await resume.promise;
      tx.put(`k${index}`, index);
    }, { signal: controller.signal }));
    await settleUntil(() => started === 20);
    expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
    resume.open();
    await Promise.all(all);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
    expect(await store.get('k19')).toBe(19);
    await store.close();
  });

  it('bodies that never settle, ended by close(), leave no listener behind on the signal', async () => {
    const store = await memoryStore();
    const controller = new AbortController();
    let started = 0;
    const stuck = Array.from({ length: 5 }, () => store.transaction(async () => {
      started++;
      await new Promise(() => {});
    }, { signal: controller.signal }).catch((error: unknown) => error));
    await settleUntil(() => started === 5);
    await store.close();
    await Promise.all(stuck);
    await settle();
    expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
  });

  it('an abort still reaches every body running under the shared signal, and a later transaction on it', async () => {
    const store = await memoryStore();
    const controller = new AbortController();
    let started = 0;
    const stuck = Array.from({ length: 3 }, () => store.transaction(async () => {
      started++;
      await new Promise(() => {});
    }, { signal: controller.signal }).then(() => 'resolved', (error: unknown) => error));
    await settleUntil(() => started === 3);
    const reason = new Error('shutdown');
    controller.abort(reason);
    expect(await Promise.all(stuck)).toEqual([reason, reason, reason]);
    await expect(store.transaction(async () => 1, { signal: controller.signal })).rejects.toBe(reason);
    await store.close();
  });
});
