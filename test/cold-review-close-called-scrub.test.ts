/**
 * close() during a paced store.scrub() call. A background pass is aborted by close()
 * (README, Self-repair) and a compaction cancelled (README, Compaction: close() never
 * waits for a long merge), but a called scrub held store.lifecycle for its whole pass, so
 * close() waited for it: store.scrub({ bytesPerSecond }) of a large store (README's own
 * example paces at 50 MiB/s) kept close() pending for as long as the pass took, and a
 * process shutting down on SIGTERM hung there. Now close() aborts a called scrub as it
 * aborts a background pass: the call resolves with `aborted: true` (as for its own
 * signal), nothing is left half-written (a step ends before the abort is seen), and the
 * store closes. The call's own signal still works beside it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories } from './helpers.js';
import { storeWithWarmRun } from './store-with-warm-run.js';

afterEach(() => removeTemporaryDirectories());

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
const value = (index: number) => ({ index, text: 'y'.repeat(index % 50) });

/** Settles with `promise`, or 'pending' if it has not within `ms` (a hang guard only: the fix settles it at once). */
const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms).unref())]);

describe('close() during a called scrub', () => {
  it('aborts the pass: the call resolves aborted, close() returns, the store reopens and reads exact', async () => {
    const { directory } = await storeWithWarmRun(2000, key, value, 600);
    const store = await openStore(directory);
    // 1 byte per second: only an abort ends this pass.
    const scrubbing = store.scrub({ bytesPerSecond: 1 });
    await vi.waitFor(() => expect(store.stats().storage.scrub.passesStarted).toBe(1), { timeout: 10_000, interval: 5 });
    const closed = within(store.close(), 10_000);
    expect(await within(scrubbing, 10_000)).toMatchObject({ aborted: true });
    expect(await closed).toBeUndefined();
    expect(store.stats().storage.scrub).toMatchObject({ passes: 1, abortedPasses: 1 });

    const reopened = await openStore(directory);
    for (let index = 0; index < 2000; index += 37) expect(await reopened.get(key(index))).toEqual(value(index));
    const report = await reopened.scrub();
    expect(report).toMatchObject({ aborted: false, unrecoverable: [], repaired: [], damaged: [] });
    await reopened.close();
  }, 60_000);

  it("the call's own signal still aborts it while the store stays open", async () => {
    const { directory } = await storeWithWarmRun(2000, key, value, 600);
    const store = await openStore(directory);
    const controller = new AbortController();
    const scrubbing = store.scrub({ bytesPerSecond: 1, signal: controller.signal });
    await vi.waitFor(() => expect(store.stats().storage.scrub.passesStarted).toBe(1), { timeout: 10_000, interval: 5 });
    controller.abort();
    expect(await within(scrubbing, 10_000)).toMatchObject({ aborted: true });
    expect(await store.get(key(5))).toEqual(value(5));
    expect(await store.scrub()).toMatchObject({ aborted: false, unrecoverable: [] });
    await store.close();
  }, 60_000);
});
